using System.Net;
using System.Net.Sockets;

namespace LoadBalancing.Proxy.Tests.Fuzzing;

/// <summary>
/// A raw TCP server on a loopback address and a port the OS picks: accepts until disposed and hands each
/// connection to <c>serve</c>, which owns (and disposes) the socket. The fuzzers' upstreams differ only in serving.
/// </summary>
internal sealed class SocketServer : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly Func<Socket, CancellationToken, Task> _serve;
    private readonly Task _accepting;

    public SocketServer(string ip, Func<Socket, CancellationToken, Task> serve)
    {
        _serve = serve;
        _listener = new TcpListener(IPAddress.Parse(ip), 0);
        _listener.Start();
        Address = $"{ip}:{((IPEndPoint)_listener.LocalEndpoint).Port}";
        _accepting = AcceptAsync();
    }

    /// <summary><c>ip:port</c>.</summary>
    public string Address { get; }

    private async Task AcceptAsync()
    {
        try
        {
            while (true)
            {
                var socket = await _listener.AcceptSocketAsync(_stop.Token);
                _ = _serve(socket, _stop.Token);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
        {
            // Stopping the listener ends the accept loop.
        }
        catch (InvalidOperationException) when (_stop.IsCancellationRequested)
        {
            // The listener stopped between an accept and the next one: TcpListener refuses to accept once stopped.
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        await _accepting;
        _stop.Dispose();
    }
}
