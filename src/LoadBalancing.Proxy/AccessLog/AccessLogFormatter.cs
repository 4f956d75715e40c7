using System.Buffers;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using LoadBalancing.Configuration;

namespace LoadBalancing.Proxy.AccessLog;

/// <summary>The fields a line can carry; JSON keys and template names are the same.</summary>
internal enum AccessLogField
{
    Time,
    Client,
    Method,
    Host,
    Path,
    Protocol,
    Status,
    BytesIn,
    BytesOut,
    DurationMs,
    Upstream,
    UpstreamStatus,
    UpstreamMs,
    Route,
    Cluster,
    Attempts,
    Reason,
    TraceId,
}

/// <summary>Turns entries into UTF-8 lines; runs on the writer's thread only, so it may keep state.</summary>
internal sealed class AccessLogFormatter
{
    public static readonly string[] FieldNames =
        ["time", "client", "method", "host", "path", "protocol", "status", "bytes_in", "bytes_out", "duration_ms", "upstream", "upstream_status", "upstream_ms", "route", "cluster", "attempts", "reason", "trace_id"];

    private readonly (byte[]? Literal, AccessLogField Field)[]? _template;
    private readonly Utf8JsonWriter? _json;

    private AccessLogFormatter((byte[]?, AccessLogField)[]? template, Utf8JsonWriter? json)
    {
        _template = template;
        _json = json;
    }

