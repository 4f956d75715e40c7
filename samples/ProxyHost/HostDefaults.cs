using Microsoft.Extensions.Configuration.Memory;

namespace ProxyHost;

/// <summary>
/// Where this host's defaults differ from the library's, as the lowest-priority configuration source: the file, the
/// environment and the command line all override them, at start and on every reload alike.
/// </summary>
/// <remarks>
/// On Linux the host listens on the event-loop transport (<c>Proxy:Transport: EventLoop</c>). It runs nothing on a
/// loop but the proxy's own middleware and admin endpoints, none of which block, and it serves more requests per CPU
/// second there than on Kestrel's socket transport, plaintext, under TLS and under a CPU quota alike (benchmarks.md,
/// <i>The event-loop transport</i>). The library keeps <c>Sockets</c> as its default: an application that embeds the
/// proxy runs its own endpoints on the same listeners, and on a loop one blocking call stalls every connection of
/// that loop.
/// </remarks>
internal static class HostDefaults
{
    public static IReadOnlyDictionary<string, string?> Values { get; } = OperatingSystem.IsLinux()
        ? new Dictionary<string, string?> { ["Proxy:Transport"] = "EventLoop" }
        : new Dictionary<string, string?>();

    /// <summary>Puts the defaults under every source <paramref name="configuration"/> already has.</summary>
    public static void AddUnder(IConfigurationBuilder configuration) =>
        configuration.Sources.Insert(0, new MemoryConfigurationSource { InitialData = Values });
}
