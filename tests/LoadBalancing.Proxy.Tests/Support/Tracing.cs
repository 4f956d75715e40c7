using System.Collections.Concurrent;
using System.Diagnostics;

namespace LoadBalancing.Proxy.Tests.Support;

/// <summary>A client's trace context: a fresh trace id and span id, sent as traceparent with a tracestate.</summary>
internal sealed record ClientContext(ActivityTraceId TraceId, ActivitySpanId SpanId)
{
    public static ClientContext New() => new(ActivityTraceId.CreateRandom(), ActivitySpanId.CreateRandom());

    public string TraceParent => $"00-{TraceId}-{SpanId}-01";

    public HttpRequestMessage Request(string target)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, target);
        request.Headers.TryAddWithoutValidation("traceparent", TraceParent);
        request.Headers.TryAddWithoutValidation("tracestate", "vendor=1");
        return request;
    }
}

/// <summary>Records the spans of the given traces that the named sources end; samples nothing else.</summary>
internal sealed class TraceCapture : IDisposable
{
    private readonly ActivityListener _listener;
    private readonly ConcurrentQueue<Activity> _stopped = new();
    private readonly SemaphoreSlim _ended = new(0);

    public TraceCapture(IReadOnlyCollection<ActivityTraceId> traces, params string[] sources)
    {
        _listener = new ActivityListener
        {
            ShouldListenTo = s => sources.Contains(s.Name),
            Sample = (ref ActivityCreationOptions<ActivityContext> o) =>
                traces.Contains(o.Parent.TraceId) ? ActivitySamplingResult.AllDataAndRecorded : ActivitySamplingResult.None,
            ActivityStopped = a =>
            {
                if (traces.Contains(a.TraceId))
                {
                    _stopped.Enqueue(a);
                    _ended.Release();
                }
            },
        };
        ActivitySource.AddActivityListener(_listener);
    }

    /// <summary>The first <paramref name="count"/> spans to end, in the order they ended (bounded wait).</summary>
    public async Task<Activity[]> SpansAsync(int count)
    {
        for (var i = 0; i < count; i++)
        {
            Assert.True(await _ended.WaitAsync(TimeSpan.FromSeconds(20), TestContext.Current.CancellationToken), $"{i} of {count} spans ended");
        }

        return [.. _stopped.Take(count)];
    }

    public void Dispose()
    {
        _listener.Dispose();
        _ended.Dispose();
    }
}
