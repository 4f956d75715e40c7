namespace LoadBalancing.Proxy.Tests.Fuzzing;

/// <summary>
/// Every fuzz finding, as the exact (shrunk) bytes the fuzzer printed, replayed through the same harness and
/// invariants. Cases marked "known" are the framing defects being fixed on their own branch; the others were
/// found by this harness. Paste new findings here as they come.
/// </summary>
public sealed class RegressionCases
{
    public static TheoryData<string, string[]> Requests => new()
    {
        // known (1): a header nominated by a second Connection line is forwarded — invariant (c)
        { "nominated header across two Connection lines", ["PATCH /f/0/0 HTTP/1.1\r\nX-Secret: s3cr3t\r\nHost: fuzz.test\r\nConnection: keep-alive\r\nConnection: X-Secret\r\n\r\nY=ZG};Lk.Q9IRYv9^[SPin5f"] },
        { "nominated header after close in one Connection line", ["GET /f/1/0 HTTP/1.1\r\nHost: fuzz.test\r\nConnection: close, X-Secret\r\nX-Secret: s3cr3t\r\n\r\n"] },
        // known (2): h2c upgrade becomes a tunnel — invariants (c) Upgrade/Connection/HTTP2-Settings and (f) 101 and tunnel bytes
        { "h2c upgrade", ["GET /f/18/0 HTTP/1.1\r\nHost: fuzz.test\r\nUpgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\n\r\n"] },
        // known (3): Content-Length with a sign is accepted — invariant (e)
        { "Content-Length +34", ["POST /f/78/0 HTTP/1.1\r\nHost: fuzz.test\r\nContent-Length: +34\n\r\nVeY,&pTt=FY[rC6D2a>i4pNH2M{wE99l.#"] },
        // known (4): Transfer-Encoding in HTTP/1.0 is accepted — invariant (e)
        { "Transfer-Encoding in HTTP/1.0", ["PATCH /f/16/0 HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nContent-Length: 5\r\n\r\n"] },
        // known: X-Content-Length appears upstream when CL and TE come together — invariant (c)
        { "Content-Length with Transfer-Encoding", ["POST /f/19/0 HTTP/1.1\r\nHost: fuzz.test\r\nContent-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"] },
        // new: HTTP2-Settings is connection-specific (RFC 9113 §3.2.1) but is forwarded when not nominated — invariant (c)
        { "HTTP2-Settings without Upgrade", ["GET /f/18/0 HTTP/1.1\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\nHost: fuzz.test\r\n\r\n"] },
        // new: Connection: Upgrade is sent upstream although the request carries no Upgrade header — invariant (c)
        { "Connection upgrade without Upgrade", ["GET /f/18/0 HTTP/1.1\r\nHost: fuzz.test\r\nConnection: Upgrade, HTTP2-Settings\r\n\r\n"] },
        // new: the request header Trailer is forwarded — invariant (c)
        { "Trailer request header", ["GET /f/23/0 HTTP/1.0\r\nTrailer: X-T\r\n\r\n"] },
        // new: a control byte (0x01) in a header value is forwarded upstream as is — invariant (d)
        { "control byte in a header value", ["POST /f/90/0 HTTP/1.1\r\nX-F0: U_SAj%q\u0001x\r\nHost: fuzz.test\r\n\r\n:O4P0F&=PKMGK)bT#uEDl:(SjYM)Ov)NaQ"] },
        // new: a control byte (0x0B) inside a header name is accepted and forwarded — invariants (d), (e)
        { "control byte in a header name", ["GET /f/110/0 HTTP/1.1\r\nC\u000Bonnection: close\r\nHost: fuzz.test\r\n\r\n"] },
        // new (worst): Kestrel takes "C\x01ontent-Length" for an ordinary header, so the body becomes a second request
        // that reaches the upstream, while the invalid name goes upstream too, beside the proxy's own Content-Length: 0 — (a), (d), (e)
        { "control byte inside Content-Length's name", ["POST /f/269/0 HTTP/1.1\r\nHost: fuzz.test\r\nC\u0001ontent-Length: 49\r\n\r\nGET /f/269/smuggled HTTP/1.1\r\nHost: fuzz.test\r\n\r\n"] },
        // new: gzip, chunked is accepted and re-framed as plain chunked, silently dropping the gzip coding — invariant (e)
        { "gzip then chunked", ["PATCH /f/28/0 HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\nHost: fuzz.test\r\n\r\n1b\r\nGET /f/28/smuggled HTTP/1.1\r\n5\r\n\r\nHos\r\n10\r\nt: fuzz.test\r\n\r\n\r\n0\r\n\r\n"] },
        // new: chunked applied twice is accepted, the connection kept, and the next request forwarded — invariant (e)
        { "chunked twice", ["PUT /f/253/0 HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\nHost: fuzz.test\r\n\r\n1\r\n0\r\n3\r\n\r\n\r\r\n1;ext=1\r\n\n\r\n0\r\n\r\n", "GET /f/253/1 HTTP/1.1\r\nHost: fuzz.test\r\n\r\n"] },
        // new: a control byte (0x01) inside Keep-Alive's name is accepted and the invalid name forwarded — invariants (d), (e)
        { "control byte inside Keep-Alive's name", ["GET /f/809/0 HTTP/1.1\r\nK\u0001eep-Alive: timeout=5\r\nHost: fuzz.test\r\n\r\n"] },
        // new: DEL in a Connection value is accepted — invariant (d); the request after it must never be read
        { "DEL in a Connection value", ["DELETE /f/758/0 HTTP/1.1\r\nHost: fuzz.test\r\nConnection: close\u007Fx\r\n\r\n", "PATCH /f/758/1 HTTP/1.0\r\nContent-Length : 32\r\n\r\n4v:v|.cS(8E/eUn4k}dlF&?PZG1\"q<D\\"] },
        // harness: a nomination of a forwarded field makes the proxy answer with Connection: close and read nothing
        // more, so the request after it, which must be rejected, is rightly never answered — invariant (e)
        { "Connection nomination ends the connection before a bad Content-Length", ["POST /f/379/0 HTTP/1.1\r\nConnection: X-Secret\r\nHost: fuzz.test\r\n\r\n", "POST /f/379/1 HTTP/1.1\r\nContent-Length: 27, 30\r\nHost: fuzz.test\r\n\r\nqz^EP]JdA#T;z{_sWlZA{4{R.59"] },
    };