    public static AccessLogFormatter Create(AccessLogOptions options)
    {
        if (options.Format == AccessLogFormat.Text)
        {
            var segments = new List<(byte[]?, AccessLogField)>();
            ParseTemplate(string.IsNullOrEmpty(options.Template) ? AccessLogOptions.DefaultTemplate : options.Template, segments, errors: null, key: "");
            return new AccessLogFormatter([.. segments], null);
        }

        // Relaxed escaping keeps paths readable ('+', '&' as themselves); quotes and control characters are still escaped.
        var json = new Utf8JsonWriter(Stream.Null, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, SkipValidation = true });
        return new AccessLogFormatter(null, json);
    }

    /// <summary>Adds the problems of <paramref name="options"/> to <paramref name="errors"/>, each naming its key under <paramref name="key"/>.</summary>
    public static void Validate(AccessLogOptions options, string key, List<string> errors)
    {
        if (double.IsNaN(options.SampleRate) || options.SampleRate is < 0 or > 1)
        {
            errors.Add(string.Create(CultureInfo.InvariantCulture, $"{key}:SampleRate must be between 0 and 1; got {options.SampleRate}."));
        }

        if (!string.IsNullOrEmpty(options.Template))
        {
            if (options.Format != AccessLogFormat.Text)
            {
                errors.Add($"{key}:Template is only used with {key}:Format set to Text; Format is {options.Format}.");
            }
            else
            {
                ParseTemplate(options.Template, [], errors, $"{key}:Template");
            }
        }

        if (options.Enabled && !string.IsNullOrEmpty(options.Path)
            && System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(options.Path)) is { } directory && !Directory.Exists(directory))
        {
            errors.Add($"{key}:Path: the directory '{directory}' does not exist.");
        }
    }

    private static void ParseTemplate(string template, List<(byte[]?, AccessLogField)> segments, List<string>? errors, string key)
    {
        var literal = new StringBuilder();
        var i = 0;
        while (i < template.Length)
        {
            var open = template.IndexOf('{', i);
            var close = open < 0 ? -1 : template.IndexOf('}', open);
            if (open < 0 || close < 0)
            {
                literal.Append(template, i, template.Length - i);
                break;
            }

            literal.Append(template, i, open - i);
            var name = template.Substring(open + 1, close - open - 1);
            var field = Array.IndexOf(FieldNames, name);
            if (field < 0)
            {
                var hint = ConfigurationNames.Suggest(name, FieldNames) is { } suggestion ? $"did you mean '{{{suggestion}}}'? " : "";
                errors?.Add($"{key}: '{{{name}}}' is not a field; {hint}fields: {string.Join(", ", FieldNames)}.");
                literal.Append(template, open, close - open + 1);
            }
            else
            {
                segments.Add((literal.Length > 0 ? Encoding.UTF8.GetBytes(literal.ToString()) : null, (AccessLogField)field));
                literal.Clear();
            }

            i = close + 1;
        }

        literal.Append('\n');
        segments.Add((Encoding.UTF8.GetBytes(literal.ToString()), (AccessLogField)(-1)));
    }

    /// <summary>Appends one line, ending in a newline, to <paramref name="output"/>.</summary>
    public void Format(in AccessLogEntry entry, ArrayBufferWriter<byte> output)
    {
        if (_json is { } json)
        {
            WriteJson(in entry, json, output);
        }
        else
        {
            WriteText(in entry, _template!, output);
        }
    }

    private static void WriteJson(in AccessLogEntry e, Utf8JsonWriter json, ArrayBufferWriter<byte> output)
    {
        json.Reset(output);
        json.WriteStartObject();
        json.WriteString("time", new DateTime(e.TimeTicks, DateTimeKind.Utc));
        if (e.Client is { } client)
        {
            Span<byte> address = stackalloc byte[64];
            json.WriteString("client", Address(client, address));
        }

        json.WriteString("method", e.Method);
        WriteOptional(json, "host", e.Host);
        WriteOptional(json, "path", e.Target);
        json.WriteString("protocol", e.Protocol);
        json.WriteNumber("status", e.Status);
        json.WriteNumber("bytes_in", e.BytesIn);
        json.WriteNumber("bytes_out", e.BytesOut);
        json.WriteNumber("duration_ms", Milliseconds(e.Duration));
        WriteOptional(json, "upstream", e.Upstream);
        if (e.UpstreamStatus > 0)
        {
            json.WriteNumber("upstream_status", e.UpstreamStatus);
        }

        if (e.UpstreamTime >= TimeSpan.Zero)
        {
            json.WriteNumber("upstream_ms", Milliseconds(e.UpstreamTime));
        }

        WriteOptional(json, "route", e.Route);
        WriteOptional(json, "cluster", e.Cluster);
        if (e.Attempts > 0)
        {
            json.WriteNumber("attempts", e.Attempts);
        }

        WriteOptional(json, "reason", e.Reason);
        if (e.TraceId != default)
        {
            Span<char> trace = stackalloc char[32];
            Hex(e.TraceId, trace);
            json.WriteString("trace_id", trace);
        }

        json.WriteEndObject();
        json.Flush();
        output.Write("\n"u8);
    }

    private static void WriteOptional(Utf8JsonWriter json, string name, string? value)
    {
        if (value is not null)
        {
            json.WriteString(name, value);
        }
    }

    private static double Milliseconds(TimeSpan time) => Math.Round(time.TotalMilliseconds, 3);

    private static ReadOnlySpan<byte> Address(IPAddress client, Span<byte> buffer)
    {
        // Dual-mode sockets report IPv4 clients as ::ffff:a.b.c.d; operators grep for a.b.c.d.
        var address = client.IsIPv4MappedToIPv6 ? client.MapToIPv4() : client;
        return address.TryFormat(buffer, out var written) ? buffer[..written] : "?"u8;
    }

    private static void WriteText(in AccessLogEntry e, (byte[]? Literal, AccessLogField Field)[] template, ArrayBufferWriter<byte> output)
    {
        foreach (var (literal, field) in template)
        {
            if (literal is not null)
            {
                output.Write(literal);
            }

            switch (field)
            {
                case AccessLogField.Time:
                    Formatted(output, new DateTime(e.TimeTicks, DateTimeKind.Utc), "yyyy-MM-ddTHH:mm:ss.fffZ");
                    break;
                case AccessLogField.Client:
                    if (e.Client is { } client)
                    {
                        output.Write(Address(client, output.GetSpan(64)));
                    }
                    else
                    {
                        output.Write("-"u8);
                    }

                    break;
                case AccessLogField.Method:
                    Text(output, e.Method);
                    break;
                case AccessLogField.Host:
                    Text(output, e.Host);
                    break;
                case AccessLogField.Path:
                    Text(output, e.Target);
                    break;
                case AccessLogField.Protocol:
                    Text(output, e.Protocol);
                    break;
                case AccessLogField.Status:
                    Formatted(output, e.Status, null);
                    break;
                case AccessLogField.BytesIn:
                    Formatted(output, e.BytesIn, null);
                    break;
                case AccessLogField.BytesOut:
                    Formatted(output, e.BytesOut, null);
                    break;
                case AccessLogField.DurationMs:
                    Formatted(output, Milliseconds(e.Duration), "0.###");
                    break;
                case AccessLogField.Upstream:
                    Text(output, e.Upstream);
                    break;
                case AccessLogField.UpstreamStatus:
                    if (e.UpstreamStatus > 0)
                    {
                        Formatted(output, e.UpstreamStatus, null);
                    }
                    else
                    {
                        output.Write("-"u8);
                    }

                    break;
                case AccessLogField.UpstreamMs:
                    if (e.UpstreamTime >= TimeSpan.Zero)
                    {
                        Formatted(output, Milliseconds(e.UpstreamTime), "0.###");
                    }
                    else
                    {
                        output.Write("-"u8);
                    }

                    break;
                case AccessLogField.Route:
                    Text(output, e.Route);
                    break;
                case AccessLogField.Cluster:
                    Text(output, e.Cluster);
                    break;
                case AccessLogField.Attempts:
                    Formatted(output, e.Attempts, null);
                    break;
                case AccessLogField.Reason:
                    Text(output, e.Reason);
                    break;
                case AccessLogField.TraceId:
                    TraceId(output, e.TraceId);
                    break;
            }
        }
    }

    private static void Formatted<T>(ArrayBufferWriter<byte> output, T value, string? format)
        where T : IUtf8SpanFormattable
    {
        var span = output.GetSpan(64);
        if (value.TryFormat(span, out var written, format, CultureInfo.InvariantCulture))
        {
            output.Advance(written);
        }
    }

    private static void TraceId(ArrayBufferWriter<byte> output, System.Diagnostics.ActivityTraceId trace)
    {
        if (trace == default)
        {
            output.Write("-"u8);
            return;
        }

        Span<char> hex = stackalloc char[32];
        Hex(trace, hex);
        output.Advance(Encoding.ASCII.GetBytes(hex, output.GetSpan(32)));
    }

    /// <summary>The id as W3C writes it (32 lowercase hex digits), without the string ToHexString would allocate.</summary>
    private static void Hex(System.Diagnostics.ActivityTraceId trace, Span<char> hex)
    {
        Span<byte> raw = stackalloc byte[16];
        trace.CopyTo(raw);
        Convert.TryToHexStringLower(raw, hex, out _);
    }

    /// <summary>Writes a value as UTF-8, escaping what would break a line apart or confuse a quoted field.</summary>
    private static void Text(ArrayBufferWriter<byte> output, string? value)
    {
        if (string.IsNullOrEmpty(value))
        {
            output.Write("-"u8);
            return;
        }

        var span = output.GetSpan(Encoding.UTF8.GetMaxByteCount(value.Length) * 4);
        var length = Encoding.UTF8.GetBytes(value, span);
        var bytes = span[..length];
        if (bytes.IndexOfAny("\"\\\r\n\t"u8) < 0 && !ContainsControl(bytes))
        {
            output.Advance(length);
            return;
        }

        // Rare (Kestrel refuses most of these in targets and hosts): copy out, then escape into the slack reserved above.
        var escaped = bytes.ToArray();
        var written = 0;
        foreach (var b in escaped)
        {
            if (b < 0x20 || b == 0x7F || b == '"' || b == '\\')
            {
                span[written++] = (byte)'\\';
                span[written++] = (byte)'x';
                span[written++] = (byte)"0123456789abcdef"[b >> 4];
                span[written++] = (byte)"0123456789abcdef"[b & 0xF];
            }
            else
            {
                span[written++] = b;
            }
        }

        output.Advance(written);
    }

    private static bool ContainsControl(ReadOnlySpan<byte> bytes)
    {
        foreach (var b in bytes)
        {
            if (b < 0x20 || b == 0x7F)
            {
                return true;
            }
        }

        return false;
    }
}
