using System.Net;
using System.Net.Sockets;
using System.Text;
using LoadBalancing.Proxy.Tests.Support;

namespace LoadBalancing.Proxy.Tests.Forwarding;

/// <summary>
/// An upstream that resets the connection right after its answer: what arrived before the reset is the answer when its
/// framing says it is whole, and a cut-short body when the body runs until the connection ends.
/// </summary>
public sealed class UpstreamResetTests
{
    /// <summary>Reads one request head, writes <c>answer</c>, then closes with a reset alone (SO_LINGER 0), body unread.</summary>
    private sealed class ResettingUpstream : IAsyncDisposable
    {
        private readonly TcpListener _listener;
        private readonly Task _serving;

        public ResettingUpstream(string answer)
        {
            _listener = new TcpListener(IPAddress.Parse("127.0.0.2"), 0);
            _listener.Start();
            Address = $"127.0.0.2:{((IPEndPoint)_listener.LocalEndpoint).Port}";
            _serving = ServeAsync(Encoding.Latin1.GetBytes(answer));
        }

        public string Address { get; }

        private async Task ServeAsync(byte[] answer)
        {
            // The socket itself, not a NetworkStream: disposing one shuts the socket down first, so a FIN (an end of
            // the body, and a clean one) would go out before the reset.
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            using var socket = await _listener.AcceptSocketAsync(cts.Token);
            var received = new StringBuilder();
            var buffer = new byte[4096];
            while (!received.ToString().Contains("\r\n\r\n", StringComparison.Ordinal))
            {
                var read = await socket.ReceiveAsync(buffer, SocketFlags.None, cts.Token);
                if (read == 0)
                {
                    return;
                }

                received.Append(Encoding.Latin1.GetString(buffer, 0, read));
            }

            for (var sent = 0; sent < answer.Length;)
            {
                sent += await socket.SendAsync(answer.AsMemory(sent), SocketFlags.None, cts.Token);
            }

            socket.LingerState = new LingerOption(true, 0);
        }

        public async ValueTask DisposeAsync()
        {
            _listener.Stop();
            try
            {
                await _serving;
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                // No request came (the test failed earlier).
            }
        }
    }

    private static string Post(int bodyBytes) =>
        $"POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: {bodyBytes}\r\nConnection: close\r\n\r\n" + new string('b', bodyBytes);

    [Fact]
    public async Task AnswerWhole_ThenResetWithTheBodyUnread_TheAnswerIsForwarded()
    {
        await using var upstream = new ResettingUpstream("HTTP/1.1 413 Payload Too Large\r\nContent-Length: 9\r\n\r\ntoo large");
        await using var proxy = await TestProxy.StartAsync(TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, upstream.Address));

        // 256 KiB: the proxy is still sending the body when the answer and the reset arrive.
        var answer = await proxy.SendRawAsync(Post(256 * 1024));

        Assert.StartsWith("HTTP/1.1 413", answer, StringComparison.Ordinal);
        Assert.EndsWith("\r\n\r\ntoo large", answer, StringComparison.Ordinal);
    }

    [Fact]
    public async Task BodyUntilClose_EndedByAReset_IsNotPassedOnAsWhole()
    {
        // No Content-Length and not chunked: the body runs until the connection ends, and a reset is no end.
        await using var upstream = new ResettingUpstream("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\npartial");
        await using var proxy = await TestProxy.StartAsync(TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, upstream.Address));

        var answer = await proxy.SendRawAsync(Post(256 * 1024));

        // Passed on as whole, the client would get a 200 with a complete body: a chunked body ended by its last chunk,
        // or a body until close ended by a clean close after the whole answer. Cut short, it gets the proxy's 502 or a
        // chunked body without its last chunk.
        Assert.False(answer.StartsWith("HTTP/1.1 200", StringComparison.Ordinal) && answer.EndsWith("0\r\n\r\n", StringComparison.Ordinal), answer);
        Assert.False(answer.StartsWith("HTTP/1.1 200", StringComparison.Ordinal) && !answer.Contains("chunked", StringComparison.OrdinalIgnoreCase), answer);
    }
}