    public static TheoryData<string, string, bool> Responses => new()
    {
        // known: a bare-LF head is reported as a connection failure (reset), not as an invalid response
        { "bare LF in the head", "HTTP/1.1 200 Some Reason\r\nX-Upstream: yes\n\r\ns]\"7xS$[#L(?hvf'Cf>{%EQ", true },
        // new: a trailer line with a bare LF turns into a 500 from Kestrel with an empty body instead of a 502 or an abort
        { "bare LF in a trailer", "HTTP/1.1 200 \r\nX-Upstream: yes\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n}|/r\r\n0\r\nX-Bad: a\nX-More: b\r\n\r\n", false },
        // new (minor): an obs-folded trailer line is accepted; trailers are dropped, so framing is not at stake
        { "obs-fold in a trailer", "HTTP/1.1 200 \r\nX-Upstream: yes\r\nTransfer-Encoding: chunked\r\n\r\n0;done\r\nX-Fold: a\r\n b\r\n\r\n", false },
    };

    [Theory]
    [MemberData(nameof(Requests))]
    public async Task Request_KeepsEveryInvariant(string name, string[] requests)
    {
        var violations = await RequestFuzzer.ReplayAsync(requests, "127.0.0.63", TestContext.Current.CancellationToken);

        Assert.True(violations.Count == 0, $"{name}:\n" + string.Join("\n", violations));
    }

    [Theory]
    [MemberData(nameof(Responses))]
    public async Task Response_NeverReachesTheClientAmbiguousOrTruncated(string name, string response, bool closeAfter)
    {
        var violations = await ResponseFuzzer.ReplayAsync(response, closeAfter, "127.0.0.64", TestContext.Current.CancellationToken);

        Assert.True(violations.Count == 0, $"{name}:\n" + string.Join("\n", violations));
    }
}
