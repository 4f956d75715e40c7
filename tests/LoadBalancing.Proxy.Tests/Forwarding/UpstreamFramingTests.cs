using System.Net;
using LoadBalancing.Proxy.Metrics;
using LoadBalancing.Proxy.Tests.Support;

namespace LoadBalancing.Proxy.Tests.Forwarding;

/// <summary>An upstream whose response framing is ambiguous or broken gets a 502; nothing of it reaches the client.</summary>
public sealed class UpstreamFramingTests
{
    public static TheoryData<string, string> BadResponses => new()
    {
        { "both Content-Length and chunked", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n" },
        { "two different Content-Lengths", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!" },
        { "a Content-Length that is not a number", "HTTP/1.1 200 OK\r\nContent-Length: 5x\r\n\r\nhello" },
        { "a coding other than chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n" },
        { "a bad chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n" },
        { "a chunk without its CRLF", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n" },
        { "an oversized chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFF\r\nhello\r\n0\r\n\r\n" },
        { "obsolete line folding", "HTTP/1.1 200 OK\r\nX-A: one\r\n two\r\nContent-Length: 0\r\n\r\n" },
        { "a status line that is not HTTP", "HTTP/2 200\r\nContent-Length: 0\r\n\r\n" },
        { "a bare LF in a header", "HTTP/1.1 200 OK\r\nX-A: a\nX-B: b\r\nContent-Length: 0\r\n\r\n" },
        { "a header without a name", "HTTP/1.1 200 OK\r\n: nameless\r\nContent-Length: 0\r\n\r\n" },
        { "a space before the colon", "HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n" },
        { "a status above 599", "HTTP/1.1 600 Odd\r\nContent-Length: 5\r\n\r\nhello" },
        { "status 999", "HTTP/1.1 999 Odd\r\nContent-Length: 5\r\n\r\nhello" },
    };

    [Fact]
    public async Task FieldValuesBeyondAscii_AreRelayedByteForByte_NotAFailure()
    {
        // RFC 9110 §5.5 obs-text: a Latin-1 "café", and a UTF-8 file name ("résumé", é = C3 A9) seen byte by byte.
        const string Response = "HTTP/1.1 200 OK\r\nX-A: caf\u00E9\r\nContent-Disposition: attachment; filename=\"r\u00C3\u00A9sum\u00C3\u00A9.pdf\"\r\nContent-Length: 2\r\n\r\nok";
        await using var upstream = new RawUpstream(Response, "127.0.0.2", closeAfterResponse: false);
        await using var proxy = await TestProxy.StartAsync(TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, upstream.Address));

        for (var i = 0; i < 6; i++)
        {
            var answer = await proxy.SendRawAsync("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");

            Assert.StartsWith("HTTP/1.1 200", answer, StringComparison.Ordinal);
            Assert.Contains("\r\nX-A: caf\u00E9\r\n", answer, StringComparison.Ordinal);
            Assert.Contains("\r\nContent-Disposition: attachment; filename=\"r\u00C3\u00A9sum\u00C3\u00A9.pdf\"\r\n", answer, StringComparison.Ordinal);
            Assert.EndsWith("\r\n\r\nok", answer, StringComparison.Ordinal);
        }

        Assert.Equal(0, proxy.Cluster().Metrics.Errors(UpstreamError.Reset));
        Assert.Equal(0, proxy.Cluster().Metrics.Errors(UpstreamError.BadResponse));
    }

    [Theory]
    [MemberData(nameof(BadResponses))]
    public async Task BadUpstreamFraming_Is502_NeverPassedOn(string why, string response)
    {
        await using var upstream = new RawUpstream(response, "127.0.0.2");
        await using var proxy = await TestProxy.StartAsync(TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, upstream.Address));

        using var answer = await proxy.Client.GetAsync("/", TestContext.Current.CancellationToken);
        var body = await answer.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);

        Assert.True(answer.StatusCode == HttpStatusCode.BadGateway, $"{why}: got {(int)answer.StatusCode}");
        Assert.StartsWith("upstream sent an invalid response", body, StringComparison.Ordinal);
        Assert.DoesNotContain("hello", body, StringComparison.Ordinal);
        Assert.False(answer.Headers.Contains("X-A"));
        Assert.Equal(1, proxy.Cluster().Metrics.Errors(UpstreamError.BadResponse));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task BareLineFeedResponse_IsABadResponse_NotAReset(bool upstreamCloses)
    {
        await using var upstream = new RawUpstream("HTTP/1.1 200 OK\nContent-Length: 5\n\nhello", "127.0.0.2", closeAfterResponse: upstreamCloses);
        await using var proxy = await TestProxy.StartAsync(TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, upstream.Address));

        using var answer = await proxy.Client.GetAsync("/", TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.BadGateway, answer.StatusCode);
        Assert.StartsWith("upstream sent an invalid response", await answer.Content.ReadAsStringAsync(TestContext.Current.CancellationToken), StringComparison.Ordinal);
        Assert.Equal(1, proxy.Cluster().Metrics.Errors(UpstreamError.BadResponse));
        Assert.Equal(0, proxy.Cluster().Metrics.Errors(UpstreamError.Reset));
        Assert.Equal(0, proxy.Cluster().Metrics.Errors(UpstreamError.Timeout));
    }

