using System.Net;
using System.Text.Json.Nodes;
using Grpc.Core;
using Grpc.Net.Client;
using LoadBalancing.Kubernetes.Tests.Support;
using LoadBalancing.Proxy.Kubernetes.Controller;
using LoadBalancing.Proxy.Kubernetes.Tests.Ingress;
using LoadBalancing.Proxy.Kubernetes.Tests.Support;
using LoadBalancing.Proxy.Tests.Support;
using static LoadBalancing.Kubernetes.Tests.Support.Objects;

namespace LoadBalancing.Proxy.Kubernetes.Tests.Controller;

/// <summary>
/// The Gateway API conformance suite's GRPCRoute cases end to end, named after them: the case's objects in a test API
/// server, a proxy acting as the Gateway controller with its listeners at their defaults, the suite's gRPC backends
/// (grpc-infra-backend-v1/v2/v3, Services whose port says <c>kubernetes.io/h2c</c>) as real grpc-dotnet servers on
/// 127.0.0.60-62, and real gRPC clients speaking prior-knowledge h2c to the Gateway's HTTP listener, the one HTTP/1.1
/// clients use. A call no route matches fails UNIMPLEMENTED (the proxy's 404), as the suite expects; every backend
/// serves every method, so that code can only come from the proxy.
/// </summary>
public sealed class GrpcRouteConformanceTests(GrpcRouteConformanceTests.Fixture fixture) : IClassFixture<GrpcRouteConformanceTests.Fixture>
{
    private const string V1 = "grpc-infra-backend-v1";
    private const string V2 = "grpc-infra-backend-v2";
    private const string V3 = "grpc-infra-backend-v3";

    [Fact]
    public async Task GRPCExactMethodMatching()
    {
        const int port = 9001;
        var ns = fixture.Infra("exact");
        fixture.Gateway(ns, "same-namespace", [new Listener("http", port)]);
        fixture.Server.Apply(ApiResource.GrpcRoutes, GrpcRoute("exact-matching", [new ParentRef("same-namespace")],
        [
            new GrpcRule([new GrpcMatch(GrpcEchoBackend.Service, "Echo")], [new BackendRef(V1, 8080)]),
            new GrpcRule([new GrpcMatch(Method: "EchoTwo")], [new BackendRef(V2, 8080)]),
        ], ns: ns));

        await fixture.UntilServedAsync(port, "Echo", V1);
        await fixture.ExpectAsync(port, "EchoTwo", V2);
        await fixture.ExpectCodeAsync(port, "EchoThree", StatusCode.Unimplemented);
        await fixture.RouteAcceptedAsync(ns, "exact-matching");
        await fixture.ListenerAsync(ns, "same-namespace", "http", attachedRoutes: 1);
    }

    [Fact]
    public async Task GRPCRouteHeaderMatching()
    {
        const int port = 9002;
        var ns = fixture.Infra("headers");
        fixture.Gateway(ns, "same-namespace", [new Listener("http", port)]);
        fixture.Server.Apply(ApiResource.GrpcRoutes, GrpcRoute("grpc-header-matching", [new ParentRef("same-namespace")],
        [
            new GrpcRule([new GrpcMatch(Headers: Map("version", "one"))], [new BackendRef(V1, 8080)]),
            new GrpcRule([new GrpcMatch(Headers: Map("version", "two"))], [new BackendRef(V2, 8080)]),
            new GrpcRule([new GrpcMatch(Headers: Map("version", "two", "color", "orange"))], [new BackendRef(V1, 8080)]),
            new GrpcRule([new GrpcMatch(Headers: Map("color", "blue")), new GrpcMatch(Headers: Map("color", "green"))], [new BackendRef(V1, 8080)]),
            new GrpcRule([new GrpcMatch(Headers: Map("color", "red")), new GrpcMatch(Headers: Map("color", "yellow"))], [new BackendRef(V2, 8080)]),
        ], ns: ns));

        await fixture.UntilServedAsync(port, "Echo", V1, metadata: Map("version", "one"));
        await fixture.ExpectAsync(port, "Echo", V2, metadata: Map("version", "two"));
        await fixture.ExpectAsync(port, "Echo", V1, metadata: Map("version", "two", "color", "orange"));
        await fixture.ExpectAsync(port, "Echo", V2, metadata: Map("version", "two", "color", "blue"));
        await fixture.ExpectCodeAsync(port, "Echo", StatusCode.Unimplemented, metadata: Map("color", "orange"));
        await fixture.ExpectCodeAsync(port, "Echo", StatusCode.Unimplemented, metadata: Map("some-other-header", "one"));
        await fixture.ExpectAsync(port, "Echo", V1, metadata: Map("color", "blue"));
        await fixture.ExpectAsync(port, "Echo", V1, metadata: Map("color", "green"));
        await fixture.ExpectAsync(port, "Echo", V2, metadata: Map("color", "red"));
        await fixture.ExpectAsync(port, "Echo", V2, metadata: Map("color", "yellow"));
        await fixture.ExpectCodeAsync(port, "Echo", StatusCode.Unimplemented, metadata: Map("color", "purple"));
        await fixture.RouteAcceptedAsync(ns, "grpc-header-matching");
    }

