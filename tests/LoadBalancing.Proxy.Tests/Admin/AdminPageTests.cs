using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using LoadBalancing.Proxy.Tests.Support;

namespace LoadBalancing.Proxy.Tests.Admin;

/// <summary>The admin page as bytes on the wire; <see cref="AdminPageBrowserTests"/> runs it.</summary>
public sealed class AdminPageTests
{
    [Fact]
    public async Task AdminPage_Get_IsSelfContainedHtml_WithSecurityHeaders()
    {
        await using var backend = await TestBackend.StartAsync("a", "127.0.0.2");
        await using var proxy = await TestProxy.StartAsync(TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, backend.Address));
        var ct = TestContext.Current.CancellationToken;

        using var response = await proxy.Admin.GetAsync("", ct);
        var html = await response.Content.ReadAsStringAsync(ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/html; charset=utf-8", response.Content.Headers.ContentType?.ToString());
        Assert.Equal("nosniff", Assert.Single(response.Headers.GetValues("X-Content-Type-Options")));
        Assert.True(response.Headers.CacheControl?.NoStore, "Cache-Control: no-store");
        var csp = Assert.Single(response.Headers.GetValues("Content-Security-Policy"));
        Assert.StartsWith("default-src 'none'; ", csp, StringComparison.Ordinal);
        Assert.Contains("; connect-src 'self';", csp, StringComparison.Ordinal);
        Assert.DoesNotContain("unsafe-eval", csp, StringComparison.Ordinal);

        // The inline script and style are allowed by hash: the ones served must be the ones hashed.
        Assert.Contains($"script-src '{Sha256(Between(html, "<script>", "</script>"))}'", csp, StringComparison.Ordinal);
        Assert.Contains($"style-src '{Sha256(Between(html, "<style>", "</style>"))}'", csp, StringComparison.Ordinal);

        // Nothing from elsewhere, data never parsed as HTML, and the data read by relative URLs (the pod proxy path).
        Assert.DoesNotContain("http://", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("https://", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("innerHTML", html, StringComparison.Ordinal);
        Assert.DoesNotMatch(new Regex(@"\b(src|href)\s*="), html);
        Assert.Contains("'backends'", html, StringComparison.Ordinal);
        Assert.Contains("fetch('readyz'", html, StringComparison.Ordinal);
        Assert.DoesNotContain("'/backends", html, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AdminPage_Head_SameHeadersNoBody_AndTheNotFoundTextListsIt()
    {
        await using var backend = await TestBackend.StartAsync("a", "127.0.0.2");
        await using var proxy = await TestProxy.StartAsync(TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, backend.Address));
        var ct = TestContext.Current.CancellationToken;

        using var get = await proxy.Admin.GetAsync("", ct);
        using var head = await proxy.Admin.SendAsync(new HttpRequestMessage(HttpMethod.Head, ""), ct);
        using var post = await proxy.Admin.PostAsync("", null, ct);
        using var missing = await proxy.Admin.GetAsync("nope", ct);

        Assert.Equal(HttpStatusCode.OK, head.StatusCode);
        Assert.Equal(get.Content.Headers.ContentLength, head.Content.Headers.ContentLength);
        Assert.Equal(get.Headers.GetValues("Content-Security-Policy"), head.Headers.GetValues("Content-Security-Policy"));
        Assert.Empty(await head.Content.ReadAsByteArrayAsync(ct));
        Assert.Equal(HttpStatusCode.MethodNotAllowed, post.StatusCode);
        Assert.Equal("admin paths: / /healthz /readyz /metrics /backends /config, POST /config/reload\n", await missing.Content.ReadAsStringAsync(ct));
    }

    private static string Between(string text, string start, string end)
    {
        var from = text.IndexOf(start, StringComparison.Ordinal) + start.Length;
        Assert.True(from >= start.Length, $"no {start}");
        Assert.Equal(from - start.Length, text.LastIndexOf(start, StringComparison.Ordinal)); // exactly one
        return text[from..text.IndexOf(end, from, StringComparison.Ordinal)];
    }

    private static string Sha256(string inline) => "sha256-" + Convert.ToBase64String(SHA256.HashData(Encoding.UTF8.GetBytes(inline)));
}
