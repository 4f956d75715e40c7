using System.Buffers;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using LoadBalancing.Proxy.Upstream;

namespace LoadBalancing.Benchmarks;

/// <summary>
/// The client side of the proxy's socket floor (bench/load/run.sh --floor): the proxy's own upstream connections
/// (<see cref="UpstreamSocket"/>: a socket, a pipe each way and their send and receive loops) carrying keep-alive GETs
/// to a server, each connection one request at a time, with nothing else a proxy does (no inbound side, no routing,
/// no header copying; the response head is only scanned for its end and length). What it costs per request is what
/// the proxy's upstream side costs before any proxying, as the Kestrel floor server is for its inbound side.
/// </summary>
internal static class UpstreamClientFloor
{
    private static readonly byte[] Request = Encoding.ASCII.GetBytes("GET / HTTP/1.1\r\nHost: floor\r\n\r\n");

    /// <summary>
    /// Runs <paramref name="connections"/> request loops; after <paramref name="warmUp"/>, prints the requests and CPU of
    /// each of <paramref name="windows"/> measured windows.
    /// </summary>
    public static async Task RunAsync(TextWriter output, IPEndPoint server, int connections, TimeSpan warmUp, TimeSpan measure, int windows)
    {
        var blocks = new PinnedBlockPool();
        var sockets = new UpstreamSocket[connections];
        for (var i = 0; i < connections; i++)
        {
            var socket = new Socket(server.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            await socket.ConnectAsync(server).ConfigureAwait(false);
            sockets[i] = new UpstreamSocket(socket, blocks);
        }

        long requests = 0;
        using var stop = new CancellationTokenSource();
        var loops = sockets.Select(s => Task.Run(() => LoopAsync(s, () => Interlocked.Increment(ref requests), stop.Token))).ToArray();

        await Task.Delay(warmUp).ConfigureAwait(false);
        for (var window = 0; window < windows; window++)
        {
            var cpu0 = Environment.CpuUsage.TotalTime;
            var requests0 = Interlocked.Read(ref requests);
            var clock = Stopwatch.StartNew();
            await Task.Delay(measure).ConfigureAwait(false);
            var cpu = (Environment.CpuUsage.TotalTime - cpu0).TotalSeconds;
            var done = Interlocked.Read(ref requests) - requests0;

            // One line per window, which the harness parses.
            output.WriteLine(FormattableString.Invariant($"requests {done} seconds {clock.Elapsed.TotalSeconds:F3} cpu_seconds {cpu:F3}"));
        }

        await stop.CancelAsync().ConfigureAwait(false);
        await Task.WhenAll(loops).ConfigureAwait(false);
        foreach (var socket in sockets)
        {
            await socket.DisposeAsync().ConfigureAwait(false);
        }
    }

    private static async Task LoopAsync(UpstreamSocket socket, Action counted, CancellationToken stop)
    {
        try
        {
            while (!stop.IsCancellationRequested)
            {
                socket.Output.Write(Request);
                await socket.Output.FlushAsync(stop).ConfigureAwait(false);
                while (true)
                {
                    var result = await socket.Input.ReadAsync(stop).ConfigureAwait(false);
                    if (TryReadResponse(result.Buffer, out var end))
                    {
                        socket.Input.AdvanceTo(end);
                        break;
                    }

                    socket.Input.AdvanceTo(result.Buffer.Start, result.Buffer.End);
                    if (result.IsCompleted)
                    {
                        throw new IOException("the server closed the connection");
                    }
                }

                counted();
            }
        }
        catch (OperationCanceledException)
        {
            // The measured window is over.
        }
    }

    /// <summary>Finds the end of one response: its head, then a body of its Content-Length.</summary>
    private static bool TryReadResponse(ReadOnlySequence<byte> buffer, out SequencePosition end)
    {
        end = default;
        var reader = new SequenceReader<byte>(buffer);
        if (!reader.TryReadTo(out ReadOnlySequence<byte> head, "\r\n\r\n"u8, advancePastDelimiter: true))
        {
            return false;
        }

        var length = ContentLength(head.IsSingleSegment ? head.FirstSpan : head.ToArray());
        if (reader.Remaining < length)
        {
            return false;
        }

        reader.Advance(length);
        end = reader.Position;
        return true;
    }

    private static long ContentLength(ReadOnlySpan<byte> head)
    {
        var at = head.IndexOf("\r\nContent-Length: "u8);
        if (at < 0)
        {
            return 0;
        }

        long value = 0;
        for (var i = at + 18; i < head.Length && head[i] is >= (byte)'0' and <= (byte)'9'; i++)
        {
            value = (value * 10) + (head[i] - '0');
        }

        return value;
    }
}
