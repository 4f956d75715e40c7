using System.Globalization;

namespace LoadBalancing.Proxy.Tests.Fuzzing;

/// <summary>
/// The reference reading of one client request, from its bytes alone (so regression cases need nothing but
/// bytes): what RFC 9112 says a server must reject, which headers the client sent and nominated, whether it is
/// a WebSocket upgrade, whether the connection must end after it, and the body an upstream must receive.
/// </summary>
internal sealed class RequestFacts
{
    private static readonly string[] Tolerated = ["close", "keep-alive", "upgrade"];

    public required bool Http10 { get; init; }

    public required string Method { get; init; }

    public required string Target { get; init; }

    /// <summary>Lower-case names of every header the client sent.</summary>
    public required HashSet<string> Names { get; init; }

    /// <summary>Lower-case names the client's <c>Connection</c> header listed, other than close, keep-alive and upgrade.</summary>
    public required HashSet<string> Nominated { get; init; }

    public required bool WebSocket { get; init; }

    /// <summary>Why a server must answer this request with a 4xx (or 501) and forward nothing; null when it may forward it.</summary>
    public string? MustReject { get; init; }

    /// <summary>Why the chunked body is malformed, so no upstream may see it as a complete request.</summary>
    public string? BodyMalformed { get; init; }

    /// <summary>Content-Length and Transfer-Encoding together: RFC 9112 §6.3 lets a server process it, but it must then close.</summary>
    public bool BothFramings { get; init; }

    /// <summary>The connection cannot carry another request after this one.</summary>
    public bool Closes => MustReject is not null || BodyMalformed is not null || BothFramings || WebSocket || CloseToken;

    public bool CloseToken { get; init; }

    /// <summary>The body an upstream must receive; null when the framing leaves room for interpretation.</summary>
    public byte[]? Body { get; init; }

    public static RequestFacts Analyze(ReadOnlySpan<byte> raw)
    {
        var lines = new List<string>();
        var position = 0;
        var bareCr = false;
        while (true)
        {
            var newline = raw[position..].IndexOf((byte)'\n');
            if (newline < 0)
            {
                position = raw.Length;
                break;
            }

            var line = Wire.Text(raw.Slice(position, newline)).TrimEnd('\r');
            position += newline + 1;
            if (line.Length == 0 && lines.Count > 0)
            {
                break;
            }

            bareCr |= line.Contains('\r', StringComparison.Ordinal);
            lines.Add(line);
        }

        var body = raw[position..].ToArray();
        var requestLine = (lines.Count > 0 ? lines[0] : "").Split(' ');
        var method = requestLine[0];
        var target = requestLine.Length > 1 ? requestLine[1] : "";
        var http10 = requestLine.Length > 2 && requestLine[2] == "HTTP/1.0";
        string? reject = null;
        var fields = new List<(string Name, string Value)>();
        for (var i = 1; i < lines.Count; i++)
        {
            var line = lines[i];
            if (line.Length > 0 && line[0] is ' ' or '\t')
            {
                if (fields.Count == 0)
                {
                    reject ??= "whitespace before the first header line";
                }
                else
                {
                    fields[^1] = (fields[^1].Name, fields[^1].Value + " " + line.Trim(' ', '\t'));
                }

                continue;
            }

            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0)
            {
                reject ??= "a header line without a name and colon";
                continue;
            }

            var name = line[..colon];
            if (name[^1] is ' ' or '\t')
            {
                reject ??= "whitespace between a field name and the colon";
            }
            else if (!Wire.IsToken(Wire.Bytes(name)))
            {
                reject ??= "a field name that is not a token";
            }

            fields.Add((name.Trim(' ', '\t').ToLowerInvariant(), line[(colon + 1)..].Trim(' ', '\t')));
        }

        string[] Values(string name) => fields.Where(f => f.Name == name).Select(f => f.Value).ToArray();

        var hosts = Values("host");
        if (hosts.Length > 1 || (!http10 && hosts.Length == 0))
        {
            reject ??= "not exactly one Host";
        }

        var lengths = Values("content-length").SelectMany(v => v.Split(',')).Select(v => v.Trim(' ', '\t')).ToArray();
        var codings = Values("transfer-encoding").SelectMany(Wire.ListElements).Select(c => c.ToLowerInvariant()).ToArray();
        long? length = null;
        if (Values("content-length").Length > 0)
        {
            if (lengths.Any(l => !Wire.IsDigits(l) || l.Length > 18))
            {
                reject ??= "a Content-Length that is not 1*DIGIT (or overflows)";
            }
            else if (lengths.Distinct().Count() > 1 && lengths.Select(l => long.Parse(l, CultureInfo.InvariantCulture)).Distinct().Count() > 1)
            {
                reject ??= "conflicting Content-Length values";
            }
            else
            {
                length = long.Parse(lengths[0], CultureInfo.InvariantCulture);
            }
        }

        var chunked = false;
        if (Values("transfer-encoding").Length > 0)
        {
            if (http10)
            {
                reject ??= "Transfer-Encoding in an HTTP/1.0 request";
            }
            else if (codings.Length == 0 || codings[^1] != "chunked")
            {
                reject ??= "a final transfer coding other than chunked";
            }
            else if (codings.Length > 1)
            {
                // The proxy re-frames the body, so any other coding (or a second chunked) would be silently lost.
                reject ??= "a transfer coding besides one chunked, which re-framing would drop";
            }
            else
            {
                chunked = true;
            }
        }

        var tokens = Values("connection").SelectMany(Wire.ListElements).Select(t => t.ToLowerInvariant()).ToHashSet();
        var upgrade = Values("upgrade");
        var webSocket = method == "GET" && !http10 && upgrade.Length == 1 && upgrade[0].Equals("websocket", StringComparison.OrdinalIgnoreCase)
            && tokens.Contains("upgrade") && length is null or 0 && !chunked;

        string? malformed = null;
        byte[]? expected = null;
        if (reject is null && chunked)
        {
            var status = StrictChunked.Decode(body, out var decoded, out _, out var why);
            if (status == StrictParse.Complete)
            {
                expected = decoded;
            }
            else if (LooksBroken(body))
            {
                malformed = why ?? "an incomplete chunked body";
            }
        }
        else if (reject is null && length is { } n && !bareCr)
        {
            expected = body.AsSpan(0, (int)Math.Min(n, body.Length)).ToArray();
        }
        else if (reject is null && !chunked && length is null)
        {
            expected = [];
        }

        return new RequestFacts
        {
            Http10 = http10,
            Method = method,
            Target = target,
            Names = fields.Select(f => f.Name).ToHashSet(),
            Nominated = tokens.Where(t => !Tolerated.Contains(t)).ToHashSet(),
            WebSocket = webSocket,
            MustReject = reject,
            BodyMalformed = malformed,
            BothFramings = chunked && Values("content-length").Length > 0,
            CloseToken = http10 ? !tokens.Contains("keep-alive") : tokens.Contains("close"),
            Body = expected,
        };
    }

    /// <summary>
    /// Chunk sizes that are not hex or too long for any parser are broken; lenient line endings and
    /// whitespace are a matter of taste and are left to the other invariants.
    /// </summary>
    private static bool LooksBroken(byte[] body)
    {
        foreach (var line in Wire.Text(body).Split('\n'))
        {
            var size = line.TrimEnd('\r').Split(';')[0].Trim(' ', '\t');
            if (size.StartsWith('-') || size.StartsWith("0x", StringComparison.OrdinalIgnoreCase) || size == "zz" || (size.Length > 15 && size.All(char.IsAsciiHexDigit)))
            {
                return true;
            }
        }

        return false;
    }
}
