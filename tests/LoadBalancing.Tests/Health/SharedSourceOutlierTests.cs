using FsCheck.Xunit;
using LoadBalancing.Tests.Support;
using Microsoft.Extensions.Time.Testing;

namespace LoadBalancing.Tests.Health;

/// <summary>Balancers over one source (two proxy clusters naming one Service) keep their own outlier verdicts.</summary>
public sealed class SharedSourceOutlierTests
{
    private readonly FakeTimeProvider _time = new();
    private readonly BackendEndpoint[] _endpoints = TestEndpoints.Make(3);
    private readonly EndpointSource _source;

    public SharedSourceOutlierTests()
    {
        _source = new EndpointSource("shared", _time);
        _source.Publish(_endpoints);
    }

    private Balancer Over(Action<OutlierDetectionOptions> outliers) =>
        new(_source, TestEndpoints.Options(LoadBalancingAlgorithm.RoundRobin, o =>
        {
            o.OutlierDetection.BaseEjectionTime = TimeSpan.FromSeconds(30);
            o.OutlierDetection.MaxEjectionPercent = 50;
            outliers(o.OutlierDetection);
        }), _time);

    [Fact]
    public void Ejection_ByOneBalancer_LeavesTheOtherPicking()
    {
        using var strict = Over(o => o.ConsecutiveFailures = 1);
        using var lenient = Over(o => o.Enabled = false);
        var bad = _endpoints[1];

        Fail(strict, bad, times: 1);
        Fail(lenient, bad, times: 5);

        Assert.Equal(1, strict.Status.EjectedEndpoints);
        Assert.DoesNotContain(bad, Picks(strict, 30));
        Assert.Equal(0, lenient.Status.EjectedEndpoints);
        lenient.Refresh(); // a rebuild of its own must not see the other's ejection either
        Assert.Equal(3, lenient.Status.UsableEndpoints);
        Assert.Contains(bad, Picks(lenient, 30));

        var state = StateOf(bad);
        Assert.Equal(1, strict.GetOutlierState(state)!.TotalEjections);
        Assert.Equal(0, lenient.GetOutlierState(state)!.TotalEjections);
        Assert.Null(lenient.GetOutlierState(state)!.EjectedUntil);
        Assert.NotNull(lenient.GetOutlierState(state)!.LastFailure);
    }

    [Fact]
    public void ConsecutiveFailures_CountPerBalancer()
    {
        // Four failures in all, but never three in a row at either balancer.
        using var a = Over(o => o.ConsecutiveFailures = 3);
        using var b = Over(o => o.ConsecutiveFailures = 3);
        var bad = _endpoints[0];

        Fail(a, bad, times: 2);
        Fail(b, bad, times: 2);

        Assert.Equal(0, a.Status.EjectedEndpoints);
        Assert.Equal(0, b.Status.EjectedEndpoints);
        Assert.Equal(2, a.GetOutlierState(StateOf(bad))!.ConsecutiveFailures);

        // A success at b resets b's run only.
        Picks(b, 3);
        Assert.Equal(0, b.GetOutlierState(StateOf(bad))!.ConsecutiveFailures);
        Fail(a, bad, times: 1);
        Assert.Equal(1, a.Status.EjectedEndpoints);
    }

    [Fact]
    public void InheritOutlierState_KeepsTheEjectionUntilItRunsOut()
    {
        using var before = Over(o => o.ConsecutiveFailures = 1);
        var bad = _endpoints[2];
        Fail(before, bad, times: 1);
        _time.Advance(TimeSpan.FromSeconds(10));

        using var after = Over(o => o.ConsecutiveFailures = 2);
        Assert.Equal(0, after.Status.EjectedEndpoints);
        after.InheritOutlierState(before);

        Assert.Equal(1, after.Status.EjectedEndpoints);
        Assert.DoesNotContain(bad, Picks(after, 30));
        Assert.Equal(before.GetOutlierState(StateOf(bad))!.EjectedUntil, after.GetOutlierState(StateOf(bad))!.EjectedUntil);

        _time.Advance(TimeSpan.FromSeconds(20));
        Assert.Equal(0, after.Status.EjectedEndpoints);
        Assert.Contains(bad, Picks(after, 30));
        // The backoff remembers the inherited ejection: the next one lasts twice the base time.
        Fail(after, bad, times: 2);
        Assert.Equal(_time.GetUtcNow() + TimeSpan.FromSeconds(60), after.GetOutlierState(StateOf(bad))!.EjectedUntil);
    }

