namespace LoadBalancing.Proxy.Tests.Support;

/// <summary>A backend that accepts a request and never answers; it tells when a request arrived and when the proxy gave up on it.</summary>
internal sealed class HangingBackend : IAsyncDisposable
{
    private readonly TaskCompletionSource _arrived = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _aborted = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private TestBackend _server = null!;

    public string Address => _server.Address;

    /// <summary>Completes when a request has reached the backend (bounded wait).</summary>
    public Task Arrived => _arrived.Task.WaitAsync(TimeSpan.FromSeconds(20), TestContext.Current.CancellationToken);

    /// <summary>Completes when the proxy has abandoned the request (bounded wait).</summary>
    public Task Abandoned => _aborted.Task.WaitAsync(TimeSpan.FromSeconds(20), TestContext.Current.CancellationToken);

    public static async Task<HangingBackend> StartAsync(string ip)
    {
        var backend = new HangingBackend();
        backend._server = await TestBackend.StartAsync("hanging", ip, async context =>
        {
            context.RequestAborted.Register(() => backend._aborted.TrySetResult());
            backend._arrived.TrySetResult();
            await backend._aborted.Task;
        });
        return backend;
    }

    public ValueTask DisposeAsync() => _server.DisposeAsync();
}
