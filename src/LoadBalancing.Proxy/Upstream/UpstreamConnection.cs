using System.IO.Pipelines;
using Microsoft.AspNetCore.Connections;

namespace LoadBalancing.Proxy.Upstream;

/// <summary>One keep-alive HTTP/1.1 connection to an endpoint, read and written through pipes.</summary>
internal sealed class UpstreamConnection : IAsyncDisposable
{
    private readonly ConnectionContext _connection;
    private int _disposed;

    public UpstreamConnection(ConnectionContext connection, UpstreamPool pool)
    {
        _connection = connection;
        Pool = pool;
    }

    public UpstreamPool Pool { get; }

    public PipeReader Input => _connection.Transport.Input;

    public PipeWriter Output => _connection.Transport.Output;

    /// <summary>Header strings of the previous response on this connection, reused when the bytes repeat.</summary>
    public HeaderStringCache HeaderCache { get; } = new();

    /// <summary>When the connection went back into the pool (<see cref="TimeProvider.GetTimestamp"/>).</summary>
    public long IdleSince { get; set; }

    /// <summary>
    /// Whether a pooled connection can carry another request: the upstream has neither closed it nor sent
    /// anything unasked. The socket transport reads in the background, so a FIN already shows here.
    /// </summary>
    public bool IsClean()
    {
        if (!Input.TryRead(out var result))
        {
            return true;
        }

        var clean = result.Buffer.IsEmpty && !result.IsCompleted && !result.IsCanceled;
        Input.AdvanceTo(result.Buffer.Start);
        return clean;
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        Pool.ConnectionClosed();
        try
        {
            await Input.CompleteAsync().ConfigureAwait(false);
            await Output.CompleteAsync().ConfigureAwait(false);
            _connection.Abort();
            await _connection.DisposeAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or InvalidOperationException or ConnectionAbortedException)
        {
            // Closing a broken connection may throw; it is gone either way.
        }
    }

    /// <summary>Closes the connection without waiting (for paths that cannot await).</summary>
    public void Close() => _ = DisposeAsync().AsTask();
}
