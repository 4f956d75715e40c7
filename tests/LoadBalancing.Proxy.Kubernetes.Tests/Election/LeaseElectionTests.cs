using System.Globalization;
using System.Text.Json.Nodes;
using LoadBalancing.Kubernetes.Tests.Support;
using LoadBalancing.Proxy.Kubernetes.Election;
using Microsoft.Extensions.Time.Testing;
using static LoadBalancing.Kubernetes.Tests.Support.Objects;

namespace LoadBalancing.Proxy.Kubernetes.Tests.Election;

/// <summary>
/// Two or more replicas' elections against the test API server through the real KubernetesClient, with time faked:
/// each test advances the clock one retry period at a time and reads each attempt's outcome, so nothing waits on a
/// wall clock.
/// </summary>
public sealed class LeaseElectionTests
{
    private static readonly TimeSpan Retry = TimeSpan.FromSeconds(2);

    [Fact]
    public async Task RunAsync_LeaderCrashes_OtherTakesOverOnlyAfterLeaseDurationOfItsOwnObservation()
    {
        await using var server = await FakeApiServer.StartAsync();
        var time = new FakeTimeProvider(new DateTimeOffset(2030, 1, 1, 0, 0, 0, TimeSpan.Zero));
        await using var a = new Elector(server, time, "pod-a", releaseOnStop: false);
        await using var b = new Elector(server, time, "pod-b");

        a.Start();
        Assert.True(await a.NextAttemptAsync());
        b.Start();
        Assert.False(await b.NextAttemptAsync());
        Assert.True(a.Election.IsLeader);
        Assert.False(b.Election.IsLeader);

        // A crash: no renew, no release.
        await a.StopAsync();
        Assert.Equal("pod-a", Holder(server));

        // b first saw this record at 0 s; it stays a's until b has seen it unchanged for 15 s.
        for (var elapsed = 2; elapsed <= 14; elapsed += 2)
        {
            time.Advance(Retry);
            Assert.False(await b.NextAttemptAsync(), $"taken after {elapsed} s");
        }

        time.Advance(Retry);
        Assert.True(await b.NextAttemptAsync());
        Assert.True(b.Election.IsLeader);
        Assert.Equal([true], b.Changes);
        Assert.Equal("pod-b", Holder(server));
        Assert.Equal(1, Spec(server)["leaseTransitions"]!.GetValue<int>());
    }

    [Fact]
    public async Task RunAsync_GracefulStop_ReleasesTheLease_OtherTakesOverAtItsNextRetry()
    {
        await using var server = await FakeApiServer.StartAsync();
        var time = new FakeTimeProvider(new DateTimeOffset(2030, 1, 1, 0, 0, 0, TimeSpan.Zero));
        await using var a = new Elector(server, time, "pod-a");
        await using var b = new Elector(server, time, "pod-b");
        a.Start();
        Assert.True(await a.NextAttemptAsync());
        b.Start();
        Assert.False(await b.NextAttemptAsync());

        await a.StopAsync();

        Assert.Equal([true, false], a.Changes);
        Assert.False(a.Election.IsLeader);
        Assert.Equal("", Holder(server));
        Assert.Equal(1, Spec(server)["leaseDurationSeconds"]!.GetValue<int>());
        time.Advance(Retry);
        Assert.True(await b.NextAttemptAsync());
        Assert.True(b.Election.IsLeader);
        Assert.Equal("pod-b", Holder(server));
    }

    [Fact]
    public async Task RunAsync_LeaderRenewsEveryRetryPeriod_AndKeepsLeading()
    {
        await using var server = await FakeApiServer.StartAsync();
        var time = new FakeTimeProvider(new DateTimeOffset(2030, 1, 1, 0, 0, 0, TimeSpan.Zero));
        await using var a = new Elector(server, time, "pod-a");
        a.Start();
        Assert.True(await a.NextAttemptAsync());
        var created = RenewTime(server);

        for (var i = 0; i < 10; i++)
        {
            time.Advance(Retry);
            Assert.True(await a.NextAttemptAsync());
        }

        Assert.True(a.Election.IsLeader);
        Assert.Equal([true], a.Changes);
        Assert.Equal(TimeSpan.FromSeconds(20), RenewTime(server) - created);
        Assert.Equal(0, Spec(server)["leaseTransitions"]!.GetValue<int>());
    }