    [Fact]
    public async Task OversizedResponseHead_Is502()
    {
        var huge = "HTTP/1.1 200 OK\r\nX-Big: " + new string('a', 70 * 1024) + "\r\nContent-Length: 0\r\n\r\n";
        await using var upstream = new RawUpstream(huge, "127.0.0.2");
        await using var proxy = await TestProxy.StartAsync(TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, upstream.Address));

        using var answer = await proxy.Client.GetAsync("/", TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.BadGateway, answer.StatusCode);
        Assert.Contains("larger than 65536 bytes", await answer.Content.ReadAsStringAsync(TestContext.Current.CancellationToken), StringComparison.Ordinal);
    }

    [Fact]
    public async Task ResponseHopByHopHeaders_AreRemoved_AndConnectionNamedOnesToo()
    {
        const string response = "HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Internal\r\nKeep-Alive: timeout=5\r\nX-Internal: secret\r\nX-Public: yes\r\nContent-Length: 2\r\n\r\nok";
        await using var upstream = new RawUpstream(response, "127.0.0.2");
        await using var proxy = await TestProxy.StartAsync(TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, upstream.Address));

        using var answer = await proxy.Client.GetAsync("/", TestContext.Current.CancellationToken);

        Assert.Equal("ok", await answer.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        Assert.Equal("yes", answer.Headers.GetValues("X-Public").Single());
        Assert.False(answer.Headers.Contains("X-Internal"));
        Assert.False(answer.Headers.Contains("Keep-Alive"));
    }

    [Fact]
    public async Task ChunkedResponseWithTrailersAndExtensions_IsDecoded()
    {
        const string response = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n";
        await using var upstream = new RawUpstream(response, "127.0.0.2", closeAfterResponse: false);
        await using var proxy = await TestProxy.StartAsync(TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, upstream.Address));

        Assert.Equal("hello world", await proxy.Client.GetStringAsync("/", TestContext.Current.CancellationToken));
        Assert.Equal("hello world", await proxy.Client.GetStringAsync("/", TestContext.Current.CancellationToken));
        Assert.Equal(1, proxy.Cluster().Metrics.ConnectionsOpened); // the connection was clean and reused
    }

    [Fact]
    public async Task ResponseDelimitedByClose_IsStreamedToTheEnd_AndTheConnectionNotReused()
    {
        const string response = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end";
        await using var upstream = new RawUpstream(response, "127.0.0.2");
        await using var proxy = await TestProxy.StartAsync(TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, upstream.Address));

        Assert.Equal("until the end", await proxy.Client.GetStringAsync("/", TestContext.Current.CancellationToken));
        Assert.Equal("until the end", await proxy.Client.GetStringAsync("/", TestContext.Current.CancellationToken));
        Assert.Equal(2, proxy.Cluster().Metrics.ConnectionsOpened);
    }

    [Fact]
    public async Task TruncatedBody_AbortsTheClientConnection()
    {
        const string response = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part";
        await using var upstream = new RawUpstream(response, "127.0.0.2");
        await using var proxy = await TestProxy.StartAsync(TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, upstream.Address));

        // Headers went out already; a short body must not look complete to the client.
        await Assert.ThrowsAnyAsync<HttpRequestException>(() => proxy.Client.GetStringAsync("/", TestContext.Current.CancellationToken));
        Assert.Equal(1, proxy.Cluster().Metrics.Errors(UpstreamError.Reset));
    }

    // ASP.NET Core has no API to send a 1xx (dotnet/aspnetcore#27851), so interim responses are dropped on purpose.
    [Fact]
    public async Task InterimResponses_AreSkipped()
    {
        const string response = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nfine";
        await using var upstream = new RawUpstream(response, "127.0.0.2");
        await using var proxy = await TestProxy.StartAsync(TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, upstream.Address));

        using var answer = await proxy.Client.GetAsync("/", TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
        Assert.Equal("fine", await answer.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        Assert.False(answer.Headers.Contains("Link"));
    }
}
