namespace BalancerDemo;

/// <summary>A clock the simulation moves by hand, so a minute of traffic takes a moment to run.</summary>
internal sealed class SimulatedClock : TimeProvider
{
    private static readonly DateTimeOffset Epoch = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private long _ticks;

    public TimeSpan Elapsed => TimeSpan.FromTicks(_ticks);

    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    public override long GetTimestamp() => _ticks;

    public override DateTimeOffset GetUtcNow() => Epoch + Elapsed;

    public void AdvanceTo(TimeSpan elapsed) => _ticks = Math.Max(_ticks, elapsed.Ticks);
}
