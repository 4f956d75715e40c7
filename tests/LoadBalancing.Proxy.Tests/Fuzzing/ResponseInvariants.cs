namespace LoadBalancing.Proxy.Tests.Fuzzing;

/// <summary>
/// Checks the response side: the client never gets an ambiguous response, an invalid or truncated upstream
/// response presented as complete, or (through a reused connection) bytes meant for another response.
/// Invariant letters: r (passed on what it must not), p (the probe after it), s (strictness: the proxy
/// refused or broke a response the reference accepts — reported, not failed).
/// </summary>
internal static class ResponseInvariants
{
    public static bool IsProxyError(ClientResponse response) =>
        response.Status is 502 or 503 or 504 && Wire.Text(response.Body).StartsWith("upstream ", StringComparison.Ordinal);

    public static List<Violation> Check(ResponseJudgement reference, ClientResult first, ClientResult? probe, int caseId)
    {
        var found = new List<Violation>();
        if (first.Unparsed is { } unparsed && !unparsed.StartsWith("truncated", StringComparison.Ordinal))
        {
            found.Add(new("r", "the client received bytes that do not parse as one unambiguous response", unparsed));
        }

        var response = first.Responses.FirstOrDefault();
        if (response is null)
        {
            if (reference.Verdict == ResponseVerdict.Valid && !first.TimedOut)
            {
                found.Add(new("s", "a valid upstream response never reached the client", $"{reference.Status}, {reference.Body.Length} body bytes"));
            }
        }
        else if (IsProxyError(response))
        {
            var said = Wire.Text(response.Body);
            if (reference.Verdict == ResponseVerdict.Valid)
            {
                found.Add(new("s", "a valid upstream response was refused", said));
            }
            else if (reference.Verdict is ResponseVerdict.InvalidHead && !said.StartsWith("upstream sent an invalid response", StringComparison.Ordinal))
            {
                found.Add(new("r", $"an invalid upstream head ({reference.Why}) was reported as something else", said));
            }
        }
        else if (response.Status != reference.Status && reference.Status >= 200)
        {
            found.Add(new("r", $"the client got a status the upstream never sent ({reference.Verdict} upstream response)", $"expected {reference.Status} or a 502, got {response.Status} with {Wire.Literal(response.Body)}"));
        }
        else if (reference.Verdict != ResponseVerdict.Valid)
        {
            var kind = reference.Verdict switch
            {
                ResponseVerdict.InvalidHead => $"an invalid upstream head was passed on ({reference.Why})",
                ResponseVerdict.Unasked101 => "an unasked-for 101 was passed on",
                _ => $"an upstream response with {(reference.Verdict == ResponseVerdict.Truncated ? "a truncated" : "a malformed")} body was presented as complete ({reference.Why})",
            };
            found.Add(new("r", kind, $"the client got {response.Status} with {Wire.Literal(response.Body)}"));
        }
        else if (response.Status != reference.Status || !response.Body.AsSpan().SequenceEqual(reference.Body))
        {
            found.Add(new("r", "the client's response differs from the upstream's", $"expected {reference.Status} {Wire.Literal(reference.Body)}, got {response.Status} {Wire.Literal(response.Body)}"));
        }

        if (probe?.Responses.FirstOrDefault() is { } next && !IsProxyError(next)
            && (next.Status != 200 || Wire.Text(next.Body) != ScriptedUpstream.ProbeBody(caseId)))
        {
            found.Add(new("p", "the next request on the connection got another response's bytes", $"got {next.Status} {Wire.Literal(next.Body)}"));
        }

        return found;
    }
}
