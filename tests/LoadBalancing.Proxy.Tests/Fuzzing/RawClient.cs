using System.Net;
using System.Net.Sockets;

namespace LoadBalancing.Proxy.Tests.Fuzzing;

/// <summary>What one client connection saw.</summary>
internal sealed class ClientResult
{
    public List<ClientResponse> Responses { get; } = [];

    /// <summary>The proxy closed (or reset) the connection.</summary>
    public bool Closed { get; set; }

    public bool Reset { get; set; }

    /// <summary>No byte arrived within the idle timeout while more was expected.</summary>
    public bool TimedOut { get; set; }

    /// <summary>Bytes after a <c>101</c> head.</summary>
    public byte[] AfterUpgrade { get; set; } = [];

    /// <summary>Bytes that did not parse as a response (truncated or malformed), with why.</summary>
    public string? Unparsed { get; set; }

    public byte[] Received { get; set; } = [];
}

/// <summary>
/// Drives one raw client connection to the proxy: sends bytes, reads responses until it has what it expects
/// and the connection state it must check, or until the proxy closes or goes quiet for the idle timeout.
/// </summary>
internal static class RawClient
{
    /// <param name="needsClose">Given the responses so far, whether the connection must now be read to its end.</param>
    public static async Task<ClientResult> ExchangeAsync(
        IPEndPoint proxy, IReadOnlyList<byte[]> sends, int expected, Func<IReadOnlyList<ClientResponse>, bool> needsClose, TimeSpan idle, CancellationToken cancellationToken)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(proxy, cancellationToken);
        foreach (var piece in sends)
        {
            try
            {
                await socket.SendAsync(piece, SocketFlags.None, cancellationToken);
            }
            catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionReset or SocketError.Shutdown or SocketError.ConnectionAborted)
            {
                // The proxy refused an earlier piece and closed before the rest was sent (broken pipe or reset):
                // a legitimate end, judged by what was answered before it.
                break;
            }
        }

        return await ReadAsync(socket, expected, needsClose, idle, cancellationToken);
    }

    public static async Task<ClientResult> ReadAsync(Socket socket, int expected, Func<IReadOnlyList<ClientResponse>, bool> needsClose, TimeSpan idle, CancellationToken cancellationToken)
    {
        var result = new ClientResult();
        var received = new List<byte>();
        var parsed = 0;
        var upgraded = false;
        var buffer = new byte[16 * 1024];
        while (true)
        {
            var done = upgraded ? false : result.Responses.Count >= expected && !needsClose(result.Responses);
            if (done)
            {
                break;
            }

            int read;
            using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
            {
                timeout.CancelAfter(idle);
                try
                {
                    read = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    result.TimedOut = true;
                    break;
                }
                catch (SocketException)
                {
                    (result.Reset, read) = (true, 0);
                }
            }

            if (read == 0)
            {
                result.Closed = true;
            }

            received.AddRange(buffer.AsSpan(0, read));
            while (!upgraded)
            {
                var span = received.ToArray().AsSpan(parsed);
                var status = ClientResponseReader.TryRead(span, result.Closed, out var response, out var consumed, out var error);
                if (status == StrictParse.Incomplete || (status == StrictParse.Error && span.IsEmpty))
                {
                    break;
                }

                if (status == StrictParse.Error)
                {
                    result.Unparsed = error;
                    parsed = received.Count;
                    break;
                }

                parsed += consumed;
                if (response!.Status is >= 100 and < 200 and not 101)
                {
                    // Interim responses are allowed through; they answer no request.
                    continue;
                }

                result.Responses.Add(response!);
                upgraded = response!.Status == 101;
            }

            if (upgraded)
            {
                result.AfterUpgrade = received.Skip(parsed).ToArray();
            }

            if (result.Closed)
            {
                break;
            }
        }

        result.Received = [.. received];
        return result;
    }
}
