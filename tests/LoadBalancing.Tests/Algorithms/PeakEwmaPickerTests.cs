using FsCheck;
using FsCheck.Xunit;
using LoadBalancing.Algorithms;
using LoadBalancing.Internal;
using LoadBalancing.Tests.Support;
using Microsoft.Extensions.Time.Testing;

namespace LoadBalancing.Tests.Algorithms;

public sealed class PeakEwmaPickerTests
{
    [Property(MaxTest = 20)]
    public bool Pick_OneOfFiveTenTimesSlower_GetsUnderTenPercent(int seed)
    {
        var time = new FakeTimeProvider();
        var endpoints = TestEndpoints.Make(5);
        var slow = endpoints[seed & 3];
        using var balancer = TestEndpoints.Balancer(endpoints, TestEndpoints.Options(LoadBalancingAlgorithm.PeakEwma), time, new Random(seed));
        const int requests = 20_000;

        var slowPicks = 0;
        for (var i = 0; i < requests; i++)
        {
            var pick = balancer.Pick();
            var isSlow = pick.Endpoint!.Equals(slow);
            slowPicks += isSlow ? 1 : 0;
            var latency = TimeSpan.FromMilliseconds(isSlow ? 100 : 10);
            time.Advance(TimeSpan.FromMilliseconds(1));
            pick.Complete(true, latency);
        }

        return slowPicks < requests / 10;
    }

    [Property(MaxTest = 300)]
    public bool Pick_BothSampled_ChoosesTheLowerCostNow(PositiveInt microsA, PositiveInt microsB, byte inFlightA, byte inFlightB, PositiveInt gapMs, PositiveInt sinceMs, bool aFirst)
    {
        // The picker compares two sampled endpoints without reading the clock (the current time
        // cancels out); its choice must be the one the decayed costs at the current time give.
        var time = new FakeTimeProvider();
        var options = TestEndpoints.Options(LoadBalancingAlgorithm.PeakEwma);
        var input = PickerBuilder.Input(TestEndpoints.Make(2), options, new Random(1), time);
        var picker = new PeakEwmaPicker(input);
        var clock = input.Clock;
        var (early, late) = aFirst ? (0, 1) : (1, 0);
        PeakEwma.Observe(ref input.States[early].CurrentEwma, microsA.Get % 1_000_000, clock, clock.Now());
        time.Advance(TimeSpan.FromMilliseconds(gapMs.Get % 100_000));
        PeakEwma.Observe(ref input.States[late].CurrentEwma, microsB.Get % 1_000_000, clock, clock.Now());
        for (var i = 0; i < inFlightA % 8; i++)
        {
            input.States[0].AddInFlight();
        }

        for (var i = 0; i < inFlightB % 8; i++)
        {
            input.States[1].AddInFlight();
        }

        time.Advance(TimeSpan.FromMilliseconds(sinceMs.Get % 100_000));

        var now = clock.Now();
        var cost0 = picker.Cost(0, 1, now);
        var cost1 = picker.Cost(1, 0, now);
        if (Math.Abs(cost0 - cost1) <= 1e-6 * Math.Max(cost0, cost1))
        {
            return true; // a tie within rounding: either answer is right
        }

        var expected = cost1 < cost0 ? 1 : 0;
        return Enumerable.Range(0, 4).All(_ => picker.Pick(PickContext.None) == expected);
    }

    [Property(MaxTest = 500)]
    public bool RelativeDecay_IsTheRatioOfTheTwoDecays(int gap)
    {
        // The picker multiplies one cost by e^(−gap/τ) instead of decaying both to the current time;
        // inside the table and beyond it that must be the ratio of the two decays.
        var clock = new EwmaClock(new FakeTimeProvider(), TimeSpan.FromSeconds(10));
        gap %= 200_000;
        var (older, newer) = gap >= 0 ? ((uint)gap, 0u) : (0u, (uint)-gap);
        var expected = clock.Decay(older) / clock.Decay(newer);
        return Math.Abs(clock.RelativeDecay(gap) - expected) <= 1e-9 * expected;
    }

