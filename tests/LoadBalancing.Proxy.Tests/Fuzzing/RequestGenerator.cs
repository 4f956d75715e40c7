using System.Globalization;
using System.Text;

namespace LoadBalancing.Proxy.Tests.Fuzzing;

/// <summary>One client request as separate wire pieces, so a failing case can be shrunk line by line.</summary>
internal sealed class RequestSpec
{
    public required string RequestLine { get; init; }

    /// <summary>Header lines, each with its own line ending (which may be a mutated one).</summary>
    public required List<byte[]> HeaderLines { get; init; }

    public byte[] HeadEnd { get; init; } = "\r\n"u8.ToArray();

    public byte[] Body { get; init; } = [];

    public byte[] Render() => Wire.Concat([Wire.Bytes(RequestLine), .. HeaderLines, HeadEnd, Body]);

    public RequestSpec Without(int headerLine) => new()
    {
        RequestLine = RequestLine,
        HeaderLines = [.. HeaderLines.Where((_, i) => i != headerLine)],
        HeadEnd = HeadEnd,
        Body = Body,
    };
}

/// <summary>Generates request heads and bodies around HTTP/1.x framing: mostly valid, each with a few hostile twists.</summary>
internal static class RequestGenerator
{
    private static readonly string[] BodyMethods = ["POST", "PUT", "PATCH", "POST"];
    private static readonly string[] OtherMethods = ["GET", "DELETE", "OPTIONS", "GET"];

    public static string Target(int caseId, int index) => $"/f/{caseId}/{index}";

    public static List<RequestSpec> Case(Dice dice, int caseId)
    {
        var count = dice.Chance(0.55) ? 1 : dice.Chance(0.6) ? 2 : 3;
        var requests = new List<RequestSpec>(count);
        for (var i = 0; i < count; i++)
        {
            requests.Add(Request(dice, caseId, i));
        }

        return requests;
    }

    private static RequestSpec Request(Dice dice, int caseId, int index)
    {
        var http10 = dice.Chance(0.12);
        var eol = dice.Chance(0.03) ? "\n" : "\r\n";
        var lines = new List<string>();
        byte[] body = [];

        var framing = dice.Next(100);
        var hasBody = framing < 70;
        var method = hasBody ? dice.Pick(BodyMethods) : dice.Pick(OtherMethods);

        if (!http10 || dice.Chance(0.5))
        {
            lines.Add("Host: fuzz.test");
        }

        for (var i = dice.Next(3); i > 0; i--)
        {
            lines.Add($"X-F{dice.Next(5)}: {Value(dice)}");
        }

        var payload = Payload(dice, caseId);
        switch (framing)
        {
            case < 25:
                lines.Add($"Content-Length: {payload.Length}");
                body = payload;
                break;
            case < 35:
                lines.AddRange(ContentLengthVariant(dice, payload.Length));
                body = payload;
                break;
            case < 50:
                lines.Add("Transfer-Encoding: " + dice.Pick(["chunked", "chunked", "Chunked", "chunked "]));
                body = Chunked(dice, payload, eol);
                break;
            case < 62:
                lines.AddRange(TransferEncodingVariant(dice));
                body = Chunked(dice, payload, eol);
                break;
            case < 70:
                // Both framings: the chunked body is what Kestrel reads, the length is a decoy.
                body = Chunked(dice, payload, eol);
                var both = new[] { "Transfer-Encoding: chunked", $"Content-Length: {dice.Pick(new[] { 0, 4, body.Length, 44 })}" };
                lines.AddRange(dice.Chance(0.5) ? both : both.Reverse());
                break;
        }

        lines.AddRange(ConnectionAndUpgrade(dice, ref method, ref http10));

        if (dice.Chance(0.15))
        {
            lines.Add(dice.Pick(["Keep-Alive: timeout=5", "TE: trailers", "Trailer: X-T", "Proxy-Connection: keep-alive", "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA"]));
        }

        Shuffle(dice, lines);
        var headerLines = lines.Select(l => Wire.Bytes(l + eol)).ToList();
        if (dice.Chance(0.25))
        {
            Mutate(dice, headerLines, eol);
        }

        return new RequestSpec
        {
            RequestLine = $"{method} {Target(caseId, index)} {(http10 ? "HTTP/1.0" : "HTTP/1.1")}{eol}",
            HeaderLines = headerLines,
            HeadEnd = Wire.Bytes(eol),
            Body = body,
        };
    }

    private static string Value(Dice dice) => dice.Next(6) switch
    {
        0 => "",
        1 => "a, b ,c",
        2 => "caf\u00e9 \u00ff",
        3 => "\"quoted\\\" value\"",
        _ => Encoding.ASCII.GetString(dice.Printable(dice.Between(1, 12))),
    };

    private static byte[] Payload(Dice dice, int caseId) => dice.Next(5) switch
    {
        0 => [],
        // A request hidden in a body: if it ever reaches the origin as a request, framing was lost.
        1 => Wire.Bytes($"GET /f/{caseId}/smuggled HTTP/1.1\r\nHost: fuzz.test\r\n\r\n"),
        2 => Wire.Bytes("0\r\n\r\n"),
        _ => dice.Printable(dice.Between(1, 40)),
    };

