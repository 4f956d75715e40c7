// Usage: FloorServer kestrel|kestrel-epoll|transport|epoll <port>
//        FloorServer epoll-proxy <port> <host:port>,<host:port>,...
//   kestrel    ASP.NET Core on Kestrel: a request delegate writes the body (what a proxy on Kestrel pays per
//              request before it does any proxying).
//   kestrel-epoll  the same request delegate on Kestrel over our event-loop transport (LoadBalancing.Proxy's
//              Transport/EventLoop: one epoll thread per core, connection I/O and the request inline on it).
//   transport  Kestrel's socket transport with a connection handler and no HTTP layer: finds each request's end
//              and writes a fixed response.
//   epoll      one thread, one epoll set, non-blocking recv and send on the raw descriptors: the same work with
//              no System.Net.Sockets, thread pool or pipes.
//   epoll-proxy  the same loop forwarding each request to the upstreams, round-robin, over pooled connections: the
//              least a proxy on an event loop of its own can cost (EpollProxy).
using System.Net;
using FloorServer;
using Microsoft.AspNetCore.Connections;

var mode = args.Length >= 2 ? args[0] : throw new ArgumentException("usage: FloorServer kestrel|kestrel-epoll|transport|epoll|epoll-proxy <port> [upstreams]");
var port = int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture);

if (mode == "epoll-proxy")
{
    EpollProxy.Run(port, [.. args[2].Split(',').Select(IPEndPoint.Parse)]);
    return;
}

if (mode == "epoll")
{
    EpollServer.Run(port);
    return;
}

var builder = WebApplication.CreateSlimBuilder();
builder.Logging.ClearProviders();
if (mode == "kestrel-epoll")
{
    builder.Services.AddSingleton<IConnectionListenerFactory, LoadBalancing.Proxy.Transport.EventLoop.EventLoopTransportFactory>();
}

builder.WebHost.ConfigureKestrel(kestrel =>
{
    kestrel.AddServerHeader = false;
    kestrel.Listen(IPAddress.Loopback, port, listen =>
    {
        if (mode == "transport")
        {
            listen.UseConnectionHandler<FixedResponseHandler>();
        }
    });
});
var app = builder.Build();
app.Run(context =>
{
    context.Response.ContentType = "text/plain";
    context.Response.ContentLength = Responses.Body.Length;
    return context.Response.Body.WriteAsync(Responses.Body, 0, Responses.Body.Length);
});
app.Run();
