// The load client of bench/load's gRPC scenario. Usage:
//   GrpcLoad --targets 127.0.0.1:8080,127.0.0.1:8081 [--rounds 1] [--callers 64] [--channels 4] [--warmup 1]
//            [--first-warmup 1 | 1,30,...] [--duration 5] [--payload 13]
// Measures each target in turn, round after round (A B C A B C ...), in one process, so every target meets the same
// warmed-up client. Against a target, each caller makes one unary call after another on its channel (callers are
// spread over the channels; a channel is one HTTP/2 connection, opened for that target's run and closed after it).
// Calls completing during the measured window count. Prints "measuring <target index>" when the window opens and
// "stopped <target index>" when it closes (the harness reads the proxy's CPU time at those lines), then one JSON
// line per run. The first round's warm-up (--first-warmup, one value or one per target) is longer than the others'
// so the targets' JIT tiers settle before the first measured window. Exits by itself: a watchdog ends the process if
// calls hang.
using System.Diagnostics;
using System.Globalization;
using Grpc.Core;
using Grpc.Net.Client;

string Arg(string name, string fallback)
{
    var i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
}

double Seconds(string name, string fallback) => double.Parse(Arg(name, fallback), CultureInfo.InvariantCulture);

var targets = Arg("--targets", Arg("--target", "127.0.0.1:8080")).Split(',');
var rounds = int.Parse(Arg("--rounds", "1"), CultureInfo.InvariantCulture);
var callers = int.Parse(Arg("--callers", "64"), CultureInfo.InvariantCulture);
var channelCount = int.Parse(Arg("--channels", "4"), CultureInfo.InvariantCulture);
var warmup = Seconds("--warmup", "1");
var firstWarmups = Arg("--first-warmup", Arg("--warmup", "1")).Split(',').Select(w => double.Parse(w, CultureInfo.InvariantCulture)).ToArray();
var duration = Seconds("--duration", "5");
var payload = new byte[int.Parse(Arg("--payload", "13"), CultureInfo.InvariantCulture)];

double FirstWarmup(int target) => firstWarmups[Math.Min(target, firstWarmups.Length - 1)];
var budget = Enumerable.Range(0, targets.Length).Sum(FirstWarmup) + targets.Length * ((rounds - 1) * warmup + rounds * (duration + 5)) + 30;
using var watchdog = new Timer(_ => Environment.Exit(3), null, TimeSpan.FromSeconds(budget), Timeout.InfiniteTimeSpan);

var marshaller = Marshallers.Create<byte[]>(b => b, b => b);
var method = new Method<byte[], byte[]>(MethodType.Unary, "bench.Echo", "Unary", marshaller, marshaller);
for (var round = 0; round < rounds; round++)
{
    for (var t = 0; t < targets.Length; t++)
    {
        await RunAsync(targets[t], t, round, round == 0 ? FirstWarmup(t) : warmup);
    }
}

return 0;

async Task RunAsync(string target, int index, int round, double warm)
{
    var channels = new GrpcChannel[channelCount];
    for (var i = 0; i < channelCount; i++)
    {
        // One connection per channel, so C channels are C connections to the target.
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

    await Task.Delay(TimeSpan.FromSeconds(warm));
    Volatile.Write(ref state.Phase, 1);
    var window = Stopwatch.StartNew();
    Console.WriteLine($"measuring {index}");
    await Task.Delay(TimeSpan.FromSeconds(duration));
    Volatile.Write(ref state.Phase, 2);
    var elapsed = window.Elapsed.TotalSeconds;
    Console.WriteLine($"stopped {index}");

    var results = await Task.WhenAll(workers).WaitAsync(TimeSpan.FromSeconds(20));
    foreach (var channel in channels)
    {
        channel.Dispose();
    }

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
        $"{{\"target\": {index}, \"round\": {round}, \"calls\": {calls}, \"errors\": {errors}, \"seconds\": {elapsed:F3}, \"rps\": {calls / elapsed:F1}, \"p50\": {Quantile(0.50):F3}, \"p99\": {Quantile(0.99):F3}, \"callers\": {callers}, \"channels\": {channelCount}, \"first_error\": {error}}}"));
}

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
