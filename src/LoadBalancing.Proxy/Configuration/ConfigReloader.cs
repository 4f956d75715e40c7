using System.Runtime.InteropServices;
using System.Security.Cryptography;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace LoadBalancing.Proxy;

/// <summary>
/// Turns the reload triggers (a watched file, <c>SIGHUP</c>, <c>POST /config/reload</c>) into
/// <see cref="ProxyRuntime.Reload"/> calls, one at a time. Holds at most one file watcher (one inotify instance, a
/// small per-user kernel budget), released when the host stops.
/// </summary>
internal sealed class ConfigReloader(ProxyRuntime runtime, ProxyReloadOptions options, ILogger<ConfigReloader> logger) : IHostedService, IDisposable
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly Lock _watching = new();
    private FileSystemWatcher? _watcher;
    private ITimer? _debounce;
    private ITimer? _poll;
    private PosixSignalRegistration? _hangup;
    private byte[]? _lastHash;
    private volatile bool _stopped;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (options.ReloadOnHangup && !OperatingSystem.IsWindows())
        {
            _hangup = PosixSignalRegistration.Create(PosixSignal.SIGHUP, context =>
            {
                // Handled: the default action of SIGHUP ends the process.
                context.Cancel = true;
                _ = Task.Run(() => ReloadAsync("SIGHUP"));
            });
        }

        if (options.WatchFile is { } file)
        {
            var path = Path.GetFullPath(file);
            _lastHash = Hash(path);
            _debounce = runtime.Time.CreateTimer(static s => ((ConfigReloader)s!).OnQuiet(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            try
            {
                var watcher = new FileSystemWatcher(Path.GetDirectoryName(path)!)
                {
                    NotifyFilter = NotifyFilters.FileName | NotifyFilters.DirectoryName | NotifyFilters.LastWrite | NotifyFilters.Size | NotifyFilters.CreationTime,
                    IncludeSubdirectories = false,
                };
                watcher.Changed += (_, _) => OnChange();
                watcher.Created += (_, _) => OnChange();
                watcher.Deleted += (_, _) => OnChange();
                watcher.Renamed += (_, _) => OnChange();
                watcher.Error += (_, e) => FallBackToPolling(e.GetException().Message);
                watcher.EnableRaisingEvents = true;
                _watcher = watcher;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
            {
                FallBackToPolling(e.Message);
            }
        }

        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        Dispose();
        return Task.CompletedTask;
    }

    /// <summary>Reads the configuration and reloads it; serialized with every other trigger.</summary>
    public async Task<ReloadResult> ReloadAsync(string source)
    {
        await _gate.WaitAsync().ConfigureAwait(false);
        try
        {
            if (_stopped)
            {
                // A trigger that fires as the host stops must not build clusters the stopping runtime would never dispose.
                var config = runtime.Config;
                return new ReloadResult(ReloadOutcome.Unchanged, config.Generation, [], runtime.Status.RestartNeeded);
            }

            if (options.WatchFile is { } file)
            {
                // Whatever triggered it, the file now read is the one the watcher compares with.
                _lastHash = Hash(Path.GetFullPath(file));
            }

            ProxyOptions loaded;
            IReadOnlyList<string> errors;
            try
            {
                var section = options.Read!();
                ProxyConfiguration.TryLoad(section, out loaded, out errors);
            }
            catch (ProxyConfigurationException e)
            {
                (loaded, errors) = (new ProxyOptions(), e.Errors);
            }
            catch (Exception e) when (e is IOException or InvalidDataException or FormatException or UnauthorizedAccessException)
            {
                (loaded, errors) = (new ProxyOptions(), [$"{options.WatchFile ?? "configuration"}: {e.Message}"]);
            }

            return runtime.Reload(loaded, errors, source);
        }
        finally
        {
            _gate.Release();
        }
    }

    private void OnChange()
    {
        lock (_watching)
        {
            if (!_stopped)
            {
                _debounce?.Change(options.Debounce, Timeout.InfiniteTimeSpan);
            }
        }
    }

    private void OnQuiet()
    {
        var hash = Hash(Path.GetFullPath(options.WatchFile!));
        if (hash is null || (_lastHash is not null && hash.AsSpan().SequenceEqual(_lastHash)))
        {
            // Touched, or written with the same content, or gone for a moment (a ConfigMap swap): nothing to do.
            return;
        }

        _ = ReloadAsync("file");
    }

    private void FallBackToPolling(string reason)
    {
        lock (_watching)
        {
            if (_stopped || _poll is not null)
            {
                return;
            }

            ReloadLog.WatchFailed(logger, options.WatchFile!, reason, options.PollInterval);
            _watcher?.Dispose();
            _watcher = null;
            _poll = runtime.Time.CreateTimer(static s => ((ConfigReloader)s!).OnQuiet(), this, options.PollInterval, options.PollInterval);
        }
    }

    private static byte[]? Hash(string path)
    {
        try
        {
            return SHA256.HashData(File.ReadAllBytes(path));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    public void Dispose()
    {
        lock (_watching)
        {
            _stopped = true;
            _hangup?.Dispose();
            _hangup = null;
            _watcher?.Dispose();
            _watcher = null;
            _debounce?.Dispose();
            _poll?.Dispose();
        }
    }
}
