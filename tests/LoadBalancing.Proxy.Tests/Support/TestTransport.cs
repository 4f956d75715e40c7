namespace LoadBalancing.Proxy.Tests.Support;

/// <summary>
/// LB_TEST_TRANSPORT=EventLoop (or Sockets) runs every proxy the tests start on that transport, so the whole suite can
/// be run on the event-loop transport: <c>LB_TEST_TRANSPORT=EventLoop dotnet test --project tests/LoadBalancing.Proxy.Tests</c>.
/// </summary>
internal static class TestTransport
{
    private static ProxyTransport? Chosen =>
        Enum.TryParse<ProxyTransport>(Environment.GetEnvironmentVariable("LB_TEST_TRANSPORT"), ignoreCase: true, out var transport) ? transport : null;

    /// <summary>Whether the proxies the tests start run on the event loop.</summary>
    public static bool IsEventLoop => Chosen == ProxyTransport.EventLoop;

    public static ProxyOptions Apply(ProxyOptions options)
    {
        if (Chosen is { } transport)
        {
            options.Transport = transport;
        }

        return options;
    }

    /// <summary>The same as configuration, for tests that reload it: a reload must not see the transport change.</summary>
    public static Dictionary<string, string?> Configuration() =>
        Chosen is { } transport ? new() { ["Proxy:Transport"] = transport.ToString() } : [];
}
