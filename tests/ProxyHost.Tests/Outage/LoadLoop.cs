using System.Collections.Concurrent;
using System.Net;

namespace ProxyHost.Tests.Outage;

/// <summary>Steady load through the proxy on both Services until stopped; every failure is kept with its reason.</summary>
internal sealed class LoadLoop : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly Task[] _workers;
    private readonly SemaphoreSlim _success = new(0);
    private long _succeeded;

    private readonly string[] _paths;

    public LoadLoop(HttpClient client, int workers = 4, string[]? paths = null)
    {
        _paths = paths ?? OutageRig.Services;
        _workers = [.. Enumerable.Range(0, workers).Select(w => Task.Run(() => RunAsync(client, w)))];
    }

    public long Succeeded => Interlocked.Read(ref _succeeded);

    public ConcurrentQueue<string> Failures { get; } = new();

    /// <summary>Bodies of successful answers, counted (which pod, or the fallback, answered).</summary>
    public ConcurrentDictionary<string, long> AnsweredBy { get; } = new();

    private async Task RunAsync(HttpClient client, int worker)
    {
        var i = 0;
        while (!_stop.IsCancellationRequested)
        {
            var service = _paths[(worker + i++) % _paths.Length];
            try
            {
                using var response = await client.GetAsync($"/{service}/item/{i}", _stop.Token);
                var body = await response.Content.ReadAsStringAsync(_stop.Token);
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    Interlocked.Increment(ref _succeeded);
                    _success.Release();
                    AnsweredBy.AddOrUpdate(body, 1, (_, n) => n + 1);
                }
                else
                {
                    Failures.Enqueue($"{service}: {(int)response.StatusCode} {body.Trim()}");
                }
            }
            catch (OperationCanceledException) when (_stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                Failures.Enqueue($"{service}: {e.GetType().Name} {e.Message}");
            }
        }
    }

    /// <summary>Waits until at least <paramref name="more"/> further requests have succeeded (bounded): the load is really flowing.</summary>
    public async Task WhileRequestsFlowAsync(long more = 50)
    {
        while (_success.CurrentCount > 0 && await _success.WaitAsync(0))
        {
            // Forget successes before now.
        }

        for (var i = 0; i < more; i++)
        {
            if (!await _success.WaitAsync(TimeSpan.FromSeconds(30)))
            {
                throw new Xunit.Sdk.XunitException($"Promise broken: requests stopped succeeding ({Describe()}).");
            }
        }
    }

    public async Task StopAsync()
    {
        await _stop.CancelAsync();
        await Task.WhenAll(_workers);
    }

    public string Describe() => $"{Succeeded} succeeded, {Failures.Count} failed{(Failures.IsEmpty ? "" : ": " + string.Join(" | ", Failures.Take(5)))}";

    public async ValueTask DisposeAsync()
    {
        if (!_stop.IsCancellationRequested)
        {
            await StopAsync();
        }

        _stop.Dispose();
        _success.Dispose();
    }
}
