using Grpc.Core;
using Grpc.Net.Client;
using Grpc.Net.Client.Balancer;
using Grpc.Net.Client.Configuration;
using LoadBalancing.Grpc.Internal;
using LoadBalancing.Proxy.Tests.Support;
using Microsoft.Extensions.DependencyInjection;

namespace LoadBalancing.Grpc.Tests.Support;

/// <summary>
/// A grpc-dotnet channel built the way an application builds one: a container with this package's policies and a
/// resolver, the policy chosen in the channel's service config, the feedback handler around SocketsHttpHandler. It
/// captures the core balancer the policy creates, so tests can read endpoint state and await picker changes.
/// </summary>
internal sealed class TestChannel : IAsyncDisposable
{
    public static readonly TimeSpan Bound = TimeSpan.FromSeconds(15);

    private readonly ServiceProvider _services;
    private readonly TaskCompletionSource<CoreSubchannelsBalancer> _created = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private TestChannel(ServiceProvider services, string target, LoadBalancingConfig config, bool feedback)
    {
        _services = services;
        foreach (var factory in services.GetServices<LoadBalancerFactory>().OfType<CoreLoadBalancerFactory>())
        {
            factory.Created += b => _created.TrySetResult(b);
        }

        Channel = GrpcChannel.ForAddress(target, new GrpcChannelOptions
        {
            Credentials = ChannelCredentials.Insecure,
            ServiceProvider = services,
            ServiceConfig = new ServiceConfig { LoadBalancingConfigs = { config } },
            HttpHandler = feedback ? new LoadBalancingFeedbackHandler() : new SocketsHttpHandler { EnableMultipleHttp2Connections = true },
        });
        Invoker = Channel.CreateCallInvoker();
    }

    public GrpcChannel Channel { get; }

    public CallInvoker Invoker { get; }

    /// <summary>A channel whose target resolves through an <see cref="EndpointSource"/> (scheme <c>lb</c>).</summary>
    public static TestChannel ForSource(EndpointSource source, LoadBalancingConfig config, Action<BalancerOptions>? configure = null, bool feedback = true, TimeProvider? time = null)
    {
        var collection = new ServiceCollection();
        if (time is not null)
        {
            collection.AddSingleton(time);
        }

        var services = collection
            .AddLoadBalancingGrpc(configure)
            .AddLoadBalancingGrpcResolver("lb", (_, _) => source)
            .BuildServiceProvider();
        return new TestChannel(services, "lb:///" + source.Name, config, feedback);
    }

    /// <summary>A channel over a container the caller filled (for the k8s:/// resolver).</summary>
    public static TestChannel ForServices(ServiceProvider services, string target, LoadBalancingConfig config) => new(services, target, config, feedback: true);

    /// <summary>The core balancer of the channel's policy; the channel creates it on its first resolver result.</summary>
    public async Task<Balancer> BalancerAsync()
    {
        _ = Channel.ConnectAsync(TestContext.Current.CancellationToken);
        var balancer = await _created.Task.WaitAsync(Bound, TestContext.Current.CancellationToken);
        return balancer.Balancer;
    }

    /// <summary>Waits until the policy's picker follows exactly these ready backends: what the next pick chooses from.</summary>
    public async Task<Balancer> WhenReadyAsync(params GrpcBackend[] backends)
    {
        var balancer = await BalancerAsync();
        var expected = backends.Select(b => (b.Ip, b.Port)).OrderBy(e => e).ToArray();
        var reached = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        void Check(EndpointSet set)
        {
            if (set.Endpoints.Select(e => (e.Address, e.Port)).OrderBy(e => e).SequenceEqual(expected))
            {
                reached.TrySetResult();
            }
        }

        using (balancer.Source.Subscribe(Check))
        {
            Check(balancer.Source.Current);
            try
            {
                await reached.Task.WaitAsync(Bound, TestContext.Current.CancellationToken);
            }
            catch (TimeoutException)
            {
                throw new Xunit.Sdk.XunitException($"the picker never followed [{string.Join(", ", expected)}]; it has [{string.Join(", ", balancer.Source.Current.Endpoints)}]");
            }
        }

        return balancer;
    }

    public async Task<string> CallAsync(string request, string? user = null)
    {
        var headers = user is null ? null : new Metadata { { "x-user", user } };
        using var call = Invoker.AsyncUnaryCall(GrpcBackend.Unary, null, new CallOptions(headers, DateTime.UtcNow + Bound, TestContext.Current.CancellationToken), request);
        return await call.ResponseAsync;
    }

    /// <summary>Calls and returns the name of the backend that answered.</summary>
    public async Task<string> WhoAnswersAsync(string? user = null) => (await CallAsync("hi", user)).Split(':')[0];

    public async ValueTask DisposeAsync()
    {
        Channel.Dispose();
        await _services.DisposeAsync();
    }

    /// <summary>The balancer's outlier detection record of <paramref name="backend"/>.</summary>
    public static OutlierState OutlierOf(Balancer balancer, GrpcBackend backend) => balancer.GetOutlierState(StateOf(balancer, backend))!;

    public static EndpointState StateOf(Balancer balancer, GrpcBackend backend)
    {
        var set = balancer.Source.Current;
        for (var i = 0; i < set.Count; i++)
        {
            if (set.Endpoints[i].Address == backend.Ip && set.Endpoints[i].Port == backend.Port)
            {
                return set.States[i];
            }
        }

        throw new Xunit.Sdk.XunitException($"{backend.Name} is not among the balancer's endpoints");
    }

    /// <summary>
    /// Waits (bounded) until every endpoint has no call in flight: a call's pick completes when grpc-dotnet lets go of
    /// the response, which may be just after the call's task completes.
    /// </summary>
    public static async Task WhenIdleAsync(Balancer balancer)
    {
        var deadline = DateTime.UtcNow + Bound;
        while (balancer.Source.Current.States.Any(s => s.InFlight != 0))
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new Xunit.Sdk.XunitException("calls stayed in flight: " + string.Join(", ", balancer.Source.Current.States.Select(s => s.InFlight)));
            }

            await Task.Delay(10, TestContext.Current.CancellationToken);
        }
    }
}
