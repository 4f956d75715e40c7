// The load client of bench/load's gRPC scenario. Usage:
//   GrpcLoad --target 127.0.0.1:8080 [--callers 64] [--channels 4] [--warmup 1] [--duration 5] [--payload 13]
// Each caller makes one unary call after another on its channel (callers are spread over the channels; a channel is
// one HTTP/2 connection, its calls multiplexed on it). Calls completing during the measured window count. Prints
// "measuring" when the window opens and "stopped" when it closes (the harness reads the proxy's CPU time at those
// lines), then one JSON line. Exits by itself: a watchdog ends the process if calls hang past the window.
using System.Diagnostics;
using System.Globalization;
using Grpc.Core;
using Grpc.Net.Client;

string Arg(string name, string fallback)
{
    var i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
}

var target = Arg("--target", "127.0.0.1:8080");
var callers = int.Parse(Arg("--callers", "64"), CultureInfo.InvariantCulture);
var channelCount = int.Parse(Arg("--channels", "4"), CultureInfo.InvariantCulture);
var warmup = double.Parse(Arg("--warmup", "1"), CultureInfo.InvariantCulture);
var duration = double.Parse(Arg("--duration", "5"), CultureInfo.InvariantCulture);
var payload = new byte[int.Parse(Arg("--payload", "13"), CultureInfo.InvariantCulture)];

using var watchdog = new Timer(_ => Environment.Exit(3), null, TimeSpan.FromSeconds(warmup + duration + 30), Timeout.InfiniteTimeSpan);

var marshaller = Marshallers.Create<byte[]>(b => b, b => b);
var method = new Method<byte[], byte[]>(MethodType.Unary, "bench.Echo", "Unary", marshaller, marshaller);
var channels = new GrpcChannel[channelCount];
for (var i = 0; i < channelCount; i++)
{
    // One connection per channel, so C channels are C connections to the proxy.
    channels[i] = GrpcChannel.ForAddress($"http://{target}", new GrpcChannelOptions
    {
        HttpHandler = new SocketsHttpHandler { EnableMultipleHttp2Connections = false, PooledConnectionIdleTimeout = Timeout.InfiniteTimeSpan },
    });
}

var state = new LoadState();
var workers = new Task<CallerResult>[callers];
for (var i = 0; i < callers; i++)
{
    var invoker = channels[i % channelCount].CreateCallInvoker();
    workers[i] = Task.Run(() => CallAsync(invoker, method, payload, state));
}

await Task.Delay(TimeSpan.FromSeconds(warmup));
Volatile.Write(ref state.Phase, 1);
var window = Stopwatch.StartNew();
Console.WriteLine("measuring");
await Task.Delay(TimeSpan.FromSeconds(duration));
Volatile.Write(ref state.Phase, 2);
var elapsed = window.Elapsed.TotalSeconds;
Console.WriteLine("stopped");

var results = await Task.WhenAll(workers).WaitAsync(TimeSpan.FromSeconds(20));
var latencies = new List<long>();
long calls = 0, errors = 0;
string? firstError = null;
foreach (var r in results)
{
    calls += r.Latencies.Count;
    errors += r.Errors;
    firstError ??= r.FirstError;
    latencies.AddRange(r.Latencies);
}

latencies.Sort();
double Quantile(double q) => latencies.Count == 0 ? double.NaN : latencies[Math.Min(latencies.Count - 1, (int)(q * latencies.Count))] * 1000.0 / Stopwatch.Frequency;
var error = firstError is null ? "null" : "\"" + firstError.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "'", StringComparison.Ordinal) + "\"";
Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
    $"{{\"calls\": {calls}, \"errors\": {errors}, \"seconds\": {elapsed:F3}, \"rps\": {calls / elapsed:F1}, \"p50\": {Quantile(0.50):F3}, \"p99\": {Quantile(0.99):F3}, \"callers\": {callers}, \"channels\": {channelCount}, \"first_error\": {error}}}"));
foreach (var channel in channels)
{
    channel.Dispose();
}

return 0;

static async Task<CallerResult> CallAsync(CallInvoker invoker, Method<byte[], byte[]> method, byte[] payload, LoadState state)
{
    var result = new CallerResult();
    while (true)
    {
        var started = Stopwatch.GetTimestamp();
        var ok = true;
        try
        {
            await invoker.AsyncUnaryCall(method, null, default, payload).ResponseAsync.ConfigureAwait(false);
        }
        catch (RpcException e)
        {
            ok = false;
            result.FirstError ??= e.Status.ToString();
        }

        var phase = Volatile.Read(ref state.Phase);
        if (phase == 2)
        {
            return result;
        }

        if (phase == 1)
        {
            // Only successful calls count as calls and give latencies; failures are counted apart.
            if (ok)
            {
                result.Latencies.Add(Stopwatch.GetTimestamp() - started);
            }
            else
            {
                result.Errors++;
            }
        }
        else if (!ok)
        {
            // Not at full speed through a failing warm-up.
            await Task.Delay(10).ConfigureAwait(false);
        }
    }
}

internal sealed class LoadState
{
    public int Phase;
}

internal sealed class CallerResult
{
    public List<long> Latencies { get; } = new(1 << 14);

    public long Errors { get; set; }

    public string? FirstError { get; set; }
}
