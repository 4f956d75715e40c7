using System.Buffers;
using System.IO.Pipelines;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using LoadBalancing.Proxy.Transport.EventLoop;

namespace LoadBalancing.Proxy.Upstream;

/// <summary>
/// A TCP connection to an upstream with a pipe each way, and the two loops that move bytes between the
/// pipes and the socket. Our own rather than Kestrel's socket transport because that one receives one
/// 4 KiB block per call (520 receives per 1 MiB response, measured), where this one receives up to a
/// whole 28 KiB block. With TLS the loops read and write an <see cref="SslStream"/> over the socket instead; the
/// plaintext path pays one null check per receive and per send for it.
/// </summary>
internal sealed class UpstreamSocket : IUpstreamSocket
{
    // Stop reading past 128 KiB unread; the kernel's socket buffer holds the rest of a large body until the client
    // takes it. Kestrel's transport stopped at 256 KiB, and with 1 MiB responses at c = 32 that kept more blocks
    // in use than the pool retains (PinnedBlockPool's 256), so each burst dropped blocks and allocated new ones on
    // the pinned heap: the NativeAOT host's peak RSS 81-112 MiB against 66-70 at 128 KiB, with the same MB per
    // CPU-second (docs/benchmarks.md, memory). Stop the forwarder writing past 64 KiB unsent.
    private const int MaxUnread = 128 * 1024;
    private const int MaxUnsent = 64 * 1024;

    private readonly Socket _socket;
    private readonly SslStream? _tls;
    private readonly Pipe _input;
    private readonly Pipe _output;
    private readonly Task _receiving;
    private readonly Task _sending;
    private int _disposed;
    private bool _receivedOverTls;
    // Both loops may set it, so each only ever sets it: a "|=" is a read and a write, and the send loop writing back the
    // false it read would undo the receive loop's true between them (a reset then passed a body read until close on as whole).
    private volatile bool _resetByPeer;

    public UpstreamSocket(Socket socket, MemoryPool<byte> pool, SslStream? tls = null)
    {
        _socket = socket;
        _tls = tls;

        // The forwarder continues on the thread pool once a response arrives (never on the socket
        // engine's thread); the receive loop itself continues inline.
        _input = new Pipe(new PipeOptions(pool, PipeScheduler.ThreadPool, PipeScheduler.Inline, MaxUnread, MaxUnread / 2, pool.MaxBufferSize, useSynchronizationContext: false));

        // The send loop wakes on the thread pool. Sending inline from the forwarder's flush saved a thread
        // hop but cost more CPU per request (ProxyAllocations, median of four runs each: about 12,600
        // against 14,400 requests per CPU-second), so it was not kept.
        _output = new Pipe(new PipeOptions(pool, PipeScheduler.ThreadPool, PipeScheduler.Inline, MaxUnsent, MaxUnsent / 2, pool.MaxBufferSize, useSynchronizationContext: false));
        _receiving = ReceiveLoopAsync();
        _sending = SendLoopAsync();
    }

    /// <summary>Whether this is a TLS connection on which the upstream never sent application data.</summary>
    public bool ClosedBeforeAnyTlsData => _tls is not null && !_receivedOverTls;

    /// <summary>Bytes from the upstream; completes when it closes (with the socket error, if any).</summary>
    public PipeReader Input => _input.Reader;

    /// <inheritdoc/>
    public bool ResetByPeer => _resetByPeer;

    /// <summary>Bytes for the upstream, sent by the send loop as each flush arrives.</summary>
    public PipeWriter Output => _output.Writer;

