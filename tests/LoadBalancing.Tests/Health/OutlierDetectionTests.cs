using LoadBalancing.Tests.Support;
using Microsoft.Extensions.Time.Testing;

namespace LoadBalancing.Tests.Health;

public sealed class OutlierDetectionTests
{
    private static BalancerOptions Options(Action<BalancerOptions>? configure = null) =>
        TestEndpoints.Options(LoadBalancingAlgorithm.RoundRobin, o =>
        {
            o.OutlierDetection.ConsecutiveFailures = 3;
            o.OutlierDetection.BaseEjectionTime = TimeSpan.FromSeconds(30);
            o.OutlierDetection.MaxEjectionTime = TimeSpan.FromSeconds(300);
            o.OutlierDetection.MaxEjectionPercent = 50;
            configure?.Invoke(o);
        });

    [Fact]
    public void Complete_ConsecutiveFailures_EjectsTheEndpointUntilItsTimeRunsOut()
    {
        var time = new FakeTimeProvider();
        var endpoints = TestEndpoints.Make(4);
        using var balancer = TestEndpoints.Balancer(endpoints, Options(), time);
        var bad = endpoints[1];

        FailUntilEjected(balancer, bad);

        Assert.Equal(1, balancer.Status.EjectedEndpoints);
        Assert.DoesNotContain(bad, Picks(balancer, 40));
        Assert.Equal(time.GetUtcNow() + TimeSpan.FromSeconds(30), balancer.GetOutlierState(balancer.Source.Current.States[1])!.EjectedUntil);

        time.Advance(TimeSpan.FromSeconds(30));

        Assert.Equal(0, balancer.Status.EjectedEndpoints);
        Assert.Contains(bad, Picks(balancer, 40));
    }

    [Fact]
    public void Complete_SuccessBetweenFailures_ResetsTheCount()
    {
        var endpoints = TestEndpoints.Make(2);
        using var balancer = TestEndpoints.Balancer(endpoints, Options(), new FakeTimeProvider());
        var state = balancer.GetOutlierState(balancer.Source.Current.States[0])!;

        for (var round = 0; round < 5; round++)
        {
            for (var i = 0; i < 2; i++)
            {
                PickFor(balancer, endpoints[0]).Complete(false, TimeSpan.Zero);
            }

            PickFor(balancer, endpoints[0]).Complete(true, TimeSpan.Zero);
        }

        Assert.Equal(0, state.ConsecutiveFailures);
        Assert.Null(state.EjectedUntil);
    }

    [Fact]
    public void Eject_Repeatedly_BacksOffLinearlyUpToTheMaximum()
    {
        var time = new FakeTimeProvider();
        var endpoints = TestEndpoints.Make(4);
        using var balancer = TestEndpoints.Balancer(endpoints, Options(o => o.OutlierDetection.MaxEjectionTime = TimeSpan.FromSeconds(75)), time);
        var state = balancer.GetOutlierState(balancer.Source.Current.States[2])!;

        var lengths = new List<TimeSpan>();
        for (var i = 0; i < 4; i++)
        {
            FailUntilEjected(balancer, endpoints[2]);
            var length = state.EjectedUntil!.Value - time.GetUtcNow();
            lengths.Add(length);
            time.Advance(length);
        }

        Assert.Equal([TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(60), TimeSpan.FromSeconds(75), TimeSpan.FromSeconds(75)], lengths);
    }

    [Fact]
    public void Eject_BeyondMaxEjectionPercent_IsRefused()
    {
        var endpoints = TestEndpoints.Make(10);
        using var balancer = TestEndpoints.Balancer(endpoints, Options(o => { o.OutlierDetection.MaxEjectionPercent = 20; o.PanicThresholdPercent = 0; }), new FakeTimeProvider());

        foreach (var e in endpoints.Take(5))
        {
            for (var i = 0; i < 3; i++)
            {
                PickFor(balancer, e).Complete(false, TimeSpan.Zero);
            }
        }

        Assert.Equal(2, balancer.Status.EjectedEndpoints);
    }

    [Fact]
    public void Eject_OneEndpoint_IsAlwaysAllowedEvenUnderTheCap()
    {
        // Envoy's rule: 10 % of 3 endpoints rounds to none, yet one may be ejected.
        var endpoints = TestEndpoints.Make(3);
        using var balancer = TestEndpoints.Balancer(endpoints, Options(o => o.OutlierDetection.MaxEjectionPercent = 10), new FakeTimeProvider());

        FailUntilEjected(balancer, endpoints[0]);

        Assert.Equal(1, balancer.Status.EjectedEndpoints);
    }

    [Fact]
    public void Pick_TooFewHealthy_PanicsAndUsesAll()
    {
        var time = new FakeTimeProvider();
        var endpoints = TestEndpoints.Make(4);
        using var balancer = TestEndpoints.Balancer(endpoints, Options(o => { o.OutlierDetection.MaxEjectionPercent = 100; o.PanicThresholdPercent = 50; }), time);

        FailUntilEjected(balancer, endpoints[0]);
        FailUntilEjected(balancer, endpoints[1]);
        Assert.False(balancer.Status.InPanic); // 2 of 4 healthy = 50 %: not below the threshold

        FailUntilEjected(balancer, endpoints[2]);

        Assert.True(balancer.Status.InPanic);
        Assert.Equal(4, balancer.Status.UsableEndpoints);
        Assert.Equal(endpoints.ToHashSet(), Picks(balancer, 8).ToHashSet());
    }

    [Fact]
    public void Complete_Disabled_NeverEjects()
    {
        var endpoints = TestEndpoints.Make(2);
        using var balancer = TestEndpoints.Balancer(endpoints, Options(o => o.OutlierDetection.Enabled = false), new FakeTimeProvider());

        for (var i = 0; i < 20; i++)
        {
            balancer.PickAndComplete(PickContext.None, success: false);
        }

        Assert.Equal(0, balancer.Status.EjectedEndpoints);
        Assert.NotNull(balancer.GetOutlierState(balancer.Source.Current.States[0])!.LastFailure);
    }

    internal static void FailUntilEjected(Balancer balancer, BackendEndpoint endpoint)
    {
        for (var i = 0; i < 100 && balancer.GetOutlierState(balancer.Source.Current.States[IndexOf(balancer, endpoint)])!.EjectedUntil is null; i++)
        {
            PickFor(balancer, endpoint).Complete(false, TimeSpan.Zero);
        }

        Assert.NotNull(balancer.GetOutlierState(balancer.Source.Current.States[IndexOf(balancer, endpoint)])!.EjectedUntil);
    }

    private static int IndexOf(Balancer balancer, BackendEndpoint endpoint) => balancer.Source.Current.Endpoints.ToList().IndexOf(endpoint);

    /// <summary>Picks until the wanted endpoint comes up (round-robin reaches it within a cycle); completes the others.</summary>
    private static PickResult PickFor(Balancer balancer, BackendEndpoint endpoint)
    {
        for (var i = 0; i < 1000; i++)
        {
            var pick = balancer.Pick();
            if (endpoint.Equals(pick.Endpoint))
            {
                return pick;
            }

            pick.Complete(true, TimeSpan.Zero);
        }

        throw new InvalidOperationException($"{endpoint} was never picked.");
    }

    private static List<BackendEndpoint> Picks(Balancer balancer, int count) =>
        Enumerable.Range(0, count).Select(_ => balancer.PickAndComplete(PickContext.None)).ToList();
}
