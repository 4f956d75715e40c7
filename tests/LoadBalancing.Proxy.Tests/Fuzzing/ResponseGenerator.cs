using System.Globalization;
using System.Text;

namespace LoadBalancing.Proxy.Tests.Fuzzing;

/// <summary>What the scripted upstream sends for one request, and whether it then closes.</summary>
internal sealed record ResponsePlan(byte[] Wire, bool CloseAfter);

/// <summary>Generates upstream responses around framing: interim 1xx, 204/304 with bodies, CL/TE conflicts, broken chunking, early closes.</summary>
internal static class ResponseGenerator
{
    public static ResponsePlan Plan(Dice dice)
    {
        var text = new StringBuilder();
        if (dice.Chance(0.1))
        {
            text.Append(dice.Pick(["HTTP/1.1 100 Continue\r\n\r\n", "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n", "HTTP/1.1 102 Processing\r\n\r\n"]));
        }

        var status = dice.Pick([200, 200, 200, 201, 404, 500, 204, 304, 101]);
        var http10 = dice.Chance(0.1);
        var payload = dice.Next(4) switch
        {
            0 => "",
            // A response hidden in a body: if a client ever sees it as a response, the connection desynchronised.
            1 => "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nsmuggled",
            _ => Encoding.ASCII.GetString(dice.Printable(dice.Between(1, 60))),
        };
        var headers = new List<string> { "X-Upstream: yes" };
        if (dice.Chance(0.2))
        {
            headers.Add(dice.Pick(["Connection: keep-alive", "Connection: close", "Connection: X-Internal", "Keep-Alive: timeout=5", "Trailer: X-T"]));
            headers.Add("X-Internal: secret");
        }

        var body = "";
        var untilClose = false;
        var n = payload.Length;
        switch (dice.Next(100))
        {
            case < 35:
                headers.Add($"Content-Length: {n}");
                body = payload;
                break;
            case < 62:
                headers.Add("Transfer-Encoding: " + dice.Pick(["chunked", "chunked", "Chunked"]));
                body = Chunked(dice, payload);
                break;
            case < 72:
                untilClose = true;
                body = payload;
                break;
            case < 86:
                headers.AddRange(dice.Next(8) switch
                {
                    0 => [$"Content-Length: {n + dice.Between(1, 5)}"],
                    1 => [$"Content-Length: {Math.Max(0, n - dice.Between(1, 5))}"],
                    2 => [$"Content-Length: {n}", $"Content-Length: {n}"],
                    3 => [$"Content-Length: {n}", $"Content-Length: {n + 1}"],
                    4 => [$"Content-Length: +{n}"],
                    5 => [$"Content-Length: {n}, {n}"],
                    6 => [$"Content-Length: {n}", "Transfer-Encoding: chunked"],
                    _ => [$"Content-Length: 99999999999999999999"],
                });
                body = payload;
                break;
            default:
                headers.AddRange(dice.Next(5) switch
                {
                    0 => ["Transfer-Encoding: gzip, chunked"],
                    1 => ["Transfer-Encoding: chunked", "Transfer-Encoding: chunked"],
                    2 => ["Transfer-Encoding: xchunked"],
                    3 => ["Transfer-Encoding: chunked, identity"],
                    _ => ["Transfer-Encoding: chunked", $"Content-Length: {n}"],
                });
                body = Chunked(dice, payload);
                break;
        }

        var lines = headers.Select(h => h + "\r\n").ToList();
        if (dice.Chance(0.15))
        {
            var at = dice.Next(lines.Count);
            var line = lines[at][..^2];
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            lines[at] = dice.Next(7) switch
            {
                0 => line + "\n",
                1 => line + "\r\n folded\r\n",
                2 => line + (char)dice.Pick(new[] { 0, 1, 0x0B, 0x7F }) + "\r\n",
                3 => line[..1] + "\0" + line[1..] + "\r\n",
                4 => line[..colon] + " " + line[colon..] + "\r\n",
                5 => ":" + line[(colon + 1)..] + "\r\n",
                _ => line + "\rX\r\n",
            };
        }

        var reason = dice.Pick([" OK", "", " ", " Some Reason"]);
        text.Append(http10 ? "HTTP/1.0 " : "HTTP/1.1 ").Append(status.ToString(CultureInfo.InvariantCulture)).Append(reason).Append("\r\n");
        foreach (var line in lines)
        {
            text.Append(line);
        }

        text.Append("\r\n").Append(body);
        var wire = Wire.Bytes(text.ToString());
        var truncated = dice.Chance(0.1);
        if (truncated && wire.Length > 1)
        {
            wire = wire[..dice.Between(1, wire.Length)];
        }

        return new ResponsePlan(wire, untilClose || truncated || http10 || dice.Chance(0.5));
    }

    internal static string Chunked(Dice dice, string payload)
    {
        var wire = new StringBuilder();
        var offset = 0;
        foreach (var size in payload.Length == 0 ? [] : dice.Split(payload.Length, 4))
        {
            var hex = size.ToString(dice.Chance(0.5) ? "x" : "X", CultureInfo.InvariantCulture);
            wire.Append(dice.Next(30) switch
            {
                0 => "zz",
                1 => "fffffffffffffffff",
                2 => "000" + hex,
                3 => hex + ";ext=1",
                4 => hex + " ;x",
                5 => "-" + hex,
                6 => "0x" + hex,
                7 => "1" + hex, // bigger than the data that follows
                _ => hex,
            });
            wire.Append(dice.Chance(0.03) ? "\n" : "\r\n").Append(payload.AsSpan(offset, size)).Append(dice.Chance(0.03) ? "XX" : "\r\n");
            offset += size;
        }

        if (dice.Chance(0.05))
        {
            return wire.ToString(); // no last chunk: only the close can end it
        }

        wire.Append(dice.Chance(0.1) ? "0;done\r\n" : "0\r\n");
        if (dice.Chance(0.15))
        {
            wire.Append(dice.Pick(["X-Trailer: t\r\n", "X-Bad: a\nX-More: b\r\n", "X-Fold: a\r\n b\r\n", "Content-Length: 5\r\n"]));
        }

        return wire.Append("\r\n").ToString();
    }
}
