using LoadBalancing.Proxy.Tests.Support;
using Microsoft.AspNetCore.Http;

namespace LoadBalancing.Proxy.Tests.Forwarding;

/// <summary>
/// Malformed and smuggling-shaped requests: Kestrel rejects what it cannot frame, and whatever it accepts
/// reaches the upstream framed by the proxy, so one client request is never two upstream requests.
/// </summary>
public sealed class RequestSafetyTests
{
    public static TheoryData<string, string> Malformed => new()
    {
        { "a header line without a colon", "GET / HTTP/1.1\r\nHost: a\r\nBroken header\r\n\r\n" },
        { "a space in the request target", "GET /a b HTTP/1.1\r\nHost: a\r\n\r\n" },
        { "no Host header in HTTP/1.1", "GET / HTTP/1.1\r\n\r\n" },
        { "two Host headers", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n" },
        { "duplicate Content-Length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 40\r\n\r\nhello" },
        { "a bad chunk size", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n" },
        { "obfuscated Transfer-Encoding", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n" },
        { "a coding that is not chunked last", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n" },
    };

    [Fact]
    public async Task UnknownHttpVersion_Is505_AndNothingReachesTheUpstream()
    {
        await using var backend = await TestBackend.StartAsync("a", "127.0.0.2");
        await using var proxy = await TestProxy.StartAsync(TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, backend.Address));

        var answer = await proxy.SendRawAsync("GET / HTTP/9.9\r\nHost: a\r\n\r\n");

        Assert.StartsWith("HTTP/1.1 505", answer, StringComparison.Ordinal);
        Assert.Empty(backend.Requests);
    }

    [Theory]
    [MemberData(nameof(Malformed))]
    public async Task MalformedRequest_Is400_AndNothingReachesTheUpstream(string why, string request)
    {
        await using var backend = await TestBackend.StartAsync("a", "127.0.0.2");
        await using var proxy = await TestProxy.StartAsync(TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, backend.Address));

        var answer = await proxy.SendRawAsync(request);

        Assert.True(answer.StartsWith("HTTP/1.1 400", StringComparison.Ordinal), $"{why}: {answer.Split('\r')[0]}");
        Assert.Empty(backend.Requests);
    }

    public static TheoryData<string, string> SmugglingShapes => new()
    {
        {
            "Content-Length and Transfer-Encoding together",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 44\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n"
        },
        {
            "Transfer-Encoding and Content-Length together",
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n2b\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\nX: y\r\n\r\n\r\n0\r\n\r\n"
        },
        {
            "a second request hidden in a Content-Length body",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 33\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n"
        },
    };

    [Theory]
    [MemberData(nameof(SmugglingShapes))]
    public async Task SmugglingShapes_NeverBecomeTwoUpstreamRequests(string why, string request)
    {
        await using var backend = await TestBackend.StartAsync("a", "127.0.0.2", async context =>
        {
            // Read the whole body, as an application would.
            await new StreamReader(context.Request.Body).ReadToEndAsync(context.RequestAborted);
            await context.Response.WriteAsync("ok");
        });
        await using var proxy = await TestProxy.StartAsync(TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, backend.Address));

        // A closing request after the shape ends the connection once everything before it was answered.
        var answer = await proxy.SendRawAsync(request + EndMarker);
        var responses = CountResponses(answer);
        var forwarded = backend.Requests.Where(r => r.Target != "/end").ToArray();

        Assert.DoesNotContain(forwarded, r => r.Target == "/smuggled");
        Assert.True(forwarded.Length <= 1, $"{why}: the upstream saw {forwarded.Length} requests before the end marker");
        Assert.True(responses - (backend.Requests.Any(r => r.Target == "/end") ? 1 : 0) <= 1, $"{why}: the client got {responses} responses");
        Assert.All(forwarded, r => Assert.False(
            r.Headers.ContainsKey("Content-Length") && r.Headers.ContainsKey("Transfer-Encoding"),
            $"{why}: the upstream got both framing headers"));
    }

    private const string EndMarker = "GET /end HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";

    private static int CountResponses(string raw)
    {
        var count = 0;
        for (var at = raw.IndexOf("HTTP/1.1 ", StringComparison.Ordinal); at >= 0; at = raw.IndexOf("HTTP/1.1 ", at + 1, StringComparison.Ordinal))
        {
            count++;
        }

        return count;
    }

    [Fact]
    public async Task ConnectMethod_Is405()
    {
        await using var backend = await TestBackend.StartAsync("a", "127.0.0.2");
        await using var proxy = await TestProxy.StartAsync(TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, backend.Address));

        var answer = await proxy.SendRawAsync("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\nConnection: close\r\n\r\n");

        Assert.StartsWith("HTTP/1.1 405", answer, StringComparison.Ordinal);
        Assert.Empty(backend.Requests);
    }
}
