namespace LoadBalancing.Kubernetes.Watching;

/// <summary>
/// Where tests reach into discovery's loops: each loop awaits <see cref="BeforeAttempt"/> before every attempt, so a
/// test can wedge them (a task that never completes) or break them (one that throws), as starvation or a defect would.
/// </summary>
internal sealed class DiscoveryLoopHooks
{
    public Func<CancellationToken, Task>? BeforeAttempt { get; set; }

    public Task BeforeAttemptAsync(CancellationToken stop) => BeforeAttempt?.Invoke(stop) ?? Task.CompletedTask;
}
