using System.Collections.Concurrent;
using LoadBalancing.Proxy.Transport.EventLoop;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Time.Testing;

namespace LoadBalancing.Proxy.Tests.Transport;

/// <summary>
/// The loops' watchdog on a loop of its own, with a fake clock: a batch is a stall from 200 ms, told once while it runs
/// and once when it ends, and a batch past 10 s makes the loops not live.
/// </summary>
public sealed class EpollLoopWatchdogTests
{
    private static readonly TimeSpan Step = EpollLoopWatchdog.CheckInterval;

    /// <summary>A loop and its watchdog on <paramref name="time"/>, and every stall the watchdog tells of.</summary>
    private sealed class WatchedLoop : IDisposable, IEpollLoopObserver
    {
        private readonly IDisposable _subscription;
        private readonly ManualResetEventSlim _release = new();

        public WatchedLoop(FakeTimeProvider? time = null)
        {
            Time = time ?? new FakeTimeProvider(DateTimeOffset.UtcNow);

            // A loop lives as long as the process (its thread waits in epoll_wait once the test is done).
            Loop = new EpollLoop(0, Time);
            Watchdog = new EpollLoopWatchdog([Loop], Time);
            _subscription = Watchdog.Subscribe(this);
        }

        public FakeTimeProvider Time { get; }

        public EpollLoop Loop { get; }

        public EpollLoopWatchdog Watchdog { get; }

        public ConcurrentQueue<LoopStall> Told { get; } = new();

        public TaskCompletionSource<LoopStall> Ended { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource<(int Loop, Exception Exception)> Failure { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void OnStall(LoopStall stall)
        {
            Told.Enqueue(stall);
            if (stall.Phase is LoopStallPhase.Ended or LoopStallPhase.EndedAfterWarning)
            {
                Ended.TrySetResult(stall);
            }
        }

        public void OnFailure(int loop, Exception exception) => Failure.TrySetResult((loop, exception));

        /// <summary>Posts work that blocks the loop until <see cref="Release"/> (or disposal); returns once the loop runs it.</summary>
        public void Block()
        {
            using var running = new ManualResetEventSlim();
            Loop.Post(_ =>
            {
                running.Set();
                _release.Wait(TimeSpan.FromSeconds(20));
            }, null);
            Assert.True(running.Wait(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken), "the loop never ran the work");
        }

        public void Release() => _release.Set();

        public void Dispose()
        {
            _release.Set();
            _subscription.Dispose();
            Watchdog.Dispose();
        }
    }

    [Fact(Timeout = 30_000)]
    public async Task ABatchPastTheThreshold_IsToldWhileItRuns_WedgesLivenessAtTenSeconds_AndIsCountedOnce()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "The event loops run on Linux only.");
        using var watched = new WatchedLoop();
        var time = watched.Time;
        watched.Block();

        time.Advance(Step);
        Assert.Empty(watched.Told);
        Assert.Equal(0, watched.Watchdog.Stalls(0));

        time.Advance(Step);
        var running = Assert.Single(watched.Told);
        Assert.Equal(new LoopStall(0, TimeSpan.FromMilliseconds(200), LoopStallPhase.Running), running);
        Assert.Equal(1, watched.Watchdog.Stalls(0));
        Assert.Null(watched.Watchdog.Wedged());

        // Up to 10 s: no more than the one report, until the batch counts as wedged.
        while (time.GetUtcNow() - time.Start < EpollLoopWatchdog.WedgedAfter - Step)
        {
            time.Advance(Step);
        }

        Assert.Single(watched.Told);
        Assert.Null(watched.Watchdog.Wedged());
        var liveness = new EventLoopLivenessCheck(watched.Watchdog);
        Assert.Equal(HealthStatus.Healthy, (await liveness.CheckHealthAsync(new HealthCheckContext(), TestContext.Current.CancellationToken)).Status);
        time.Advance(Step);
        Assert.Equal(new LoopStall(0, TimeSpan.FromSeconds(10), LoopStallPhase.Wedged), watched.Told.Last());
        Assert.Equal((0, TimeSpan.FromSeconds(10)), watched.Watchdog.Wedged());
        var wedged = await liveness.CheckHealthAsync(new HealthCheckContext(), TestContext.Current.CancellationToken);
        Assert.Equal(HealthStatus.Unhealthy, wedged.Status);
        Assert.Equal("event loop 0 has been running one batch for 10.0 s", wedged.Description);
        Assert.Equal(TimeSpan.FromSeconds(10), watched.Watchdog.StalledTime(0));
        time.Advance(Step);
        Assert.Equal(2, watched.Told.Count);

