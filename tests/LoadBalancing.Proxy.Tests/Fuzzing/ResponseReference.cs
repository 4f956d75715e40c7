using System.Globalization;

namespace LoadBalancing.Proxy.Tests.Fuzzing;

internal enum ResponseVerdict
{
    /// <summary>A well-framed final response (after any interim ones).</summary>
    Valid,

    /// <summary>The head breaks RFC 9112 framing or syntax: a proxy must answer 502 itself.</summary>
    InvalidHead,

    /// <summary>The head is fine but the chunked body is malformed.</summary>
    InvalidBody,

    /// <summary>The upstream closed before the message ended.</summary>
    Truncated,

    /// <summary>A 101 to a request that asked for no upgrade.</summary>
    Unasked101,
}

/// <summary>The reference reading of an upstream response to a GET, strict as RFC 9112 is for a proxy.</summary>
internal sealed record ResponseJudgement(ResponseVerdict Verdict, int Status, byte[] Body, bool Extra, string Why)
{
    public static ResponseJudgement Judge(byte[] wire, bool closedAfter)
    {
        var position = 0;
        while (true)
        {
            var lines = new List<string>();
            var bareLf = false;
            while (true)
            {
                var newline = wire.AsSpan(position).IndexOf((byte)'\n');
                if (newline < 0)
                {
                    return new(ResponseVerdict.Truncated, 0, [], false, "the upstream closed inside the head");
                }

                var raw = Wire.Text(wire.AsSpan(position, newline));
                position += newline + 1;
                bareLf |= !raw.EndsWith('\r');
                var line = raw.EndsWith('\r') ? raw[..^1] : raw;
                if (line.Length == 0)
                {
                    break;
                }

                lines.Add(line);
            }

            var status = Head(lines, bareLf, out var why, out var lengths, out var codings, out var http10);
            if (why is not null)
            {
                return new(ResponseVerdict.InvalidHead, status, [], false, why);
            }

            if (status is >= 100 and < 200 and not 101)
            {
                continue; // interim: no body, the final response follows
            }

            if (status == 101)
            {
                return new(ResponseVerdict.Unasked101, status, [], false, "101 to a GET without Upgrade");
            }

            var rest = wire.AsSpan(position);
            if (codings.Count > 0 && (lengths.Count > 0 || http10 || codings.Count > 1 || !codings[0].Equals("chunked", StringComparison.OrdinalIgnoreCase)))
            {
                return new(ResponseVerdict.InvalidHead, status, [], false, "Transfer-Encoding that is not exactly one chunked, or with Content-Length, or in HTTP/1.0");
            }

            if (lengths.Distinct().Count() > 1 || lengths.Any(l => !Wire.IsDigits(l) || l.Length > 18))
            {
                return new(ResponseVerdict.InvalidHead, status, [], false, "Content-Length that is not one 1*DIGIT value");
            }

            if (status is 204 or 304)
            {
                return new(ResponseVerdict.Valid, status, [], !rest.IsEmpty, "");
            }

            if (codings.Count == 1)
            {
                return StrictChunked.Decode(rest, out var body, out var used, out var broken) switch
                {
                    StrictParse.Complete => new(ResponseVerdict.Valid, status, body!, used < rest.Length, ""),
                    StrictParse.Incomplete => new(ResponseVerdict.Truncated, status, [], false, "the upstream closed inside the chunked body"),
                    _ => new(ResponseVerdict.InvalidBody, status, [], false, broken!),
                };
            }

            if (lengths.Count > 0)
            {
                var length = long.Parse(lengths[0], CultureInfo.InvariantCulture);
                return rest.Length < length
                    ? new(ResponseVerdict.Truncated, status, [], false, "the upstream closed before Content-Length bytes")
                    : new(ResponseVerdict.Valid, status, rest[..(int)length].ToArray(), rest.Length > length, "");
            }

            return closedAfter
                ? new(ResponseVerdict.Valid, status, rest.ToArray(), false, "")
                : new(ResponseVerdict.Truncated, status, [], false, "no framing and no close");
        }
    }

    private static int Head(List<string> lines, bool bareLf, out string? why, out List<string> lengths, out List<string> codings, out bool http10)
    {
        (why, lengths, codings) = (null, [], []);
        var statusLine = lines.Count > 0 ? lines[0] : "";
        http10 = statusLine.StartsWith("HTTP/1.0 ", StringComparison.Ordinal);
        var status = statusLine.Length >= 12 && int.TryParse(statusLine.AsSpan(9, 3), NumberStyles.None, CultureInfo.InvariantCulture, out var s) ? s : 0;
        if (!(statusLine.StartsWith("HTTP/1.1 ", StringComparison.Ordinal) || http10) || status < 100 || (statusLine.Length > 12 && statusLine[12] != ' '))
        {
            why = "a bad status line";
            return status;
        }

        if (bareLf)
        {
            why = "a bare LF in the head";
            return status;
        }

        foreach (var line in lines.Skip(1))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (line[0] is ' ' or '\t')
            {
                why = "obsolete line folding";
            }
            else if (colon <= 0 || !Wire.IsToken(Wire.Bytes(line[..colon])))
            {
                why = "a header line without a token name";
            }
            else if (line.Any(c => Wire.IsControl((byte)c)))
            {
                why = "a control character in a header";
            }
            else
            {
                var name = line[..colon];
                var value = line[(colon + 1)..].Trim(' ', '\t');
                if (name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase))
                {
                    lengths.Add(value);
                }
                else if (name.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase))
                {
                    codings.AddRange(value.Split(',').Select(c => c.Trim(' ', '\t')));
                }

                continue;
            }

            return status;
        }

        return status;
    }
}
