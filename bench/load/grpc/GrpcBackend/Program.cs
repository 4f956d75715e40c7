// The gRPC service for bench/load's gRPC scenario: bench.Echo/Unary answers every call with the same small message
// (13 bytes, as the HTTP/1.1 upstream's body). Messages are raw bytes and the method is bound by hand, so no code
// generation is needed. Usage: GrpcBackend 127.0.0.2:9001 (h2c, prior knowledge).
using System.Net;
using Grpc.AspNetCore.Server;
using Grpc.Core;
using Microsoft.AspNetCore.Server.Kestrel.Core;

var endpoint = IPEndPoint.Parse(args[0]);
var builder = WebApplication.CreateSlimBuilder();
builder.Logging.ClearProviders();
builder.WebHost.ConfigureKestrel(k =>
{
    k.AddServerHeader = false;
    k.Listen(endpoint, listen => listen.Protocols = HttpProtocols.Http2);
});
builder.Services.AddGrpc();
builder.Services.AddSingleton<EchoService>();
var app = builder.Build();
app.MapGrpcService<EchoService>();
app.Run();

/// <summary>What generated code would declare: grpc-dotnet binds the override named as the method (Unary).</summary>
[BindServiceMethod(typeof(EchoBase), nameof(Bind))]
internal abstract class EchoBase
{
    public static readonly Marshaller<byte[]> Bytes = Marshallers.Create(b => b, b => b);

    public static readonly Method<byte[], byte[]> UnaryMethod = new(MethodType.Unary, "bench.Echo", "Unary", Bytes, Bytes);

    public static void Bind(ServiceBinderBase binder, EchoBase? service) =>
        binder.AddMethod(UnaryMethod, (UnaryServerMethod<byte[], byte[]>)null!);

    public abstract Task<byte[]> Unary(byte[] request, ServerCallContext context);
}

internal sealed class EchoService : EchoBase
{
    private static readonly byte[] Reply = "Hello, World!"u8.ToArray();
    private static readonly Task<byte[]> Answer = Task.FromResult(Reply);

    public override Task<byte[]> Unary(byte[] request, ServerCallContext context) => Answer;
}
