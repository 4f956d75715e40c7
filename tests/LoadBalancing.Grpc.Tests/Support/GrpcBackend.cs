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

namespace LoadBalancing.Grpc.Tests.Support;

/// <summary>
/// A real gRPC server (grpc-dotnet on Kestrel, h2c) on a loopback address standing in for a pod (the pattern of the
/// proxy tests' backend). Its service, <c>test.Echo</c>, has string messages and its methods bound by hand, so no code
/// generation is needed: <c>Unary</c> answers "name:request" after <see cref="Delay"/>, and fails with UNAVAILABLE
/// when the request is "fail" or <see cref="Failing"/> is set; <c>Count</c> streams "name:1".."name:N" and then fails
/// with UNAVAILABLE when the request ends in "!" (the status then travels in the trailers).
/// </summary>
internal sealed class GrpcBackend : IAsyncDisposable
{
    private readonly WebApplication _app;

    private GrpcBackend(WebApplication app, string name, IPEndPoint endPoint)
    {
        _app = app;
        Name = name;
        EndPoint = endPoint;
    }

    public string Name { get; }

    public IPEndPoint EndPoint { get; }

    public string Ip => EndPoint.Address.ToString();

    public int Port => EndPoint.Port;

    /// <summary>How many calls this backend served.</summary>
    public int Calls => _calls;

    private int _calls;

    /// <summary>How long each unary call takes before it answers.</summary>
    public TimeSpan Delay { get; set; }

    /// <summary>Whether every unary call fails with UNAVAILABLE.</summary>
    public bool Failing { get; set; }

    public static readonly Marshaller<string> Text = Marshallers.Create(s => Encoding.UTF8.GetBytes(s), b => Encoding.UTF8.GetString(b));

    public static readonly Method<string, string> Unary = new(MethodType.Unary, "test.Echo", "Unary", Text, Text);

    public static readonly Method<string, string> Count = new(MethodType.ServerStreaming, "test.Echo", "Count", Text, Text);

    public static async Task<GrpcBackend> StartAsync(string name, string ip)
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
        var self = new GrpcBackend(app, name, new IPEndPoint(IPAddress.Parse(ip), bound.Port));
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
            binder.AddMethod(GrpcBackend.Unary, (UnaryServerMethod<string, string>)null!);
            binder.AddMethod(GrpcBackend.Count, (ServerStreamingServerMethod<string, string>)null!);
        }

        public abstract Task<string> Unary(string request, ServerCallContext context);

        public abstract Task Count(string request, IServerStreamWriter<string> responses, ServerCallContext context);
    }

    internal sealed class EchoService(string name) : EchoBase
    {
        public GrpcBackend? Owner { get; set; }

        public override async Task<string> Unary(string request, ServerCallContext context)
        {
            Interlocked.Increment(ref Owner!._calls);
            if (request == "fail" || Owner.Failing)
            {
                throw new RpcException(new Status(StatusCode.Unavailable, $"{name} is unavailable"));
            }

            if (Owner.Delay > TimeSpan.Zero)
            {
                await Task.Delay(Owner.Delay, context.CancellationToken);
            }

            return $"{name}:{request}";
        }

        public override async Task Count(string request, IServerStreamWriter<string> responses, ServerCallContext context)
        {
            Interlocked.Increment(ref Owner!._calls);
            var fail = request.EndsWith('!');
            for (var i = 1; i <= int.Parse(request.TrimEnd('!'), System.Globalization.CultureInfo.InvariantCulture); i++)
            {
                await responses.WriteAsync($"{name}:{i}", context.CancellationToken);
            }

            if (fail)
            {
                throw new RpcException(new Status(StatusCode.Unavailable, $"{name} broke off the stream"));
            }
        }
    }
}
