using LoadBalancing.Tests.Support;
using Microsoft.Extensions.Time.Testing;

namespace LoadBalancing.Tests.Endpoints;

public sealed class EndpointSourceTests
{
    [Fact]
    public void Publish_AnyOrder_GivesCanonicalOrder()
    {
        var source = new EndpointSource("web");
        var endpoints = TestEndpoints.Make(5);

        var set = source.Publish(endpoints.Reverse());

        Assert.Equal(endpoints, set.Endpoints);
        Assert.Equal(1, set.Version);
    }

    [Fact]
    public void Publish_SameEndpointTwice_ThrowsNamingIt_AndKeepsTheLastGoodSet()
    {
        var source = new EndpointSource("web");
        var good = source.Publish(TestEndpoints.Make(2));

        var error = Assert.Throws<ArgumentException>(() => source.Publish([new BackendEndpoint("10.0.0.1", 80), new BackendEndpoint("10.0.0.1", 80, weight: 2)]));

        Assert.Contains("10.0.0.1:80", error.Message, StringComparison.Ordinal);
        Assert.Equal("endpoints", error.ParamName);
        Assert.Same(good, source.Current);
    }

    [Fact]
    public void Publish_SameHashKeyTwice_Throws()
    {
        var source = new EndpointSource("web");

        var error = Assert.Throws<ArgumentException>(() => source.Publish([new BackendEndpoint("10.0.0.1", 80, hashKey: "a"), new BackendEndpoint("10.0.0.2", 80, hashKey: "a")]));

        Assert.Contains("hash key 'a'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Publish_EndpointThatStays_KeepsItsState()
    {
        var source = new EndpointSource("web");
        var first = source.Publish(TestEndpoints.Make(3));
        var kept = first.States[1];

        var second = source.Publish([first.Endpoints[1].WithWeight(7), new BackendEndpoint("127.9.9.9", 80)]);

        Assert.Same(kept, second.States[Array.IndexOf(second.Endpoints.ToArray(), first.Endpoints[1])]);
        Assert.Equal(7, second.Endpoints.Single(e => e.Equals(first.Endpoints[1])).Weight);
        Assert.DoesNotContain(first.States[0], second.States);
    }

    [Fact]
    public void Publish_UnchangedList_OnlyConfirms()
    {
        var time = new FakeTimeProvider();
        var source = new EndpointSource("web", time);
        var first = source.Publish(TestEndpoints.Make(3));
        var notified = 0;
        using var subscription = source.Subscribe(_ => notified++);
        time.Advance(TimeSpan.FromSeconds(30));

        var again = source.Publish(TestEndpoints.Make(3).Reverse());

        Assert.Same(first, again);
        Assert.Equal(0, notified);
        Assert.Equal(time.GetUtcNow(), source.LastConfirmed);
        Assert.Equal(first.Created, source.LastChanged);
    }

    [Fact]
    public void Publish_ChangedList_NotifiesSubscribersWithTheNewSet()
    {
        var source = new EndpointSource("web");
        EndpointSet? seen = null;
        using var subscription = source.Subscribe(s => seen = s);

        var set = source.Publish(TestEndpoints.Make(2));

        Assert.Same(set, seen);
    }

    [Fact]
    public void Subscribe_Disposed_StopsNotifications()
    {
        var source = new EndpointSource("web");
        var notified = 0;
        var subscription = source.Subscribe(_ => notified++);
        subscription.Dispose();

        source.Publish(TestEndpoints.Make(2));

        Assert.Equal(0, notified);
    }

    [Fact]
    public void Staleness_GrowsWithTime_AndConfirmResetsIt()
    {
        var time = new FakeTimeProvider();
        var source = new EndpointSource("web", time);
        Assert.Null(source.Staleness());
        source.Publish(TestEndpoints.Make(1));

        time.Advance(TimeSpan.FromSeconds(47));
        Assert.Equal(TimeSpan.FromSeconds(47), source.Staleness());

        source.Confirm();
        Assert.Equal(TimeSpan.Zero, source.Staleness());
    }
}