    [Fact]
    public async Task GRPCRouteListenerHostnameMatching()
    {
        const int port = 9003;
        var ns = fixture.Infra("hostnames");
        fixture.Gateway(ns, "grpcroute-listener-hostname-matching",
        [
            new Listener("listener-1", port, Hostname: "bar.com"),
            new Listener("listener-2", port, Hostname: "foo.bar.com"),
            new Listener("listener-3", port, Hostname: "*.bar.com"),
            new Listener("listener-4", port, Hostname: "*.foo.com"),
        ]);
        const string gateway = "grpcroute-listener-hostname-matching";
        fixture.Server.Apply(ApiResource.GrpcRoutes, GrpcRoute("backend-v1", [new ParentRef(gateway, SectionName: "listener-1")], [new GrpcRule(BackendRefs: [new BackendRef(V1, 8080)])], ns: ns));
        fixture.Server.Apply(ApiResource.GrpcRoutes, GrpcRoute("backend-v2", [new ParentRef(gateway, SectionName: "listener-2")], [new GrpcRule(BackendRefs: [new BackendRef(V2, 8080)])], ns: ns));
        fixture.Server.Apply(ApiResource.GrpcRoutes, GrpcRoute("backend-v3", [new ParentRef(gateway, SectionName: "listener-3"), new ParentRef(gateway, SectionName: "listener-4")], [new GrpcRule(BackendRefs: [new BackendRef(V3, 8080)])], ns: ns));

        await fixture.UntilServedAsync(port, "Echo", V3, "multiple.prefixes.foo.com");
        await fixture.ExpectAsync(port, "Echo", V1, "bar.com");
        await fixture.ExpectAsync(port, "Echo", V2, "foo.bar.com");
        foreach (var host in new[] { "baz.bar.com", "boo.bar.com", "multiple.prefixes.bar.com", "multiple.prefixes.foo.com" })
        {
            await fixture.ExpectAsync(port, "Echo", V3, host);
        }

        await fixture.ExpectCodeAsync(port, "Echo", StatusCode.Unimplemented, "foo.com");
        await fixture.ExpectCodeAsync(port, "Echo", StatusCode.Unimplemented, "no.matching.host");
        await fixture.RouteAcceptedAsync(ns, "backend-v3");
    }

