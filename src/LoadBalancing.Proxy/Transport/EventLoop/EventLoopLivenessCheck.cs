using System.Globalization;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace LoadBalancing.Proxy.Transport.EventLoop;

/// <summary>
/// Liveness of the event loops (tag <c>live</c>, so <c>/healthz</c> runs it): Unhealthy while a loop has been running one
/// batch for <see cref="EpollLoopWatchdog.WedgedAfter"/> or longer. Nothing a client or an upstream does keeps a loop that
/// long (every socket is non-blocking); code that blocks on the loop does, and a restart is what ends it.
/// </summary>
internal sealed class EventLoopLivenessCheck(EpollLoopWatchdog? watchdog = null) : IHealthCheck
{
    public const string Name = "event-loops";

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult((watchdog ?? EpollLoopGroup.Watchdog)?.Wedged() is { } wedged
            ? HealthCheckResult.Unhealthy(string.Create(CultureInfo.InvariantCulture, $"event loop {wedged.Loop} has been running one batch for {wedged.Running.TotalSeconds:0.0} s"))
            : HealthCheckResult.Healthy("every event loop returns to epoll_wait"));
}
