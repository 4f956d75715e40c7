using System.Globalization;
using System.Text;

namespace LoadBalancing.Proxy.Health;

/// <summary>
/// A cluster's health check with its defaults filled in, immutable. <see cref="Fingerprint"/> identifies the settings:
/// clusters whose endpoints and fingerprints match share one prober per endpoint.
/// </summary>
internal sealed class HealthCheckSettings
{
    private HealthCheckSettings(HealthCheckOptions options, (int Low, int High)[] statuses)
    {
        Protocol = options.Protocol;
        Path = options.Path ?? "/";
        Host = options.Host;
        ServiceName = options.ServiceName ?? "";
        Interval = options.Interval;
        Jitter = options.Jitter ?? options.Interval / 10;
        Timeout = options.Timeout;
        HealthyThreshold = options.HealthyThreshold;
        UnhealthyThreshold = options.UnhealthyThreshold;
        Statuses = statuses;
        Port = options.Port;
        InitialState = options.InitialState;
        Fingerprint = string.Create(CultureInfo.InvariantCulture,
            $"{Protocol}|{Path}|{Host}|{ServiceName}|{Interval.Ticks}|{Jitter.Ticks}|{Timeout.Ticks}|{HealthyThreshold}|{UnhealthyThreshold}|{Canonical(statuses)}|{Port}|{InitialState}");
    }

    public HealthCheckProtocol Protocol { get; }

    public string Path { get; }

    public string? Host { get; }

    public string ServiceName { get; }

    public TimeSpan Interval { get; }

    public TimeSpan Jitter { get; }

    public TimeSpan Timeout { get; }

    public int HealthyThreshold { get; }

    public int UnhealthyThreshold { get; }

    public (int Low, int High)[] Statuses { get; }

    public int? Port { get; }

    public HealthCheckInitialState InitialState { get; }

    public string Fingerprint { get; }

    /// <summary>The settings of a valid, enabled check; null when the cluster has none (or it is off).</summary>
    public static HealthCheckSettings? From(HealthCheckOptions? options) =>
        options is { Enabled: true } && TryParseStatuses(options.ExpectedStatuses ?? HealthCheckOptions.DefaultExpectedStatuses, out var statuses, out _)
            ? new HealthCheckSettings(options, statuses)
            : null;

    public bool Passes(int status)
    {
        foreach (var (low, high) in Statuses)
        {
            if (status >= low && status <= high)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Parses <c>200-299,404</c>: codes and inclusive ranges, each within 100–599.</summary>
    public static bool TryParseStatuses(string text, out (int Low, int High)[] statuses, out string? error)
    {
        var list = new List<(int, int)>();
        statuses = [];
        foreach (var raw in text.Split(','))
        {
            var part = raw.Trim();
            var dash = part.IndexOf('-', StringComparison.Ordinal);
            var lowText = dash < 0 ? part : part[..dash].Trim();
            var highText = dash < 0 ? part : part[(dash + 1)..].Trim();
            if (!int.TryParse(lowText, NumberStyles.None, CultureInfo.InvariantCulture, out var low)
                || !int.TryParse(highText, NumberStyles.None, CultureInfo.InvariantCulture, out var high))
            {
                error = $"'{part}' is not a status code or a range such as 200-299";
                return false;
            }

            if (low is < 100 or > 599 || high is < 100 or > 599)
            {
                error = $"'{part}': status codes run from 100 to 599";
                return false;
            }

            if (low > high)
            {
                error = $"'{part}': a range runs from the lower code to the higher";
                return false;
            }

            list.Add((low, high));
        }

        statuses = [.. list];
        error = null;
        return true;
    }

    /// <summary>Every problem of <paramref name="options"/>, each named by its full key path.</summary>
    public static void Validate(HealthCheckOptions? options, string key, List<string> errors)
    {
        if (options is null)
        {
            return;
        }

        if (!Enum.IsDefined(options.Protocol))
        {
            errors.Add($"{key}:Protocol must be Http, Grpc or Tcp; got {options.Protocol}.");
        }

        if (!Enum.IsDefined(options.InitialState))
        {
            errors.Add($"{key}:InitialState must be Healthy or Unhealthy; got {options.InitialState}.");
        }

        if (options.Path is { } path)
        {
            if (options.Protocol != HealthCheckProtocol.Http)
            {
                errors.Add($"{key}:Path applies to the Http protocol only; Protocol is {options.Protocol}.");
            }
            else if (!path.StartsWith('/') || !IsVisibleAscii(path))
            {
                errors.Add($"{key}:Path must start with '/' and hold visible ASCII characters only (percent-encode the rest); got '{path}'.");
            }
        }

        if (options.Host is { } host)
        {
            if (options.Protocol == HealthCheckProtocol.Tcp)
            {
                errors.Add($"{key}:Host applies to the Http and Grpc protocols only; Protocol is Tcp.");
            }
            else if (host.Length == 0 || !IsVisibleAscii(host) || host.Contains('/', StringComparison.Ordinal))
            {
                errors.Add($"{key}:Host must be a host name, optionally with a port, in visible ASCII; got '{host}'.");
            }
        }

        if (options.ServiceName is not null && options.Protocol != HealthCheckProtocol.Grpc)
        {
            errors.Add($"{key}:ServiceName applies to the Grpc protocol only; Protocol is {options.Protocol}.");
        }

        if (options.ExpectedStatuses is { } expected)
        {
            if (options.Protocol != HealthCheckProtocol.Http)
            {
                errors.Add($"{key}:ExpectedStatuses applies to the Http protocol only; Protocol is {options.Protocol}.");
            }
            else if (!TryParseStatuses(expected, out _, out var error))
            {
                errors.Add($"{key}:ExpectedStatuses: {error}; expected codes and ranges such as '200-299,404'.");
            }
        }

        if (options.Interval < TimeSpan.FromMilliseconds(1))
        {
            errors.Add($"{key}:Interval must be at least 1 ms; got {options.Interval}.");
        }

        // A Timeout longer than Interval is allowed: the next wait starts when a probe ends, so probes never overlap.
        if (options.Timeout <= TimeSpan.Zero)
        {
            errors.Add($"{key}:Timeout must be positive; got {options.Timeout}.");
        }

        if (options.Jitter is { } jitter && (jitter < TimeSpan.Zero || jitter > options.Interval))
        {
            errors.Add($"{key}:Jitter must be between 0 and Interval ({options.Interval}); got {jitter}.");
        }

        if (options.HealthyThreshold is < 1 or > 1000)
        {
            errors.Add($"{key}:HealthyThreshold must be between 1 and 1000; got {options.HealthyThreshold}.");
        }

        if (options.UnhealthyThreshold is < 1 or > 1000)
        {
            errors.Add($"{key}:UnhealthyThreshold must be between 1 and 1000; got {options.UnhealthyThreshold}.");
        }

        if (options.Port is < 1 or > 65535)
        {
            errors.Add($"{key}:Port must be between 1 and 65535; got {options.Port}.");
        }
    }

    private static bool IsVisibleAscii(string text)
    {
        foreach (var c in text)
        {
            if (c is <= ' ' or > '~')
            {
                return false;
            }
        }

        return true;
    }

    private static string Canonical((int Low, int High)[] statuses)
    {
        var text = new StringBuilder();
        foreach (var (low, high) in statuses)
        {
            text.Append(CultureInfo.InvariantCulture, $"{low}-{high},");
        }

        return text.ToString();
    }
}
