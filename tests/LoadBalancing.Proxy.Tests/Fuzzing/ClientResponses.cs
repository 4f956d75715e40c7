using System.Globalization;

namespace LoadBalancing.Proxy.Tests.Fuzzing;

/// <summary>One response as the fuzzing client parsed it off the proxy's connection.</summary>
internal sealed record ClientResponse(int Status, IReadOnlyList<KeyValuePair<string, string>> Headers, byte[] Body)
{
    public string? Header(string name) =>
        Headers.Where(h => h.Key.Equals(name, StringComparison.OrdinalIgnoreCase)).Select(h => h.Value).FirstOrDefault();

    public int Count(string name) => Headers.Count(h => h.Key.Equals(name, StringComparison.OrdinalIgnoreCase));
}

/// <summary>
/// A strict HTTP/1.1 response reader for the client side: whatever the proxy sends a client must itself be
/// unambiguous, so the same strictness as <see cref="StrictRequestParser"/> applies.
/// </summary>
internal static class ClientResponseReader
{
    public static StrictParse TryRead(ReadOnlySpan<byte> buffer, bool atEof, out ClientResponse? response, out int consumed, out string? error)
    {
        (response, consumed, error) = (null, 0, null);
        var end = buffer.IndexOf("\r\n\r\n"u8);
        if (end < 0)
        {
            if (atEof && buffer.Length > 0)
            {
                error = "the connection ended inside a response head";
            }

            return atEof && buffer.Length > 0 ? StrictParse.Error : StrictParse.Incomplete;
        }

        var head = Wire.Text(buffer[..end]);
        var position = end + 4;
        var lines = head.Split("\r\n");
        var status = lines[0].Split(' ', 3);
        if (status.Length < 2 || status[0] is not ("HTTP/1.1" or "HTTP/1.0") || status[1].Length != 3 || !int.TryParse(status[1], CultureInfo.InvariantCulture, out var code))
        {
            error = $"bad status line {Wire.Literal(Wire.Bytes(lines[0]))}";
            return StrictParse.Error;
        }

        var headers = new List<KeyValuePair<string, string>>();
        foreach (var line in lines.Skip(1))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0 || !Wire.IsToken(Wire.Bytes(line[..colon])) || line.Any(c => c < 0x20 && c != '\t') || line.Contains('\n', StringComparison.Ordinal))
            {
                error = $"bad header line {Wire.Literal(Wire.Bytes(line))}";
                return StrictParse.Error;
            }

            headers.Add(new(line[..colon], line[(colon + 1)..].Trim(' ', '\t')));
        }

        var result = new ClientResponse(code, headers, []);
        var lengths = headers.Where(h => h.Key.Equals("Content-Length", StringComparison.OrdinalIgnoreCase)).ToArray();
        var codings = headers.Where(h => h.Key.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase)).ToArray();
        if ((lengths.Length > 0 && codings.Length > 0) || lengths.Length > 1 || codings.Length > 1
            || (lengths.Length == 1 && !Wire.IsDigits(lengths[0].Value)) || (codings.Length == 1 && codings[0].Value != "chunked"))
        {
            error = "the proxy sent the client an ambiguously framed response";
            return StrictParse.Error;
        }

        if (code < 200 || code is 204 or 304)
        {
            (response, consumed) = (result, position);
            return StrictParse.Complete;
        }

        if (lengths.Length == 1)
        {
            var length = int.Parse(lengths[0].Value, CultureInfo.InvariantCulture);
            if (buffer.Length - position < length)
            {
                return Truncated(atEof, out error);
            }

            (response, consumed) = (result with { Body = buffer.Slice(position, length).ToArray() }, position + length);
            return StrictParse.Complete;
        }

        if (codings.Length == 1)
        {
            var chunked = StrictChunked.Decode(buffer[position..], out var body, out var used, out var why);
            if (chunked == StrictParse.Incomplete)
            {
                return Truncated(atEof, out error);
            }

            if (chunked == StrictParse.Error)
            {
                error = "the proxy sent a broken chunked body: " + why;
                return StrictParse.Error;
            }

            (response, consumed) = (result with { Body = body! }, position + used);
            return StrictParse.Complete;
        }

        // Delimited by close: complete only once the connection ends.
        if (!atEof)
        {
            return StrictParse.Incomplete;
        }

        (response, consumed) = (result with { Body = buffer[position..].ToArray() }, buffer.Length);
        return StrictParse.Complete;
    }

    private static StrictParse Truncated(bool atEof, out string? error)
    {
        error = atEof ? "truncated" : null;
        return atEof ? StrictParse.Error : StrictParse.Incomplete;
    }
}
