using System.Collections.Concurrent;
using System.Net;
using System.Text;
using Grpc.AspNetCore.Server;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace LoadBalancing.Proxy.Kubernetes.Tests.Support;

/// <summary>
/// What the Gateway API conformance suite's gRPC echo server does that its GRPCRoute cases need: a real gRPC server
/// (grpc-dotnet, h2c without TLS) on a loopback address standing in for a pod, serving
/// <c>gateway_api_conformance.echo_basic.grpcecho.GrpcEcho</c> with <c>Echo</c>, <c>EchoTwo</c> and <c>EchoThree</c>
/// (all three, so that UNIMPLEMENTED can only come from the proxy finding no route). Each answers the backend's name
/// and records the call's method and metadata. String messages, methods bound by hand: no code generation.
/// </summary>
internal sealed class GrpcEchoBackend : IAsyncDisposable
{
    public const string Service = "gateway_api_conformance.echo_basic.grpcecho.GrpcEcho";

    private static readonly Marshaller<string> Text = Marshallers.Create(s => Encoding.UTF8.GetBytes(s), b => Encoding.UTF8.GetString(b));

    private readonly WebApplication _app;

    private GrpcEchoBackend(WebApplication app, string name, IPEndPoint endPoint)
    {
        _app = app;
        Name = name;
        EndPoint = endPoint;
    }

    public string Name { get; }

    public IPEndPoint EndPoint { get; }

    /// <summary>The calls served: method name and request metadata.</summary>
    public ConcurrentQueue<(string Method, Metadata Headers)> Calls { get; } = new();

    public static Method<string, string> Method(string name) => new(MethodType.Unary, Service, name, Text, Text);

    public static async Task<GrpcEchoBackend> StartAsync(string name, string ip)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Parse(ip), 0, listen => listen.Protocols = HttpProtocols.Http2));
        builder.Services.AddGrpc();
        var service = new EchoService(name);
        builder.Services.AddSingleton(service);
        var app = builder.Build();
        app.MapGrpcService<EchoService>();
        await app.StartAsync();
        var bound = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
        var self = new GrpcEchoBackend(app, name, new IPEndPoint(IPAddress.Parse(ip), bound.Port));
        service.Owner = self;
        return self;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync(new CancellationToken(canceled: true));
        await _app.DisposeAsync();
    }

    /// <summary>What generated code would declare: grpc-dotnet binds the overrides of these virtual methods.</summary>
    [BindServiceMethod(typeof(EchoBase), nameof(Bind))]
    internal abstract class EchoBase
    {
        public static void Bind(ServiceBinderBase binder, EchoBase? service)
        {
            binder.AddMethod(Method("Echo"), (UnaryServerMethod<string, string>)null!);
            binder.AddMethod(Method("EchoTwo"), (UnaryServerMethod<string, string>)null!);
            binder.AddMethod(Method("EchoThree"), (UnaryServerMethod<string, string>)null!);
        }

        public abstract Task<string> Echo(string request, ServerCallContext context);

        public abstract Task<string> EchoTwo(string request, ServerCallContext context);

        public abstract Task<string> EchoThree(string request, ServerCallContext context);
    }

    internal sealed class EchoService(string name) : EchoBase
    {
        public GrpcEchoBackend? Owner { get; set; }

        public override Task<string> Echo(string request, ServerCallContext context) => Answer("Echo", context);

        public override Task<string> EchoTwo(string request, ServerCallContext context) => Answer("EchoTwo", context);

        public override Task<string> EchoThree(string request, ServerCallContext context) => Answer("EchoThree", context);

        private Task<string> Answer(string method, ServerCallContext context)
        {
            Owner?.Calls.Enqueue((method, context.RequestHeaders));
            return Task.FromResult(name);
        }
    }
}
