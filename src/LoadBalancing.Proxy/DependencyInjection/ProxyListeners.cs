using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace LoadBalancing.Proxy;

/// <summary>
/// The Kestrel endpoints the proxy and its admin endpoint listen on. After the server has started, the
/// end points carry the bound ports (useful with port 0).
/// </summary>
public sealed class ProxyListeners
{
    private readonly List<ListenOptions> _proxy = [];
    private volatile Binding? _binding;

    /// <summary>The proxy's listen options, in configuration order.</summary>
    public IReadOnlyList<ListenOptions> Proxy => _proxy;

    /// <summary>The admin endpoint's listen options, or null when the admin endpoint is off.</summary>
    public ListenOptions? Admin { get; private set; }

    /// <summary>The bound address of the first proxy listener.</summary>
    public IPEndPoint? ProxyEndPoint => _proxy.Count > 0 ? _proxy[0].IPEndPoint : null;

    /// <summary>The bound address of the admin endpoint.</summary>
    public IPEndPoint? AdminEndPoint => Admin?.IPEndPoint;

    /// <summary>
    /// Explains a start that failed because a listener could not bind — its address is in use, is not an address of
    /// this machine, or its port needs privileges — in one line naming the listener's configuration key and URL.
    /// </summary>
    /// <param name="exception">What starting the host threw.</param>
    /// <returns>
    /// For example <c>Proxy:Listeners:0:Url: cannot listen on http://127.0.0.1:8080: the address is already in use.</c>;
    /// null when the exception is not a bind failure of one of these listeners.
    /// </returns>
    public string? DescribeBindFailure(Exception exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        if (_binding is not { } binding)
        {
            return null;
        }

        var reason = (Find<AddressInUseException>(exception) is not null ? SocketError.AddressAlreadyInUse : Find<SocketException>(exception)?.SocketErrorCode) switch
        {
            SocketError.AddressAlreadyInUse => "the address is already in use (by another process, or another listener of this one)",
            SocketError.AddressNotAvailable => "that is not an address of this machine",
            SocketError.AccessDenied => "permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE)",
            _ => null,
        };
        return reason is null ? null : $"{binding.Key}: cannot listen on {binding.Url}: {reason}.";
    }

    internal void AddProxy(ListenOptions options, string key, string url)
    {
        _proxy.Add(options);
        Track(options, key, url);
    }

    internal void SetAdmin(ListenOptions options, string key, string url)
    {
        Admin = options;
        Track(options, key, url);
    }

    /// <summary>
    /// Kestrel builds an endpoint's connection pipeline just before it binds that endpoint, one endpoint after
    /// another, so the last pipeline built names the endpoint a bind failure is about (Kestrel's own exception does
    /// not always say: an unavailable address is a bare SocketException). The middleware adds nothing per connection.
    /// </summary>
    private void Track(ListenOptions options, string key, string url) =>
        options.Use(next =>
        {
            _binding = new Binding(key, url);
            return next;
        });

    private static T? Find<T>(Exception exception)
        where T : Exception
    {
        for (Exception? e = exception; e is not null; e = e.InnerException)
        {
            if (e is T found)
            {
                return found;
            }

            if (e is AggregateException aggregate)
            {
                foreach (var inner in aggregate.InnerExceptions)
                {
                    if (Find<T>(inner) is { } nested)
                    {
                        return nested;
                    }
                }
            }
        }

        return null;
    }

    private sealed record Binding(string Key, string Url);

    internal bool IsAdmin(int localPort) => Admin?.IPEndPoint is { } admin && admin.Port == localPort;
}