    [Fact]
    public async Task GRPCRouteWeight()
    {
        const int port = 9004;
        var ns = fixture.Infra("weight");
        fixture.Gateway(ns, "same-namespace", [new Listener("http", port)]);
        fixture.Server.Apply(ApiResource.GrpcRoutes, GrpcRoute("weighted-backends", [new ParentRef("same-namespace")],
            [new GrpcRule(BackendRefs: [new BackendRef(V1, 8080, 70), new BackendRef(V2, 8080, 30), new BackendRef(V3, 8080, 0)])], ns: ns));

        await fixture.UntilAsync(async () => (await fixture.CallAsync(port, "Echo")).Answer is V1 or V2);
        var counts = new Dictionary<string, int> { [V1] = 0, [V2] = 0, [V3] = 0 };
        for (var i = 0; i < 100; i++)
        {
            var (_, answer) = await fixture.CallAsync(port, "Echo");
            counts[answer!]++;
        }

        // 70:30:0 over 100 calls: v1 falls to 50 or below with a probability under 1e-5 (binomial, p = 0.7).
        Assert.Equal(0, counts[V3]);
        Assert.InRange(counts[V1], 51, 95);
        Assert.InRange(counts[V2], 5, 49);
    }

    [Fact]
    public async Task GRPCRouteAndHTTPRoute_ShareTheHttpListener_HeaderModifiersApplyToCalls()
    {
        const int port = 9005;
        var ns = fixture.Infra("shared");
        fixture.Gateway(ns, "same-namespace", [new Listener("http", port)]);
        fixture.Server.Apply(ApiResource.GrpcRoutes, GrpcRoute("grpc", [new ParentRef("same-namespace")],
        [
            new GrpcRule([new GrpcMatch(GrpcEchoBackend.Service, "Echo")], [new BackendRef(V1, 8080)],
                [RequestHeaderModifier(set: Map("x-header-set", "set"), add: Map("x-header-add", "added"), remove: ["x-header-remove"]), ResponseHeaderModifier(set: Map("x-response-set", "yes"))]),
        ], ns: ns));
        fixture.WebBackend(ns);
        fixture.Server.Apply(ApiResource.HttpRoutes, HttpRoute("web", [new ParentRef("same-namespace")], [new RouteRule([new RouteMatch("/web")], [new BackendRef("web-backend", 80)])], ns: ns));

        await fixture.UntilServedAsync(port, "Echo", V1);
        await fixture.UntilAsync(async () => (await fixture.GetAsync(port, "/web")).Body == "web-backend");

        var before = fixture.Backend(V1).Calls.Count;
        var (headers, answer) = await fixture.CallWithHeadersAsync(port, "Echo", Map("x-header-set", "old", "x-header-remove", "gone"));
        Assert.Equal(V1, answer);
        Assert.Equal("yes", headers.GetValue("x-response-set"));
        var seen = fixture.Backend(V1).Calls.Skip(before).Single().Headers;
        Assert.Equal(("set", "added", null), (seen.GetValue("x-header-set"), seen.GetValue("x-header-add"), seen.GetValue("x-header-remove")));

        // HTTP/1.1 on the same port still reaches the HTTPRoute, and the gRPC call's HTTP/2 connection stays HTTP/2.
        var web = await fixture.GetAsync(port, "/web");
        Assert.Equal((HttpVersion.Version11, 200, "web-backend"), (web.Version, web.Status, web.Body));
        await fixture.RouteAcceptedAsync(ns, "grpc");
        await fixture.ListenerAsync(ns, "same-namespace", "http", attachedRoutes: 2);
    }

    private static Dictionary<string, string> Map(params string[] pairs)
    {
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i < pairs.Length; i += 2)
        {
            map[pairs[i]] = pairs[i + 1];
        }