    private async Task ReceiveLoopAsync()
    {
        var writer = _input.Writer;
        Exception? error = null;
        try
        {
            while (true)
            {
                // Wait for data before taking a block, so an idle pooled connection holds no buffer (SslStream passes
                // a zero-byte read down to the socket when it has nothing decrypted).
                int received;
                if (_tls is null)
                {
                    await _socket.ReceiveAsync(Memory<byte>.Empty, SocketFlags.None).ConfigureAwait(false);
                    received = await _socket.ReceiveAsync(writer.GetMemory(), SocketFlags.None).ConfigureAwait(false);
                }
                else
                {
                    await _tls.ReadAsync(Memory<byte>.Empty).ConfigureAwait(false);
                    received = await _tls.ReadAsync(writer.GetMemory()).ConfigureAwait(false);
                    _receivedOverTls |= received > 0;
                }

                if (received == 0)
                {
                    // The upstream closed its side, or reset the connection and the send loop was told first (the
                    // socket reports a reset once): the connection's state tells them apart.
                    if (IsTcpClosed())
                    {
                        _resetByPeer = true;
                    }

                    break;
                }

                writer.Advance(received);
                var flush = await writer.FlushAsync().ConfigureAwait(false);
                if (flush.IsCompleted || flush.IsCanceled)
                {
                    break; // nobody reads any more
                }
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or IOException or AuthenticationException)
        {
            // Reset by the upstream (SslStream says so with an IOException, or an AuthenticationException for a TLS
            // alert, passed on as an IOException so the forwarder's handlers see a reset); when we closed it ourselves,
            // there is no error to report. A plain reset ends the input as a FIN does, so that what arrived before it
            // is still read (ResetByPeer).
            error = Volatile.Read(ref _disposed) != 0 ? null : e is AuthenticationException ? new IOException(e.Message, e) : e;
            if (error is not null && IsPeerReset(error))
            {
                _resetByPeer = true;
                error = null;
            }
        }

        await writer.CompleteAsync(error).ConfigureAwait(false);
    }

    private async Task SendLoopAsync()
    {
        var reader = _output.Reader;
        Exception? error = null;
        try
        {
            while (true)
            {
                var result = await reader.ReadAsync().ConfigureAwait(false);
                var buffer = result.Buffer;
                foreach (var segment in buffer)
                {
                    if (_tls is not null)
                    {
                        await _tls.WriteAsync(segment).ConfigureAwait(false);
                        continue;
                    }

                    var remaining = segment;
                    while (!remaining.IsEmpty)
                    {
                        var sent = await _socket.SendAsync(remaining, SocketFlags.None).ConfigureAwait(false);
                        remaining = remaining[sent..];
                    }
                }

                reader.AdvanceTo(buffer.End);
                if (result.IsCompleted || result.IsCanceled)
                {
                    // The forwarder finished sending (a tunnel whose client is done): pass the FIN on,
                    // unless this is the close.
                    if (Volatile.Read(ref _disposed) == 0)
                    {
                        if (_tls is not null)
                        {
                            await _tls.ShutdownAsync().ConfigureAwait(false); // close_notify first, as TLS wants
                        }

                        _socket.Shutdown(SocketShutdown.Send);
                    }

                    break;
                }
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or IOException or AuthenticationException)
        {
            // The forwarder's next flush sees the error, unless the failure is our own close. A reset seen here may be
            // the one the receive loop would have reported (the socket reports it once).
            error = Volatile.Read(ref _disposed) != 0 ? null : e is AuthenticationException ? new IOException(e.Message, e) : e;
            if (error is not null && IsPeerReset(error))
            {
                _resetByPeer = true;
            }
        }

        await reader.CompleteAsync(error).ConfigureAwait(false);
    }

    private bool IsTcpClosed()
    {
        if (!OperatingSystem.IsLinux())
        {
            return false;
        }

        // struct tcp_info begins with the state byte (a FIN leaves CLOSE_WAIT); the kernel copies as much of it as asked for.
        Span<byte> info = stackalloc byte[8];
        try
        {
            return _socket.GetRawSocketOption(EpollNative.IpProtoTcp, EpollNative.TcpInfo, info) >= 1 && info[0] == EpollNative.TcpStateClosed;
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            return false;
        }
    }

    private static bool IsPeerReset(Exception e) =>
        (e as SocketException ?? e.InnerException as SocketException)?.SocketErrorCode is SocketError.ConnectionReset;

    /// <summary>Closes the socket and waits for both loops to end.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _input.Reader.CompleteAsync().ConfigureAwait(false);
        await _output.Writer.CompleteAsync().ConfigureAwait(false);
        try
        {
            // A FIN, and the waiting receive returns. Disposing a socket with a receive still pending
            // would close it with a reset instead.
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (SocketException)
        {
            // Already reset or not connected: nothing to say goodbye to.
        }

        await _receiving.ConfigureAwait(false);
        await _sending.ConfigureAwait(false);
        if (_tls is not null)
        {
            await _tls.DisposeAsync().ConfigureAwait(false);
        }

        _socket.Dispose();
    }
}
