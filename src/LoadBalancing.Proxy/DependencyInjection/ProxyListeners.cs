using System.Net;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace LoadBalancing.Proxy;

/// <summary>
/// The Kestrel endpoints the proxy and its admin endpoint listen on. After the server has started, the
/// end points carry the bound ports (useful with port 0).
/// </summary>
public sealed class ProxyListeners
{
    private readonly List<ListenOptions> _proxy = [];

    /// <summary>The proxy's listen options, in configuration order.</summary>
    public IReadOnlyList<ListenOptions> Proxy => _proxy;

    /// <summary>The admin endpoint's listen options, or null when the admin endpoint is off.</summary>
    public ListenOptions? Admin { get; private set; }

    /// <summary>The bound address of the first proxy listener.</summary>
    public IPEndPoint? ProxyEndPoint => _proxy.Count > 0 ? _proxy[0].IPEndPoint : null;

    /// <summary>The bound address of the admin endpoint.</summary>
    public IPEndPoint? AdminEndPoint => Admin?.IPEndPoint;

    internal void AddProxy(ListenOptions options) => _proxy.Add(options);

    internal void SetAdmin(ListenOptions options) => Admin = options;

    internal bool IsAdmin(int localPort) => Admin?.IPEndPoint is { } admin && admin.Port == localPort;
}