    [Fact]
    public async Task RunAsync_RenewsFailUntilTheDeadline_LeadershipIsLost()
    {
        await using var server = await FakeApiServer.StartAsync();
        var time = new FakeTimeProvider(new DateTimeOffset(2030, 1, 1, 0, 0, 0, TimeSpan.Zero));
        await using var a = new Elector(server, time, "pod-a");
        a.Start();
        Assert.True(await a.NextAttemptAsync());
        server.FailNext(ApiResource.Leases, ApiVerb.Get, Fault.ServerError, times: 100);

        for (var elapsed = 2; elapsed <= 8; elapsed += 2)
        {
            time.Advance(Retry);
            Assert.False(await a.NextAttemptAsync());
            Assert.True(a.Election.IsLeader, $"lost after {elapsed} s");
        }

        time.Advance(Retry);
        Assert.False(await a.NextAttemptAsync());
        Assert.False(a.Election.IsLeader);
        Assert.Equal([true, false], a.Changes);
    }

    [Fact]
    public async Task RunAsync_LeaderFindsAnotherHolder_StopsLeadingAtOnce()
    {
        await using var server = await FakeApiServer.StartAsync();
        var start = new DateTimeOffset(2030, 1, 1, 0, 0, 0, TimeSpan.Zero);
        var time = new FakeTimeProvider(start);
        await using var a = new Elector(server, time, "pod-a");
        a.Start();
        Assert.True(await a.NextAttemptAsync());

        server.Apply(ApiResource.Leases, OtherLease(start + Retry));
        time.Advance(Retry);

        Assert.False(await a.NextAttemptAsync());
        Assert.False(a.Election.IsLeader);
        Assert.Equal([true, false], a.Changes);
        Assert.Equal("other", Holder(server));
    }

    [Fact]
    public async Task RunAsync_LeaseHeldBySomeoneRenewingIt_IsNeverTaken_UntilTheyStop()
    {
        await using var server = await FakeApiServer.StartAsync();
        var start = new DateTimeOffset(2030, 1, 1, 0, 0, 0, TimeSpan.Zero);
        var time = new FakeTimeProvider(start);
        server.Apply(ApiResource.Leases, OtherLease(start));
        await using var b = new Elector(server, time, "pod-b");
        b.Start();
        Assert.False(await b.NextAttemptAsync());

        // The other holder renews every 2 s for a minute; b never takes the lease.
        for (var i = 1; i <= 30; i++)
        {
            server.Apply(ApiResource.Leases, OtherLease(start + (i * Retry)));
            time.Advance(Retry);
            Assert.False(await b.NextAttemptAsync());
        }

        Assert.Equal("other", Holder(server));
        Assert.Equal(0, server.RequestCount(ApiResource.Leases, ApiVerb.Update));

        // It stops renewing: 15 s of b's own observation later (at the 8th retry), b takes over.
        for (var i = 1; i <= 7; i++)
        {
            time.Advance(Retry);
            Assert.False(await b.NextAttemptAsync());
        }

        time.Advance(Retry);
        Assert.True(await b.NextAttemptAsync());
        Assert.Equal("pod-b", Holder(server));
    }