        return map;
    }

    /// <summary>
    /// The backends, a test API server holding our GatewayClass, and a proxy whose listeners (at their default
    /// protocols) serve Gateway listener ports 9001-9010, each on a local port of its own.
    /// </summary>
    public sealed class Fixture : IAsyncLifetime
    {
        private const string ClassName = "conformance";
        private const string ControllerName = "loadbalancing.dev/gateway-controller";
        private static readonly int[] GatewayPorts = [.. Enumerable.Range(9001, 10)];

        private Dictionary<int, int> _localPorts = [];
        private readonly Dictionary<int, GrpcChannel> _channels = [];
        private GrpcEchoBackend[] _backends = [];
        private TestBackend? _web;

        internal FakeApiServer Server { get; private set; } = null!;

        internal ControllerHost Host { get; private set; } = null!;

        private RoutingController Controller => Host.Controllers.Gateway!;

        public async ValueTask InitializeAsync()
        {
            _backends =
            [
                await GrpcEchoBackend.StartAsync(V1, "127.0.0.60"),
                await GrpcEchoBackend.StartAsync(V2, "127.0.0.61"),
                await GrpcEchoBackend.StartAsync(V3, "127.0.0.62"),
            ];
            _web = await TestBackend.StartAsync("web-backend", "127.0.0.63", context => Microsoft.AspNetCore.Http.HttpResponseWritingExtensions.WriteAsync(context.Response, "web-backend"));
            Server = await FakeApiServer.StartAsync();
            Server.Apply(ApiResource.GatewayClasses, GatewayClass(ClassName, ControllerName));
            (Host, _localPorts) = await ControllerHost.StartGatewayAsync(Server, ControllerName, GatewayPorts);
        }

        internal GrpcEchoBackend Backend(string name) => _backends.Single(b => b.Name == name);

        /// <summary>A namespace holding Services grpc-infra-backend-v1/v2/v3 (port 8080, appProtocol kubernetes.io/h2c) whose EndpointSlices point at the backends.</summary>
        internal string Infra(string ns)
        {
            foreach (var backend in _backends)
            {
                Server.Apply(ApiResource.Services, Service(backend.Name, [new ServicePort(null, 8080, backend.EndPoint.Port, AppProtocol: "kubernetes.io/h2c")], ns));
                Server.Apply(ns, Slices.Slice($"{backend.Name}-1", backend.Name, [new([backend.EndPoint.Address.ToString()])], [(null, backend.EndPoint.Port)]));
            }

            return ns;
        }

        /// <summary>Service web-backend (port 80, HTTP/1.1) in <paramref name="ns"/>.</summary>
        internal void WebBackend(string ns) => IngressControllerTests.Pods(Server, ns, ("web-backend", _web!));

        internal void Gateway(string ns, string name, Listener[] listeners) =>
            Server.Apply(ApiResource.Gateways, Objects.Gateway(name, ClassName, listeners, ns));

        /// <summary>A unary call of <paramref name="method"/> through the proxy's local port for Gateway listener port <paramref name="gatewayPort"/>, with <c>:authority</c> <paramref name="host"/>.</summary>
        internal async Task<(StatusCode Code, string? Answer)> CallAsync(int gatewayPort, string method, string host = "grpc.conformance.test", IReadOnlyDictionary<string, string>? metadata = null)
        {
            try
            {
                var (_, answer) = await CallWithHeadersAsync(gatewayPort, method, metadata, host);
                return (StatusCode.OK, answer);
            }
            catch (RpcException e)
            {
                return (e.StatusCode, null);
            }
        }

        /// <summary>A unary call; its response headers and answer (throws <see cref="RpcException"/> on failure).</summary>
        internal async Task<(Metadata Headers, string Answer)> CallWithHeadersAsync(int gatewayPort, string method, IReadOnlyDictionary<string, string>? metadata = null, string host = "grpc.conformance.test")
        {
            var headers = new Metadata();
            foreach (var (name, value) in metadata ?? new Dictionary<string, string>())
            {
                headers.Add(name, value);
            }

            using var call = Channel(gatewayPort, host).CreateCallInvoker().AsyncUnaryCall(
                GrpcEchoBackend.Method(method), null, new CallOptions(headers, DateTime.UtcNow.AddSeconds(10), TestContext.Current.CancellationToken), "hello");
            var answer = await call.ResponseAsync;
            return (await call.ResponseHeadersAsync, answer);
        }

        internal async Task ExpectAsync(int gatewayPort, string method, string backend, string host = "grpc.conformance.test", IReadOnlyDictionary<string, string>? metadata = null)
        {
            var (code, answer) = await CallAsync(gatewayPort, method, host, metadata);
            Assert.Equal((host, method, StatusCode.OK, backend), (host, method, code, answer));
        }

        internal async Task ExpectCodeAsync(int gatewayPort, string method, StatusCode code, string host = "grpc.conformance.test", IReadOnlyDictionary<string, string>? metadata = null)
        {
            var served = _backends.Sum(b => b.Calls.Count);
            Assert.Equal((host, method, code), (host, method, (await CallAsync(gatewayPort, method, host, metadata)).Code));
            Assert.Equal(served, _backends.Sum(b => b.Calls.Count));
        }

        /// <summary>Waits (rebuild by rebuild, bounded) until <paramref name="backend"/> answers the call.</summary>
        internal Task UntilServedAsync(int gatewayPort, string method, string backend, string host = "grpc.conformance.test", IReadOnlyDictionary<string, string>? metadata = null) =>
            UntilAsync(async () => (await CallAsync(gatewayPort, method, host, metadata)).Answer == backend);

        internal Task UntilAsync(Func<Task<bool>> check) => ControllerHost.UntilAsync(Controller, check);

        /// <summary>An HTTP/1.1 GET on the same local port.</summary>
        internal async Task<(Version Version, int Status, string Body)> GetAsync(int gatewayPort, string path)
        {
            using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
            using var response = await client.GetAsync($"http://127.0.0.1:{_localPorts[gatewayPort]}{path}", TestContext.Current.CancellationToken);
            return (response.Version, (int)response.StatusCode, await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        }

        internal async Task RouteAcceptedAsync(string ns, string name)
        {
            static bool Holds(JsonObject? route, string type, string reason) =>
                route?["status"]?["parents"]?.AsArray().FirstOrDefault()?["conditions"]?.AsArray()
                    .Any(c => c?["type"]?.GetValue<string>() == type && c["status"]?.GetValue<string>() == "True" && c["reason"]?.GetValue<string>() == reason) == true;
            await WaitAsync(ApiResource.GrpcRoutes, ns, name, o => Holds(o, "Accepted", "Accepted") && Holds(o, "ResolvedRefs", "ResolvedRefs"));
        }

        internal Task ListenerAsync(string ns, string gateway, string listener, int attachedRoutes) =>
            WaitAsync(ApiResource.Gateways, ns, gateway, o => o?["status"]?["listeners"]?.AsArray()
                .FirstOrDefault(l => l?["name"]?.GetValue<string>() == listener)?["attachedRoutes"]?.GetValue<int>() == attachedRoutes);

        private async Task WaitAsync(ApiResource resource, string ns, string name, Func<JsonObject?, bool> condition)
        {
            try
            {
                await Server.WaitForAsync(resource, ns, name, condition, TestContext.Current.CancellationToken)
                    .WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
            }
            catch (TimeoutException)
            {
                Assert.Fail($"{resource.Kind} {ns}/{name} never reached the expected state; it is now: {Server.Get(resource, ns, name)?["status"]?.ToJsonString() ?? "(no status)"}");
            }
        }

        /// <summary>One channel per listener port and host, as a gRPC client keeps one: every call of it shares an HTTP/2 connection.</summary>
        private GrpcChannel Channel(int gatewayPort, string host)
        {
            var key = HashCode.Combine(gatewayPort, host);
            lock (_channels)
            {
                if (!_channels.TryGetValue(key, out var channel))
                {
                    var handler = new AuthorityHandler(host) { InnerHandler = new SocketsHttpHandler { UseProxy = false } };
                    channel = GrpcChannel.ForAddress($"http://127.0.0.1:{_localPorts[gatewayPort]}", new GrpcChannelOptions { HttpHandler = handler });
                    _channels[key] = channel;
                }

                return channel;
            }
        }

        public async ValueTask DisposeAsync()
        {
            foreach (var channel in _channels.Values)
            {
                channel.Dispose();
            }

            if (Host is not null)
            {
                await Host.DisposeAsync();
            }

            if (Server is not null)
            {
                await Server.DisposeAsync();
            }

            foreach (var backend in _backends)
            {
                await backend.DisposeAsync();
            }

            if (_web is not null)
            {
                await _web.DisposeAsync();
            }
        }
    }
}
