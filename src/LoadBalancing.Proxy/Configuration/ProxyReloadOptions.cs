using Microsoft.Extensions.Configuration;

namespace LoadBalancing.Proxy;

/// <summary>Where a running proxy reads a new configuration from, and what makes it do so.</summary>
public sealed class ProxyReloadOptions
{
    /// <summary>
    /// Reads the <c>Proxy</c> section afresh (a new configuration root over the current files). It may throw
    /// <see cref="ProxyConfigurationException"/> to reject the reload with its errors (a file that is not valid JSON, say).
    /// </summary>
    public Func<IConfiguration>? Read { get; set; }

    /// <summary>
    /// A file whose changes trigger a reload. Its directory is watched, so editors that replace the file and
    /// Kubernetes ConfigMap volumes (a <c>..data</c> symlink swapped) are seen; the file is re-read after
    /// <see cref="Debounce"/> and reloaded only when its content changed. Null watches nothing.
    /// </summary>
    public string? WatchFile { get; set; }

    /// <summary>How long the file must be quiet before it is re-read. Default 200 ms.</summary>
    public TimeSpan Debounce { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>How often the file is checked when its directory cannot be watched (no inotify instance left). Default 1 s.</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Whether <c>SIGHUP</c> reloads (and no longer ends the process). Default true; ignored on Windows.</summary>
    public bool ReloadOnHangup { get; set; } = true;
}
