using System.Globalization;

namespace LoadBalancing.Proxy.Tests.Fuzzing;

/// <summary>A request as the strict origin parsed it.</summary>
internal sealed record OriginRequest(string Method, string Target, IReadOnlyList<KeyValuePair<string, string>> Headers, byte[] Body)
{
    public IEnumerable<string> Values(string name) =>
        Headers.Where(h => h.Key.Equals(name, StringComparison.OrdinalIgnoreCase)).Select(h => h.Value);
}

internal enum StrictParse
{
    Incomplete,
    Complete,
    Error,
}

/// <summary>
/// Parses what the proxy sends upstream as strictly as RFC 9112 allows a sender to write it: CRLF only,
/// tokens for names, no control characters, exactly one Content-Length of 1*DIGIT or exactly
/// <c>Transfer-Encoding: chunked</c>, never both, and a body that ends exactly where its framing says.
/// Anything looser is a finding, because some real upstream would read it differently.
/// </summary>
internal static class StrictRequestParser
{
    public static StrictParse Parse(ReadOnlySpan<byte> buffer, out OriginRequest? request, out int consumed, out char invariant, out string? error)
    {
        request = null;
        consumed = 0;
        invariant = ' ';
        error = null;
        var position = 0;
        string? method = null;
        string? target = null;
        var headers = new List<KeyValuePair<string, string>>();
        while (true)
        {
            var newline = buffer[position..].IndexOf((byte)'\n');
            if (newline < 0)
            {
                return StrictParse.Incomplete;
            }

            var line = buffer.Slice(position, newline);
            position += newline + 1;
            if (line.IsEmpty || line[^1] != (byte)'\r')
            {
                return Fail('d', "a bare LF in the upstream head", out invariant, out error);
            }

            line = line[..^1];
            foreach (var b in line)
            {
                if (Wire.IsControl(b))
                {
                    return Fail('d', $"a control byte in an upstream head line: 0x{b:X2} in {Wire.Literal(line)}", out invariant, out error);
                }
            }

            if (method is null)
            {
                var text = Wire.Text(line);
                var parts = text.Split(' ');
                if (parts.Length != 3 || !Wire.IsToken(Wire.Bytes(parts[0])) || parts[1].Length == 0 || parts[2] != "HTTP/1.1")
                {
                    return Fail('b', $"a bad upstream request line: {Wire.Literal(line)}", out invariant, out error);
                }

                (method, target) = (parts[0], parts[1]);
                continue;
            }

            if (line.IsEmpty)
            {
                break;
            }

            var colon = line.IndexOf((byte)':');
            if (colon <= 0 || !Wire.IsToken(line[..colon]))
            {
                return Fail('b', $"an upstream header line without a token name: {Wire.Literal(line)}", out invariant, out error);
            }

            headers.Add(new(Wire.Text(line[..colon]), Wire.Text(line[(colon + 1)..].Trim(" \t"u8))));
        }

        var lengths = headers.Where(h => h.Key.Equals("Content-Length", StringComparison.OrdinalIgnoreCase)).Select(h => h.Value).ToArray();
        var codings = headers.Where(h => h.Key.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase)).Select(h => h.Value).ToArray();
        if (lengths.Length > 0 && codings.Length > 0)
        {
            return Fail('b', "both Content-Length and Transfer-Encoding upstream", out invariant, out error);
        }

        if (lengths.Length > 1 || (lengths.Length == 1 && (!Wire.IsDigits(lengths[0]) || lengths[0].Length > 18)))
        {
            return Fail('b', $"the upstream Content-Length is not one 1*DIGIT: [{string.Join("] [", lengths)}]", out invariant, out error);
        }

        if (codings.Length > 1 || (codings.Length == 1 && codings[0] != "chunked"))
        {
            return Fail('b', $"the upstream Transfer-Encoding is not exactly 'chunked': [{string.Join("] [", codings)}]", out invariant, out error);
        }

        byte[] body;
        if (lengths.Length == 1)
        {
            var length = long.Parse(lengths[0], CultureInfo.InvariantCulture);
            if (buffer.Length - position < length)
            {
                return StrictParse.Incomplete;
            }

            body = buffer.Slice(position, (int)length).ToArray();
            position += (int)length;
        }
        else if (codings.Length == 1)
        {
            var chunked = StrictChunked.Decode(buffer[position..], out var decoded, out var used, out var why);
            if (chunked == StrictParse.Incomplete)
            {
                return StrictParse.Incomplete;
            }

            if (chunked == StrictParse.Error)
            {
                return Fail('b', "a broken upstream chunked body: " + why, out invariant, out error);
            }

            body = decoded!;
            position += used;
        }
        else
        {
            body = [];
        }

        request = new OriginRequest(method, target!, headers, body);
        consumed = position;
        return StrictParse.Complete;
    }

    private static StrictParse Fail(char which, string message, out char invariant, out string? error)
    {
        (invariant, error) = (which, message);
        return StrictParse.Error;
    }
}

/// <summary>The chunked coding exactly as RFC 9112 §7.1 writes it (extensions allowed, CRLF only, trailers as header lines).</summary>
internal static class StrictChunked
{
    public static StrictParse Decode(ReadOnlySpan<byte> wire, out byte[]? body, out int consumed, out string? error)
    {
        var data = new List<byte>();
        var position = 0;
        (body, consumed, error) = (null, 0, null);
        while (true)
        {
            var newline = wire[position..].IndexOf((byte)'\n');
            if (newline < 0)
            {
                return StrictParse.Incomplete;
            }

            var line = wire.Slice(position, newline);
            position += newline + 1;
            if (line.IsEmpty || line[^1] != (byte)'\r' || line[..^1].Contains((byte)'\r'))
            {
                error = "a chunk-size line not ended by CRLF";
                return StrictParse.Error;
            }

            line = line[..^1];
            var digits = 0;
            while (digits < line.Length && char.IsAsciiHexDigit((char)line[digits]))
            {
                digits++;
            }

            // BWS may precede an extension (RFC 9112 §7.1.1); a bare trailing one is tolerated, as re-framing removes it.
            var extension = line[digits..].TrimStart(" \t"u8);
            if (digits is 0 or > 15 || !(extension.IsEmpty || extension[0] == (byte)';'))
            {
                error = $"a bad chunk-size line {Wire.Literal(line)}";
                return StrictParse.Error;
            }

            var size = long.Parse(Wire.Text(line[..digits]), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture);
            if (size == 0)
            {
                break;
            }

            if (wire.Length - position < size + 2)
            {
                return StrictParse.Incomplete;
            }

            data.AddRange(wire.Slice(position, (int)size));
            position += (int)size;
            if (!wire[position..].StartsWith("\r\n"u8))
            {
                error = "chunk data not followed by CRLF";
                return StrictParse.Error;
            }

            position += 2;
        }

        while (true)
        {
            var newline = wire[position..].IndexOf((byte)'\n');
            if (newline < 0)
            {
                return StrictParse.Incomplete;
            }

            var line = wire.Slice(position, newline);
            position += newline + 1;
            if (line.IsEmpty || line[^1] != (byte)'\r')
            {
                error = "a trailer line not ended by CRLF";
                return StrictParse.Error;
            }

            line = line[..^1];
            if (line.IsEmpty)
            {
                break;
            }

            var colon = line.IndexOf((byte)':');
            if (colon <= 0 || !Wire.IsToken(line[..colon]) || line.ContainsAny("\r\0"u8))
            {
                error = $"a bad trailer line {Wire.Literal(line)}";
                return StrictParse.Error;
            }
        }

        (body, consumed) = ([.. data], position);
        return StrictParse.Complete;
    }
}
