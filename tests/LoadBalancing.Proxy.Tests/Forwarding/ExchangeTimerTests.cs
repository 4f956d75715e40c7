using LoadBalancing.Proxy.Forwarding;
using Microsoft.Extensions.Time.Testing;

namespace LoadBalancing.Proxy.Tests.Forwarding;

/// <summary>
/// The exchange's lazy timer: each phase's timeout cancels the token on time whether it is sooner or later than the
/// timer was set for, a reset exchange is never cancelled by an earlier request's timer, and exchanges the pool drops
/// give their timer back.
/// </summary>
public sealed class ExchangeTimerTests
{
    [Theory]
    [InlineData(2, 30)] // later than the timer is set for: the timer fires first and sets itself again
    [InlineData(30, 2)] // sooner: the timer is moved
    public void EachPhase_CancelsAtItsOwnDueTime_WhateverTheTimerWasSetFor(int firstSeconds, int secondSeconds)
    {
        var time = new FakeTimeProvider();
        using var exchange = new Exchange(time);
        exchange.Start(CancellationToken.None);

        exchange.Arm(TimeSpan.FromSeconds(firstSeconds));
        exchange.Arm(TimeSpan.FromSeconds(secondSeconds));

        time.Advance(TimeSpan.FromSeconds(secondSeconds - 0.1));
        Assert.False(exchange.Token.IsCancellationRequested);
        time.Advance(TimeSpan.FromSeconds(0.1));
        Assert.True(exchange.Token.IsCancellationRequested);
    }

    [Fact]
    public void ResetExchange_IsNotCancelledByTheTimerOfItsPreviousRequest()
    {
        var time = new FakeTimeProvider();
        using var exchange = new Exchange(time);
        exchange.Start(CancellationToken.None);
        exchange.Arm(TimeSpan.FromSeconds(2));
        exchange.Reset();

        // The timer, still set for the previous request, fires while the exchange waits in the pool.
        time.Advance(TimeSpan.FromSeconds(3));
        exchange.Start(CancellationToken.None);
        Assert.False(exchange.Token.IsCancellationRequested);
        exchange.Arm(TimeSpan.FromSeconds(30));
        time.Advance(TimeSpan.FromSeconds(29));
        Assert.False(exchange.Token.IsCancellationRequested);
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.True(exchange.Token.IsCancellationRequested);
    }

    [Fact]
    public void ExchangesThePoolCannotKeep_GiveTheirTimerBack()
    {
        var time = new CountingTimeProvider();
        var pool = Exchange.CreatePool(time, maxRetained: 2);
        var taken = Enumerable.Range(0, 5).Select(_ => pool.Get()).ToList();
        foreach (var exchange in taken)
        {
            exchange.Start(CancellationToken.None);
            exchange.Arm(TimeSpan.FromSeconds(30));
        }

        foreach (var exchange in taken)
        {
            pool.Return(exchange);
        }

        Assert.Equal(5, time.Created);
        Assert.Equal(2, time.Live);
    }

    /// <summary>A fake clock that counts the timers made on it and the ones still not disposed.</summary>
    private sealed class CountingTimeProvider : FakeTimeProvider
    {
        private int _live;

        public int Created { get; private set; }

        public int Live => _live;

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
        {
            Created++;
            Interlocked.Increment(ref _live);
            return new CountedTimer(base.CreateTimer(callback, state, dueTime, period), this);
        }

        private sealed class CountedTimer(ITimer inner, CountingTimeProvider owner) : ITimer
        {
            private int _disposed;

            public bool Change(TimeSpan dueTime, TimeSpan period) => inner.Change(dueTime, period);

            public void Dispose()
            {
                if (Interlocked.Exchange(ref _disposed, 1) == 0)
                {
                    Interlocked.Decrement(ref owner._live);
                }

                inner.Dispose();
            }

            public ValueTask DisposeAsync()
            {
                Dispose();
                return ValueTask.CompletedTask;
            }
        }
    }
}