    private static IEnumerable<string> ContentLengthVariant(Dice dice, int length)
    {
        var n = length.ToString(CultureInfo.InvariantCulture);
        return dice.Next(12) switch
        {
            0 => [$"Content-Length: +{n}"],
            1 => [$"Content-Length: 00{n}"],
            2 => [$"Content-Length: {n}, {n}"],
            3 => [$"Content-Length:   {n}  "],
            4 => [$"Content-Length: -{n}"],
            5 => ["Content-Length: 99999999999999999999999"],
            6 => [$"Content-Length: {n}", $"Content-Length: {n}"],
            7 => [$"Content-Length: {n}", $"Content-Length: {length + 1}"],
            8 => [$"Content-Length: {n}, {length + 3}"],
            9 => [$"Content-Length: 0x{length:x}"],
            10 => [$"Content-Length: {n} {n}"],
            _ => [$"Content-Length: {n}a"],
        };
    }

    private static IEnumerable<string> TransferEncodingVariant(Dice dice) => dice.Next(9) switch
    {
        0 => ["Transfer-Encoding: gzip, chunked"],
        1 => ["Transfer-Encoding: chunked, identity"],
        2 => ["Transfer-Encoding: xchunked"],
        3 => ["Transfer-Encoding: chunked", "Transfer-Encoding: chunked"],
        4 => ["Transfer-Encoding: identity"],
        5 => ["Transfer-Encoding: chunked,"],
        6 => ["Transfer-Encoding: \"chunked\""],
        7 => ["Transfer-Encoding: gzip", "Transfer-Encoding: chunked"],
        _ => ["Transfer-Encoding: chunked, chunked"],
    };

    private static IEnumerable<string> ConnectionAndUpgrade(Dice dice, ref string method, ref bool http10)
    {
        switch (dice.Next(20))
        {
            case 0:
            case 1:
                return ["Connection: close"];
            case 2:
                return ["Connection: keep-alive"];
            case 3:
                return ["Connection: close, X-Secret", "X-Secret: s3cr3t"];
            case 4:
                return ["Connection: X-Secret, X-Other", "X-Secret: s3cr3t", "X-Other: o"];
            case 5:
                return ["Connection: keep-alive", "Connection: X-Secret", "X-Secret: s3cr3t"];
            case 6:
                return ["Connection: Keep-Alive, x-secret ,", "X-Secret: s3cr3t", "Keep-Alive: timeout=1"];
            case 7:
                method = "GET";
                http10 = false;
                return ["Connection: Upgrade", "Upgrade: websocket", "Sec-WebSocket-Version: 13", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="];
            case 8:
                method = "GET";
                http10 = false;
                return ["Connection: Upgrade, HTTP2-Settings", "Upgrade: h2c", "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA"];
            case 9:
                return [dice.Pick(["Connection: upgrade", "Connection: keep-alive, Upgrade"]), dice.Pick(["Upgrade: foo/2", "Upgrade: TLS/1.2", "Upgrade: websocket, h2c"])];
            case 10:
                return ["Upgrade: websocket"];
            default:
                return [];
        }
    }

    private static byte[] Chunked(Dice dice, byte[] payload, string eol)
    {
        var wire = new StringBuilder();
        var offset = 0;
        foreach (var size in payload.Length == 0 ? [] : dice.Split(payload.Length, 4))
        {
            var hex = size.ToString(dice.Chance(0.5) ? "x" : "X", CultureInfo.InvariantCulture);
            var sizeText = dice.Next(25) switch
            {
                0 => "zz",
                1 => "fffffffffffffffffff",
                2 => "0" + hex,
                3 => hex + ";ext=1",
                4 => hex + ";name=\"q v\"",
                5 => hex + " ",
                6 => "-" + hex,
                7 => "0x" + hex,
                _ => hex,
            };
            wire.Append(sizeText).Append(eol).Append(Wire.Text(payload.AsSpan(offset, size))).Append(eol);
            offset += size;
        }

        wire.Append(dice.Chance(0.1) ? "0;last" : "0").Append(eol);
        if (dice.Chance(0.15))
        {
            wire.Append(dice.Pick(["X-Trailer: t", "Content-Length: 5", "Transfer-Encoding: chunked"])).Append(eol);
        }

        return Wire.Bytes(wire.Append(eol).ToString());
    }

    private static void Mutate(Dice dice, List<byte[]> lines, string eol)
    {
        if (lines.Count == 0)
        {
            return;
        }

        var at = dice.Next(lines.Count);
        var line = Wire.Text(lines[at]);
        var colon = line.IndexOf(':', StringComparison.Ordinal);
        var end = line.Length - eol.Length;
        string mutated = dice.Next(10) switch
        {
            0 => line[..end] + eol + " folded" + eol, // obs-fold continuation
            1 => line[..end] + "\rX" + eol, // bare CR in a value
            2 => line[..end] + (char)dice.Pick(new[] { 0, 1, 8, 0x0B, 0x0C, 0x1B, 0x1F, 0x7F }) + "x" + eol,
            3 when colon > 0 => line[..1] + (char)dice.Pick(new[] { 0, 1, 0x7F, 0x0B }) + line[1..],
            4 when colon > 0 => line[..colon] + " " + line[colon..], // whitespace before the colon
            5 => " " + line, // a header line starting with whitespace
            6 => line[..end] + "\n", // one bare-LF line ending
            7 => line + line, // duplicated
            8 when colon > 0 => line[..colon] + ":" + line[(colon + 1)..].TrimStart() + "\t",
            _ => line[..end] + "\u0085\u00a0" + eol,
        };
        lines[at] = Wire.Bytes(mutated);
    }

    private static void Shuffle(Dice dice, List<string> lines)
    {
        for (var i = lines.Count - 1; i > 0; i--)
        {
            var j = dice.Next(i + 1);
            (lines[i], lines[j]) = (lines[j], lines[i]);
        }
    }
}
