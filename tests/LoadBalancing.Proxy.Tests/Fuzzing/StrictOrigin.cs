using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace LoadBalancing.Proxy.Tests.Fuzzing;

/// <summary>Something the origin could not accept, with the bytes that caused it.</summary>
internal sealed record OriginError(char Invariant, string Message, byte[] Received);

/// <summary>
/// The upstream of the request-side fuzzer: parses every byte it receives with <see cref="StrictRequestParser"/>
/// and records each request or error. Answers <c>200</c> with the target echoed, or, to any request carrying
/// <c>Upgrade</c>, <c>101</c> followed by tunnel bytes and a close, as a hostile origin would.
/// </summary>
internal sealed class StrictOrigin : IAsyncDisposable
{
    public const string TunnelBytes = "AFTER-101-TUNNEL-BYTES";

    private readonly SocketServer _server;
    private readonly ConcurrentQueue<OriginRequest> _requests = new();
    private readonly ConcurrentQueue<OriginError> _errors = new();
    private TaskCompletionSource _activity = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public StrictOrigin(string ip)
    {
        _server = new SocketServer(ip, ServeAsync);
    }

    public string Address => _server.Address;

    /// <summary>Completes the next time any byte arrives; lets a runner wait for late bytes without sleeping.</summary>
    public Task Activity => Volatile.Read(ref _activity).Task;

    public (List<OriginRequest> Requests, List<OriginError> Errors) Take()
    {
        var requests = new List<OriginRequest>();
        var errors = new List<OriginError>();
        while (_requests.TryDequeue(out var request))
        {
            requests.Add(request);
        }

        while (_errors.TryDequeue(out var error))
        {
            errors.Add(error);
        }

        return (requests, errors);
    }

    private async Task ServeAsync(Socket socket, CancellationToken stop)
    {
        using var _ = socket;
        var pending = new List<byte>();
        var buffer = new byte[16 * 1024];
        try
        {
            while (true)
            {
                var read = await socket.ReceiveAsync(buffer, SocketFlags.None, stop);
                if (read == 0)
                {
                    return;
                }

                pending.AddRange(buffer.AsSpan(0, read));
                Interlocked.Exchange(ref _activity, new(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
                while (pending.Count > 0)
                {
                    var bytes = pending.ToArray();
                    var status = StrictRequestParser.Parse(bytes, out var request, out var consumed, out var invariant, out var error);
                    if (status == StrictParse.Incomplete)
                    {
                        break;
                    }

                    if (status == StrictParse.Error)
                    {
                        _errors.Enqueue(new OriginError(invariant, error!, bytes));
                        return;
                    }

                    pending.RemoveRange(0, consumed);
                    _requests.Enqueue(request!);
                    if (request!.Values("Upgrade").Any())
                    {
                        await socket.SendAsync(Wire.Bytes($"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: {request.Values("Upgrade").First()}\r\n\r\n{TunnelBytes}"), stop);
                        return;
                    }

                    await socket.SendAsync(Wire.Bytes($"HTTP/1.1 200 OK\r\nX-Origin-Target: {request.Target}\r\nContent-Length: 2\r\n\r\nok"), stop);
                }
            }
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
            // The proxy closed or reset the connection, or the fuzzer is stopping.
        }
    }

    public ValueTask DisposeAsync() => _server.DisposeAsync();
}