    [Fact]
    public void InheritOutlierState_OutlierDetectionOff_TakesNothing()
    {
        using var before = Over(o => o.ConsecutiveFailures = 1);
        Fail(before, _endpoints[0], times: 1);

        using var after = Over(o => o.Enabled = false);
        after.InheritOutlierState(before);

        Assert.Equal(0, after.Status.EjectedEndpoints);
        Assert.Equal(0, after.GetOutlierState(StateOf(_endpoints[0]))!.TotalEjections);
    }

    [Fact]
    public void GetOutlierState_EndpointLeavesAndReturns_StartsAfresh()
    {
        using var balancer = Over(o => o.ConsecutiveFailures = 1);
        var bad = _endpoints[0];
        Fail(balancer, bad, times: 1);
        var gone = StateOf(bad);

        _source.Publish(_endpoints.Skip(1));
        Assert.Null(balancer.GetOutlierState(gone));
        _source.Publish(_endpoints);

        Assert.Equal(0, balancer.Status.EjectedEndpoints);
        Assert.Equal(0, balancer.GetOutlierState(StateOf(bad))!.TotalEjections);
    }

    [Property(MaxTest = 100)]
    public bool ConsecutiveFailures_FollowEveryCompletion_AsEndpointsComeAndGo(int seed)
    {
        // Single-threaded, so the count is exact: a success ends the endpoint's run even when no other endpoint has
        // one going, a failure adds one, an ejection ends it (a pick made before the ejection adds to it after);
        // picks may complete after their endpoint left.
        var random = new Random(seed);
        var time = new FakeTimeProvider();
        var source = new EndpointSource("p", time);
        var all = TestEndpoints.Make(8);
        source.Publish(all.Take(4));
        using var balancer = new Balancer(source, TestEndpoints.Options(LoadBalancingAlgorithm.Random, o =>
        {
            o.OutlierDetection.ConsecutiveFailures = 4;
            o.OutlierDetection.MaxEjectionPercent = 100;
        }), time, new Random(seed));
        var expected = new Dictionary<EndpointState, int>(ReferenceEqualityComparer.Instance);
        var pending = new List<PickResult>();
        for (var step = 0; step < 300; step++)
        {
            switch (random.Next(0, 10))
            {
                case 0:
                    source.Publish(all.Where(_ => random.Next(0, 2) == 0));
                    break;
                case 1:
                    time.Advance(TimeSpan.FromSeconds(random.Next(0, 40)));
                    break;
                case < 5:
                    if (balancer.Pick() is { HasEndpoint: true } pick)
                    {
                        pending.Add(pick);
                    }

                    break;
                default:
                    if (pending.Count == 0)
                    {
                        break;
                    }

                    var index = random.Next(0, pending.Count);
                    var done = pending[index];
                    pending.RemoveAt(index);
                    var success = random.Next(0, 3) != 0;
                    var wasEjected = balancer.GetOutlierState(done.State!)?.EjectedUntil > time.GetUtcNow();
                    done.Complete(success, TimeSpan.FromMilliseconds(1));
                    if (balancer.GetOutlierState(done.State!) is not { } record)
                    {
                        break; // the endpoint left: its record is gone
                    }

                    var before = expected.GetValueOrDefault(done.State!);
                    expected[done.State!] = success || (before + 1 >= 4 && !wasEjected) ? 0 : before + 1;
                    if (record.ConsecutiveFailures != expected[done.State!])
                    {
                        return false;
                    }

                    break;
            }

            var current = source.Current.States.Select(s => balancer.GetOutlierState(s)!).ToList();
            foreach (var gone in expected.Keys.Where(s => !source.Current.States.Contains(s)).ToList())
            {
                expected.Remove(gone); // a returning endpoint starts afresh
            }

            if (balancer.FailureRuns < current.Count(r => r.ConsecutiveFailures != 0))
            {
                return false;
            }
        }

        return true;
    }

    private EndpointState StateOf(BackendEndpoint endpoint) =>
        _source.Current.States[_source.Current.Endpoints.ToList().IndexOf(endpoint)];

    /// <summary>Completes <paramref name="times"/> picks of <paramref name="endpoint"/> as failed; other picks succeed.</summary>
    private static void Fail(Balancer balancer, BackendEndpoint endpoint, int times)
    {
        for (var (failed, picks) = (0, 0); failed < times; picks++)
        {
            Assert.True(picks < 1000, $"{endpoint} was never picked.");
            var pick = balancer.Pick();
            Assert.True(pick.HasEndpoint);
            var hit = endpoint.Equals(pick.Endpoint);
            pick.Complete(!hit, TimeSpan.Zero);
            failed += hit ? 1 : 0;
        }
    }

    private static List<BackendEndpoint> Picks(Balancer balancer, int count) =>
        Enumerable.Range(0, count).Select(_ => balancer.PickAndComplete(PickContext.None)).ToList();
}
