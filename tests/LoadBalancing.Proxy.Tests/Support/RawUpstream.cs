using System.Net;
using System.Net.Sockets;
using System.Text;

namespace LoadBalancing.Proxy.Tests.Support;

/// <summary>
/// A TCP server that answers every request head with fixed bytes, for upstream behaviour no real HTTP
/// server would produce (broken framing, oversized heads). Records the request heads it received, and every
/// byte, so a test can show that something never arrived.
/// </summary>
internal sealed class RawUpstream : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly Func<string, byte[]> _respond;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;
    private readonly bool _closeAfterResponse;

    public RawUpstream(Func<string, byte[]> respond, string ip = "127.0.0.1", bool closeAfterResponse = true)
    {
        _respond = respond;
        _closeAfterResponse = closeAfterResponse;
        _listener = new TcpListener(IPAddress.Parse(ip), 0);
        _listener.Start();
        Address = $"{ip}:{((IPEndPoint)_listener.LocalEndpoint).Port}";
        _accepting = AcceptAsync();
    }

    public RawUpstream(string response, string ip = "127.0.0.1", bool closeAfterResponse = true)
        : this(_ => Encoding.Latin1.GetBytes(response), ip, closeAfterResponse)
    {
    }

    public string Address { get; }

    public List<string> Heads { get; } = [];

    /// <summary>Every byte received, on any connection, in arrival order (Latin-1).</summary>
    public string Received
    {
        get
        {
            lock (_received)
            {
                return _received.ToString();
            }
        }
    }

    private readonly StringBuilder _received = new();

    private async Task AcceptAsync()
    {
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                var client = await _listener.AcceptTcpClientAsync(_stop.Token);
                _ = ServeAsync(client);
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (ObjectDisposedException)
        {
        }
        catch (SocketException) when (_stop.IsCancellationRequested)
        {
            // Stopping the listener fails the pending accept.
        }
        catch (InvalidOperationException) when (_stop.IsCancellationRequested)
        {
            // The listener stopped between an accept and the next one: TcpListener refuses to accept once stopped.
        }
    }

    private async Task ServeAsync(TcpClient client)
    {
        using var _ = client;
        var stream = client.GetStream();
        var received = new StringBuilder();
        var buffer = new byte[8192];
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                var read = await stream.ReadAsync(buffer, _stop.Token);
                if (read == 0)
                {
                    return;
                }

                var chunk = Encoding.Latin1.GetString(buffer, 0, read);
                lock (_received)
                {
                    _received.Append(chunk);
                }

                received.Append(chunk);
                var text = received.ToString();
                var end = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
                if (end < 0)
                {
                    continue;
                }

                var head = text[..end];
                lock (Heads)
                {
                    Heads.Add(head);
                }

                received.Clear().Append(text[(end + 4)..]);
                await stream.WriteAsync(_respond(head), _stop.Token);
                if (_closeAfterResponse)
                {
                    return;
                }
            }
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or SocketException)
        {
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
