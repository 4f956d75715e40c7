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
    /// each of <paramref name="windows"/> measured windows. With <paramref name="commands"/>, the loops pause after the
    /// warm-up instead, and each line read from it (a number of seconds) runs one window and pauses again: the harness
    /// measures other processes on the same core between windows (bench/load/floor_paired.py).
    /// </summary>
    public static async Task RunAsync(TextWriter output, IPEndPoint server, int connections, TimeSpan warmUp, TimeSpan measure, int windows,
        TextReader? commands = null)
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
        var gate = new Gate();
        using var stop = new CancellationTokenSource();
        var loops = sockets.Select(s => Task.Run(() => LoopAsync(s, () => Interlocked.Increment(ref requests), gate, stop.Token))).ToArray();

        await Task.Delay(warmUp).ConfigureAwait(false);
        if (commands is null)
        {
            for (var window = 0; window < windows; window++)
            {
                await MeasureAsync(output, measure, () => Interlocked.Read(ref requests)).ConfigureAwait(false);
            }
        }
        else
        {
            gate.Close();
            output.WriteLine("ready");
            output.Flush();
            while (await commands.ReadLineAsync().ConfigureAwait(false) is { } line && double.TryParse(line, System.Globalization.CultureInfo.InvariantCulture, out var seconds))
            {
                gate.Open();
                await MeasureAsync(output, TimeSpan.FromSeconds(seconds), () => Interlocked.Read(ref requests)).ConfigureAwait(false);
                gate.Close();
                output.Flush();
            }
        }

        gate.Open();
        await stop.CancelAsync().ConfigureAwait(false);
        await Task.WhenAll(loops).ConfigureAwait(false);
        foreach (var socket in sockets)
        {
            await socket.DisposeAsync().ConfigureAwait(false);
        }
    }

    private static async Task MeasureAsync(TextWriter output, TimeSpan measure, Func<long> requests)
    {
        var cpu0 = Environment.CpuUsage.TotalTime;
        var requests0 = requests();
        var clock = Stopwatch.StartNew();
        await Task.Delay(measure).ConfigureAwait(false);
        var cpu = (Environment.CpuUsage.TotalTime - cpu0).TotalSeconds;
        var done = requests() - requests0;

        // One line per window, which the harness parses.
        output.WriteLine(FormattableString.Invariant($"requests {done} seconds {clock.Elapsed.TotalSeconds:F3} cpu_seconds {cpu:F3}"));
    }

    /// <summary>Holds the request loops between windows: each finishes its request in flight, then waits.</summary>
    private sealed class Gate
    {
        private volatile TaskCompletionSource? _closed;

        public void Close() => _closed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Open() => Interlocked.Exchange(ref _closed, null)?.TrySetResult();

        public Task WaitAsync() => _closed?.Task ?? Task.CompletedTask;
    }

    private static async Task LoopAsync(UpstreamSocket socket, Action counted, Gate gate, CancellationToken stop)
    {
        try
        {
            while (!stop.IsCancellationRequested)
            {
                await gate.WaitAsync().ConfigureAwait(false);
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