    [Fact]
    public async Task RunAsync_TakeoverConflicts_LeaseIsReadAgain_AndTheNewRenewIsRespected()
    {
        await using var server = await FakeApiServer.StartAsync();
        var start = new DateTimeOffset(2030, 1, 1, 0, 0, 0, TimeSpan.Zero);
        var time = new FakeTimeProvider(start);
        server.Apply(ApiResource.Leases, OtherLease(start));
        await using var b = new Elector(server, time, "pod-b");
        b.Start();
        Assert.False(await b.NextAttemptAsync());

        // Expired by b's observation; the other holder renews between b's read and b's write.
        b.Hook.Once(r => r.Method == HttpMethod.Put, () => server.Apply(ApiResource.Leases, OtherLease(start + TimeSpan.FromSeconds(16))));
        time.Advance(TimeSpan.FromSeconds(16));

        Assert.False(await b.NextAttemptAsync());
        Assert.Equal("other", Holder(server));
        Assert.Equal(1, server.RequestCount(ApiResource.Leases, ApiVerb.Update));
        Assert.Equal(3, server.RequestCount(ApiResource.Leases, ApiVerb.Get));

        // The renew b saw on its re-read counts from then: 15 s more.
        time.Advance(TimeSpan.FromSeconds(14));
        Assert.False(await b.NextAttemptAsync());
        time.Advance(Retry);
        Assert.True(await b.NextAttemptAsync());
        Assert.Equal("pod-b", Holder(server));
    }

    [Fact]
    public async Task RunAsync_RenewConflictsWithAnUnrelatedEdit_ReadsAgainAndRenewsInTheSameAttempt()
    {
        await using var server = await FakeApiServer.StartAsync();
        var time = new FakeTimeProvider(new DateTimeOffset(2030, 1, 1, 0, 0, 0, TimeSpan.Zero));
        await using var a = new Elector(server, time, "pod-a");
        a.Start();
        Assert.True(await a.NextAttemptAsync());
        a.Hook.Once(r => r.Method == HttpMethod.Put, () =>
        {
            var labelled = server.Get(ApiResource.Leases, "infra", "lb-leader")!;
            labelled["metadata"]!["labels"] = new JsonObject { ["team"] = "edge" };
            server.Apply(ApiResource.Leases, labelled);
        });

        time.Advance(Retry);

        Assert.True(await a.NextAttemptAsync());
        Assert.Equal(2, server.RequestCount(ApiResource.Leases, ApiVerb.Update));
        var lease = server.Get(ApiResource.Leases, "infra", "lb-leader")!;
        Assert.Equal("edge", lease["metadata"]!["labels"]!["team"]!.GetValue<string>());
        Assert.Equal("pod-a", Holder(server));
        Assert.Equal([true], a.Changes);
    }

    [Fact]
    public void Options_Invalid_EveryProblemNamesItsKey()
    {
        var options = new LeaseElectionOptions
        {
            Namespace = "",
            Name = "lb",
            Identity = " ",
            LeaseDuration = TimeSpan.FromSeconds(10.5),
            RenewDeadline = TimeSpan.FromSeconds(11),
            RetryPeriod = TimeSpan.FromSeconds(10),
        };

        var errors = options.Validate();

        Assert.Contains(errors, e => e.StartsWith("Namespace", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("Identity", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("LeaseDuration (10.5 s) must be a whole", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("LeaseDuration (10.5 s) must be greater than RenewDeadline", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("RenewDeadline (11 s) must be greater than 1.2", StringComparison.Ordinal));
        Assert.Empty(new LeaseElectionOptions { Namespace = "infra", Name = "lb", Identity = "pod-a" }.Validate());
    }

    private static JsonObject OtherLease(DateTimeOffset renewed)
    {
        var lease = Lease("lb-leader", "other", ns: "infra");
        var stamp = renewed.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", CultureInfo.InvariantCulture);
        lease["spec"]!["renewTime"] = stamp;
        lease["spec"]!["acquireTime"] = stamp;
        return lease;
    }

    private static JsonObject Spec(FakeApiServer server) => server.Get(ApiResource.Leases, "infra", "lb-leader")!["spec"]!.AsObject();

    private static string? Holder(FakeApiServer server) => Spec(server)["holderIdentity"]?.GetValue<string>();

    private static DateTimeOffset RenewTime(FakeApiServer server) =>
        DateTimeOffset.Parse(Spec(server)["renewTime"]!.GetValue<string>(), CultureInfo.InvariantCulture);
}