        watched.Release();
        var ended = await watched.Ended.Task.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        Assert.Equal(new LoopStall(0, TimeSpan.FromSeconds(10.1), LoopStallPhase.EndedAfterWarning), ended);
        Assert.Null(watched.Watchdog.Wedged());
        Assert.Equal(1, watched.Watchdog.Stalls(0));
        Assert.Equal(TimeSpan.FromSeconds(10.1), watched.Watchdog.StalledTime(0));
        Assert.Equal(TimeSpan.FromSeconds(10.1), watched.Loop.BusyTime);
    }

    /// <summary>A fake clock that runs an action once, the next time a loop thread reads it (before that read returns).</summary>
    private sealed class ClockWithLoopHook() : FakeTimeProvider(DateTimeOffset.UtcNow)
    {
        private Action? _onLoopRead;

        public void OnNextLoopRead(Action action) => _onLoopRead = action;

        public override long GetTimestamp()
        {
            var now = base.GetTimestamp();
            if (EpollLoop.Current is not null && Interlocked.Exchange(ref _onLoopRead, null) is { } action)
            {
                action();
            }

            return now;
        }
    }

    [Fact(Timeout = 30_000)]
    public async Task TheStallTime_NeverFalls_WhenReadJustAsAStallEnds()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "The event loops run on Linux only.");
        var time = new ClockWithLoopHook();
        using var watched = new WatchedLoop(time);
        watched.Block();
        time.Advance(Step);
        time.Advance(Step);
        time.Advance(Step);
        Assert.Equal(TimeSpan.FromMilliseconds(300), watched.Watchdog.StalledTime(0));

        // The loop reads the clock to end its batch at 300 ms; a scrape comes 50 ms later, before the loop has added the
        // stall, and counts the running stall to its own clock.
        TimeSpan? scraped = null;
        time.OnNextLoopRead(() =>
        {
            time.Advance(TimeSpan.FromMilliseconds(50));
            scraped = watched.Watchdog.StalledTime(0);
        });
        watched.Release();

        var ended = await watched.Ended.Task.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        Assert.Equal(new LoopStall(0, TimeSpan.FromMilliseconds(300), LoopStallPhase.EndedAfterWarning), ended);
        Assert.Equal(TimeSpan.FromMilliseconds(350), scraped);
        Assert.Equal(TimeSpan.FromMilliseconds(350), watched.Watchdog.StalledTime(0));
    }

    [Fact(Timeout = 30_000)]
    public void ABatchShorterThanTheThreshold_IsNoStall_ButCountsAsBusy()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "The event loops run on Linux only.");
        using var watched = new WatchedLoop();
        watched.Block();
        watched.Time.Advance(Step);
        watched.Time.Advance(EpollLoopWatchdog.StallThreshold - Step - TimeSpan.FromMilliseconds(1));
        watched.Release();

        Assert.True(SpinWait.SpinUntil(() => watched.Loop.BusySince == EpollLoop.Idle, TimeSpan.FromSeconds(10)), "the batch never ended");
        TestContext.Current.CancellationToken.ThrowIfCancellationRequested();
        watched.Time.Advance(Step);
        Assert.Empty(watched.Told);
        Assert.Equal(0, watched.Watchdog.Stalls(0));
        Assert.Equal(TimeSpan.Zero, watched.Watchdog.StalledTime(0));
        Assert.Equal(TimeSpan.FromMilliseconds(199), watched.Loop.BusyTime);
    }

    [Fact(Timeout = 30_000)]
    public async Task AFailureTheLoopCaught_IsToldToTheObservers_AndTheLoopGoesOn()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "The event loops run on Linux only.");
        var ct = TestContext.Current.CancellationToken;
        using var watched = new WatchedLoop();
        var thrown = new InvalidOperationException("a handler's bug");
        var after = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        watched.Loop.Post(_ => throw thrown, null);
        watched.Loop.Post(_ => after.SetResult(), null);

        var (loop, exception) = await watched.Failure.Task.WaitAsync(TimeSpan.FromSeconds(10), ct);
        Assert.Equal(0, loop);
        Assert.Same(thrown, exception);
        await after.Task.WaitAsync(TimeSpan.FromSeconds(10), ct);
    }
}
