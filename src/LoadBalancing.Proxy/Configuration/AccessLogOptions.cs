namespace LoadBalancing.Proxy;

/// <summary>
/// The access log: one line per request, written off the request path by a background writer. Lines that cannot be
/// queued (the writer is behind by <see cref="AccessLogOptions.DefaultCapacity"/> lines) are dropped and counted, so a
/// request never waits for the log.
/// </summary>
public sealed class AccessLogOptions
{
    /// <summary>How many lines may wait for the writer before new ones are dropped.</summary>
    public const int DefaultCapacity = 65_536;

    /// <summary>
    /// Whether requests are logged. Default false for the library (an embedding application decides where its
    /// output goes); the ProxyHost sample's <c>appsettings.json</c> turns it on, as operators expect of a proxy.
    /// </summary>
    public bool Enabled { get; set; }

    /// <summary>The file lines are appended to; standard output when empty (the default). SIGUSR1 reopens it.</summary>
    public string? Path { get; set; }

    /// <summary>The line format: one JSON object per line (the default) or <see cref="Template"/>.</summary>
    public AccessLogFormat Format { get; set; } = AccessLogFormat.Json;

    /// <summary>
    /// The line for <see cref="AccessLogFormat.Text"/>: fields in braces (<c>{time} {client} "{method} {path}"
    /// {status} {duration_ms}</c>), anything else copied as is; a missing value prints <c>-</c>.
    /// Default <see cref="DefaultTemplate"/>.
    /// </summary>
    public string? Template { get; set; }

    /// <summary>The fraction of requests logged, from 0 (none) to 1 (all, the default).</summary>
    public double SampleRate { get; set; } = 1;

    /// <summary>The text template used when <see cref="Template"/> is empty.</summary>
    public const string DefaultTemplate =
        "{time} {client} \"{method} {host}{path} {protocol}\" {status} {bytes_in} {bytes_out} {duration_ms} {upstream} {upstream_status} {upstream_ms} {route} {cluster} {attempts} {reason}";
}

/// <summary>How access log lines are written.</summary>
public enum AccessLogFormat
{
    /// <summary>One JSON object per line.</summary>
    Json,

    /// <summary>A line built from <see cref="AccessLogOptions.Template"/>.</summary>
    Text,
}
