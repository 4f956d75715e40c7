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

// Also compiled into LoadBalancing.Grpc.Tests (linked), so that the proxy's and the channel's gRPC tests call one
// service that behaves the same.
namespace LoadBalancing.Proxy.Tests.Support;

/// <summary>
/// A real gRPC server (grpc-dotnet on Kestrel, h2c) on a loopback address standing in for a pod. Its service,
/// <c>test.Echo</c>, has string messages and its methods bound by hand, so no code generation is needed:
/// <c>Unary</c> answers "name:request" after <see cref="Delay"/> (and fails with UNAVAILABLE when the request is
/// "fail" or <see cref="Failing"/> is set, waits for the call's cancellation when it is "hang"); <c>Count</c> streams
/// "name:1".."name:N" and then fails with UNAVAILABLE when the request ends in "!" (the status then travels in the
/// trailers); <c>Chat</c> echoes each message with the name and ends when the client does.
/// </summary>
internal sealed class GrpcBackend : IAsyncDisposable
{
    private readonly WebApplication _app;
    private int _stopped;

    private GrpcBackend(WebApplication app, string name, IPEndPoint endPoint, string address)
    {
        _app = app;
        Name = name;
        EndPoint = endPoint;
        Address = address;
    }

    public string Name { get; }

    public IPEndPoint EndPoint { get; }

    public string Ip => EndPoint.Address.ToString();

    public int Port => EndPoint.Port;

    /// <summary>ip:port.</summary>
    public string Address { get; }

    /// <summary>The calls this backend served, by method name.</summary>
    public ConcurrentQueue<string> Calls { get; } = new();

    /// <summary>Released once per call as it starts.</summary>
    public SemaphoreSlim CallStarted { get; } = new(0);

    /// <summary>Metadata (request headers) of the calls, in order.</summary>
    public ConcurrentQueue<Metadata> Headers { get; } = new();

    /// <summary>How long each unary call takes before it answers.</summary>
    public TimeSpan Delay { get; set; }

    /// <summary>Whether every unary call fails with UNAVAILABLE.</summary>
    public bool Failing { get; set; }

    public static readonly Marshaller<string> Text = Marshallers.Create(s => Encoding.UTF8.GetBytes(s), b => Encoding.UTF8.GetString(b));

    public static readonly Method<string, string> Unary = new(MethodType.Unary, "test.Echo", "Unary", Text, Text);

    public static readonly Method<string, string> Count = new(MethodType.ServerStreaming, "test.Echo", "Count", Text, Text);

    public static readonly Method<string, string> Chat = new(MethodType.DuplexStreaming, "test.Echo", "Chat", Text, Text);

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
        var self = new GrpcBackend(app, name, new IPEndPoint(IPAddress.Parse(ip), bound.Port), bound.Authority);
        service.Owner = self;
        return self;
    }

    /// <summary>Stops at once: open connections and calls in progress are cut, as when a pod is killed.</summary>
    public async Task KillAsync()
    {
        if (Interlocked.Exchange(ref _stopped, 1) != 0)
        {
            return;
        }

        await _app.StopAsync(new CancellationToken(canceled: true));
        await _app.DisposeAsync();
    }

    // A graceful stop would wait for calls still in progress (a "hang" call, a delayed one): teardown kills instead.
    public async ValueTask DisposeAsync() => await KillAsync();

    /// <summary>What generated code would declare: grpc-dotnet binds the overrides of these virtual methods.</summary>
    [BindServiceMethod(typeof(EchoBase), nameof(Bind))]
    internal abstract class EchoBase
    {
        public static void Bind(ServiceBinderBase binder, EchoBase? service)
        {
            binder.AddMethod(GrpcBackend.Unary, (UnaryServerMethod<string, string>)null!);
            binder.AddMethod(GrpcBackend.Count, (ServerStreamingServerMethod<string, string>)null!);
            binder.AddMethod(GrpcBackend.Chat, (DuplexStreamingServerMethod<string, string>)null!);
        }

        public abstract Task<string> Unary(string request, ServerCallContext context);

        public abstract Task Count(string request, IServerStreamWriter<string> responses, ServerCallContext context);

        public abstract Task Chat(IAsyncStreamReader<string> requests, IServerStreamWriter<string> responses, ServerCallContext context);
    }

    internal sealed class EchoService(string name) : EchoBase
    {
        public GrpcBackend? Owner { get; set; }

        public override async Task<string> Unary(string request, ServerCallContext context)
        {
            Seen("Unary", context);
            if (request == "fail" || Owner?.Failing == true)
            {
                throw new RpcException(new Status(StatusCode.Unavailable, $"{name} is unavailable"));
            }

            if (request == "hang")
            {
                await Task.Delay(Timeout.Infinite, context.CancellationToken);
            }

            var delay = Owner?.Delay ?? TimeSpan.Zero;
            if (delay > TimeSpan.Zero)
            {
                await Task.Delay(delay, context.CancellationToken);
            }

            return $"{name}:{request}";
        }

        public override async Task Count(string request, IServerStreamWriter<string> responses, ServerCallContext context)
        {
            Seen("Count", context);
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

        public override async Task Chat(IAsyncStreamReader<string> requests, IServerStreamWriter<string> responses, ServerCallContext context)
        {
            Seen("Chat", context);
            await foreach (var message in requests.ReadAllAsync(context.CancellationToken))
            {
                await responses.WriteAsync($"{name}:{message}", context.CancellationToken);
            }
        }

        private void Seen(string method, ServerCallContext context)
        {
            Owner?.Calls.Enqueue(method);
            Owner?.Headers.Enqueue(context.RequestHeaders);
            Owner?.CallStarted.Release();
        }
    }
}
