namespace LoadBalancing.Proxy.Tests.Fuzzing;

/// <summary>Checks invariants (a)–(f) of the request side for one client connection; see docs/proxy.md, section Fuzzing.</summary>
internal static class RequestInvariants
{
    private static readonly string[] HopByHop = ["connection", "keep-alive", "te", "trailer", "upgrade", "proxy-connection", "http2-settings", "transfer-encoding"];
    private static readonly string[] Added = ["host", "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "content-length", "transfer-encoding"];

    /// <summary>How many responses the client should wait for: up to and including the first request after which the connection must end.</summary>
    public static int Expected(IReadOnlyList<RequestFacts> facts)
    {
        for (var i = 0; i < facts.Count; i++)
        {
            if (facts[i].Closes)
            {
                return i + 1;
            }
        }

        return facts.Count;
    }

    /// <summary>Responses the proxy made up itself (the origin always echoes the target).</summary>
    public static bool FromProxy(ClientResponse response) => response.Header("X-Origin-Target") is null && response.Status != 101;

    /// <summary>After these responses the client has to read to the connection's end before the case is judged.</summary>
    public static Func<IReadOnlyList<ClientResponse>, bool> NeedsClose(IReadOnlyList<RequestFacts> facts) => responses =>
    {
        for (var i = 0; i < responses.Count; i++)
        {
            if ((FromProxy(responses[i]) && responses[i].Status is >= 400 and < 500) || (i < facts.Count && facts[i].Closes))
            {
                return true;
            }
        }

        return false;
    };

    public static List<Violation> Check(int caseId, IReadOnlyList<RequestFacts> facts, ClientResult client, List<OriginRequest> upstream, List<OriginError> errors)
    {
        var found = new List<Violation>();
        foreach (var error in errors)
        {
            var colon = error.Message.IndexOf(": ", StringComparison.Ordinal);
            found.Add(new(error.Invariant.ToString(), colon < 0 ? error.Message : error.Message[..colon], (colon < 0 ? "" : error.Message[(colon + 2)..] + "; ") + "the origin received " + Wire.Literal(error.Received)));
        }

        // (a) every upstream request is one the client sent, at most once, and none after the connection had to end.
        var firstClose = Expected(facts) - 1;
        var seen = new HashSet<int>();
        foreach (var request in upstream)
        {
            var parts = request.Target.Split('/');
            if (parts.Length != 4 || parts[1] != "f" || parts[2] != caseId.ToString(System.Globalization.CultureInfo.InvariantCulture)
                || !int.TryParse(parts[3], System.Globalization.CultureInfo.InvariantCulture, out var index) || index >= facts.Count)
            {
                found.Add(new("a", "an upstream request the client never sent", request.Method + " " + request.Target));
                continue;
            }

            if (!seen.Add(index))
            {
                found.Add(new("a", "one client request reached the upstream twice", request.Target));
            }

            if (index > firstClose)
            {
                found.Add(new(facts[firstClose].MustReject is null ? "a" : "e", "a request after one that must end the connection reached the upstream", $"request {index} after request {firstClose}"));
            }

            CheckForwarded(facts[index], request, found);
        }

        if (upstream.Count > facts.Count)
        {
            found.Add(new("a", "more upstream requests than client requests", $"{upstream.Count} > {facts.Count}"));
        }

        // Responses come back in request order; an origin response for another request means the connection desynchronised.
        for (var i = 0; i < client.Responses.Count; i++)
        {
            var response = client.Responses[i];
            if (response.Header("X-Origin-Target") is { } echoed && echoed != RequestGenerator.Target(caseId, i))
            {
                found.Add(new("a", "a response answered a different request", $"response {i} answered {echoed}"));
            }

            if (i < facts.Count)
            {
                CheckAnswer(facts, i, response, client, upstream, found);
            }
        }

        // (e) a request that must be rejected gets a 4xx, unless the connection already ended before it: a request
        // called for the end, or an earlier response announced it with Connection: close (RFC 9112 §9.6: the server
        // then reads no further request; the proxy does that after a request nominates a field it would forward).
        for (var i = 0; i < facts.Count && i <= firstClose; i++)
        {
            if (facts[i].MustReject is { } why && i == client.Responses.Count && client.Closed
                && client.Responses.All(r => r.Status != 101 && !(FromProxy(r) && r.Status >= 400) && !AnnouncesClose(r)))
            {
                found.Add(new("e", $"no 4xx for a request that must be rejected ({why})", "the connection ended without an answer"));
            }
        }

        // (f) nothing after a 101 unless the request was a WebSocket upgrade.
        if (client.AfterUpgrade.Length > 0 && !(client.Responses.Count <= facts.Count && facts[client.Responses.Count - 1].WebSocket))
        {
            found.Add(new("f", "bytes after a 101 were relayed for a request that was not a WebSocket upgrade", Wire.Literal(client.AfterUpgrade)));
        }

        if (client.Unparsed is { } unparsed && !unparsed.StartsWith("truncated", StringComparison.Ordinal))
        {
            found.Add(new("b", "the client received bytes that do not parse as a response", unparsed));
        }

        return found;
    }

    private static bool AnnouncesClose(ClientResponse response) =>
        response.Header("Connection") is { } connection
        && Wire.ListElements(connection).Any(t => t.Equals("close", StringComparison.OrdinalIgnoreCase));

    private static void CheckForwarded(RequestFacts facts, OriginRequest request, List<Violation> found)
    {
        if (facts.MustReject is { } reject)
        {
            found.Add(new("e", $"a request that must be rejected reached the upstream ({reject})", request.Method + " " + request.Target));
        }

        if (facts.BodyMalformed is { } malformed)
        {
            found.Add(new("e", "a request with a malformed body reached the upstream complete", malformed));
        }

        // (b) the body is exactly the one the client framed.
        if (facts.Body is { } body && facts.MustReject is null && !body.AsSpan().SequenceEqual(request.Body))
        {
            found.Add(new("b", "the upstream body differs from the client's", $"expected {Wire.Literal(body)}, got {Wire.Literal(request.Body)}"));
        }

        // (c) no hop-by-hop or nominated header, and nothing the client did not send beyond what the proxy adds.
        foreach (var header in request.Headers)
        {
            var name = header.Key.ToLowerInvariant();
            var ours = name switch
            {
                "transfer-encoding" => header.Value == "chunked",
                "connection" or "upgrade" => facts.WebSocket,
                _ => false,
            };
            if (HopByHop.Contains(name) && !ours)
            {
                found.Add(new("c", $"hop-by-hop header '{header.Key}' reached the upstream", $"{header.Key}: {header.Value}"));
            }
            else if (facts.Nominated.Contains(name))
            {
                found.Add(new("c", "a header the client's Connection nominated reached the upstream", $"{header.Key}: {header.Value}"));
            }
            else if (!facts.Names.Contains(name) && !Added.Contains(name) && !ours)
            {
                found.Add(new("c", $"header '{header.Key}' reached the upstream but the client never sent it", $"{header.Key}: {header.Value}"));
            }
        }
    }

    private static void CheckAnswer(IReadOnlyList<RequestFacts> facts, int i, ClientResponse response, ClientResult client, List<OriginRequest> upstream, List<Violation> found)
    {
        var isLast = i == client.Responses.Count - 1;
        if (response.Status == 101 && !facts[i].WebSocket)
        {
            found.Add(new("f", "a 101 was relayed for a request that was not a WebSocket upgrade", "Upgrade: " + (facts[i].Names.Contains("upgrade") ? "present" : "absent")));
        }

        if (facts[i].MustReject is { } why && !(FromProxy(response) && (response.Status is >= 400 and < 500 or 501)))
        {
            found.Add(new("e", $"a request that must be rejected was answered without a 4xx ({why})", $"got {response.Status}"));
        }

        var rejected = FromProxy(response) && response.Status is >= 400 and < 500;
        if ((rejected || facts[i].Closes) && isLast && !client.Closed && response.Status != 101)
        {
            var kind = rejected ? "the connection stayed open after a 4xx" : facts[i].BothFramings ? "the connection stayed open after Content-Length with Transfer-Encoding" : "the connection stayed open after a request that ends it";
            found.Add(new("e", kind, $"request {i} answered {response.Status}"));
        }

        if (rejected && upstream.Any(u => u.Target.EndsWith($"/{i}", StringComparison.Ordinal)))
        {
            found.Add(new("e", "a request the proxy answered with a 4xx also reached the upstream", $"request {i} answered {response.Status}"));
        }
    }
}