    [Fact]
    public void Pick_EndpointWithRequestsInFlightAndNoSample_IsAvoided()
    {
        var time = new FakeTimeProvider();
        var endpoints = TestEndpoints.Make(2);
        using var balancer = TestEndpoints.Balancer(endpoints, TestEndpoints.Options(LoadBalancingAlgorithm.PeakEwma), time, new Random(1));
        var states = balancer.Source.Current.States;

        // Endpoint 0 has answered in 50 ms; endpoint 1 has one request out and no answer yet.
        var first = balancer.Pick();
        var other = balancer.Pick();
        var (answered, silent) = first.Endpoint!.Equals(endpoints[0]) ? (first, other) : (other, first);
        answered.Complete(true, TimeSpan.FromMilliseconds(50));

        for (var i = 0; i < 20; i++)
        {
            Assert.Equal(answered.Endpoint, balancer.PickAndComplete(PickContext.None, latency: TimeSpan.FromMilliseconds(50)));
        }

        silent.Complete(true, TimeSpan.FromMilliseconds(5));
        Assert.Equal(silent.Endpoint, balancer.PickAndComplete(PickContext.None, latency: TimeSpan.FromMilliseconds(5)));
    }

    [Property(MaxTest = 30)]
    public bool Pick_NewEndpointAmongFastOnes_IsTriedAtOnceAndOneRequestAtATime(int seed)
    {
        // Two endpoints answer in 2 ms, far under the 30 ms default RTT; a third has never been
        // tried. It must get a request soon, and no second one before its first answer.
        var time = new FakeTimeProvider();
        var options = TestEndpoints.Options(LoadBalancingAlgorithm.PeakEwma);
        var input = PickerBuilder.Input(TestEndpoints.Make(3), options, new Random(seed), time);
        var picker = new PeakEwmaPicker(input);
        var clock = input.Clock;
        PeakEwma.Observe(ref input.States[0].CurrentEwma, 2_000, clock, clock.Now());
        PeakEwma.Observe(ref input.States[1].CurrentEwma, 2_000, clock, clock.Now());

        var newPicks = 0;
        for (var i = 0; i < 200; i++)
        {
            time.Advance(TimeSpan.FromMilliseconds(1));
            var pick = picker.Pick(PickContext.None);
            if (pick == 2)
            {
                newPicks++;
                input.States[2].AddInFlight(); // held: no answer yet
            }
            else
            {
                PeakEwma.Observe(ref input.States[pick].CurrentEwma, 2_000, clock, clock.Now());
            }
        }

        return newPicks == 1;
    }

    [Fact]
    public void Observe_SlowerSample_ReplacesTheEstimateAtOnce()
    {
        var time = new FakeTimeProvider();
        var clock = new EwmaClock(time, TimeSpan.FromSeconds(10));
        long cell = 0;

        PeakEwma.Observe(ref cell, 10_000, clock, clock.Now());
        PeakEwma.Observe(ref cell, 80_000, clock, clock.Now());

        Assert.Equal(80_000, PeakEwma.Micros(cell), 1.0);
    }

    [Fact]
    public void Observe_FasterSample_DecaysWithTau()
    {
        var time = new FakeTimeProvider();
        var clock = new EwmaClock(time, TimeSpan.FromSeconds(10));
        long cell = 0;
        PeakEwma.Observe(ref cell, 100_000, clock, clock.Now());

        time.Advance(TimeSpan.FromSeconds(10));
        PeakEwma.Observe(ref cell, 0.001, clock, clock.Now());

        // One τ later the old estimate weighs e^-1 (clock units are ~1 ms, so allow 0.1 %).
        Assert.Equal(100_000 * Math.Exp(-1), PeakEwma.Micros(cell), 100_000 * 0.001);
    }

    [Fact]
    public void Current_WithoutNewSamples_DecaysTowardsZero()
    {
        var time = new FakeTimeProvider();
        var clock = new EwmaClock(time, TimeSpan.FromSeconds(10));
        long cell = 0;
        PeakEwma.Observe(ref cell, 50_000, clock, clock.Now());

        time.Advance(TimeSpan.FromSeconds(20));

        Assert.Equal(50_000 * Math.Exp(-2), PeakEwma.Current(cell, clock, clock.Now()), 50_000 * 0.002);
        Assert.Equal(-1, PeakEwma.Current(0, clock, clock.Now()));
    }

    [Fact]
    public void Observe_ConcurrentSamples_NoneIsLost()
    {
        // Every thread stores only a new peak; the final estimate must be the largest sample.
        var time = new FakeTimeProvider();
        var clock = new EwmaClock(time, TimeSpan.FromSeconds(10));
        long cell = 0;
        var now = clock.Now();

        Parallel.For(0, 4, t =>
        {
            for (var i = 1; i <= 50_000; i++)
            {
                PeakEwma.Observe(ref cell, (i * 4) + t, clock, now);
            }
        });

        Assert.Equal(200_003, PeakEwma.Micros(cell), 0.5);
    }
}
