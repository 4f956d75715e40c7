using LoadBalancing.Proxy.Tests.Support;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace LoadBalancing.Proxy.Tests.Forwarding;

/// <summary>
/// <c>Proxy:TrustForwardedHeaders</c>: by default a client cannot tell an upstream another address, scheme or host
/// (its X-Forwarded fields are replaced, its Forwarded and X-Real-IP dropped); trusted, the fields a load balancer in
/// front set reach the upstream, the chain with the proxy's peer appended. Over both upstream protocols.
/// </summary>
public sealed class ClientAddressFieldsTests
{
    [Theory(Timeout = 30_000)]
    [InlineData(UpstreamProtocol.Http1, false)]
    [InlineData(UpstreamProtocol.Http2, false)]
    [InlineData(UpstreamProtocol.Http1, true)]
    [InlineData(UpstreamProtocol.Http2, true)]
    public async Task WhatTheUpstreamHears_OfTheClientsAddressFields(UpstreamProtocol protocol, bool trusted)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var backend = await TestBackend.StartAsync("app", "127.0.0.96", protocols: protocol == UpstreamProtocol.Http2 ? HttpProtocols.Http2 : HttpProtocols.Http1);
        var options = TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, backend.Address);
        options.Clusters["web"].Protocol = protocol;
        options.TrustForwardedHeaders = trusted;
        await using var proxy = await TestProxy.StartAsync(options);
        using var client = proxy.NewClient();

        using var request = new HttpRequestMessage(HttpMethod.Get, "/");
        request.Headers.Host = "shop.example";
        request.Headers.Add("X-Forwarded-For", "203.0.113.7");
        request.Headers.Add("X-Forwarded-Proto", "https");
        request.Headers.Add("X-Forwarded-Host", "lb.example");
        request.Headers.Add("X-Real-IP", "203.0.113.7");
        request.Headers.Add("X_Real_IP", "203.0.113.8");
        request.Headers.Add("Forwarded", "for=203.0.113.7;proto=https");
        using var response = await client.SendAsync(request, ct);
        response.EnsureSuccessStatusCode();

        var seen = Assert.Single(backend.Requests).Headers;
        var heard = new[] { "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Real-IP", "X_Real_IP", "Forwarded" }
            .Select(name => seen.GetValueOrDefault(name))
            .ToArray();
        Assert.Equal(
            trusted
                ? ["203.0.113.7, 127.0.0.1", "https", "lb.example", "203.0.113.7", "203.0.113.8", "for=203.0.113.7;proto=https"]
                : ["127.0.0.1", "http", "shop.example", null, null, null],
            heard);
    }
}
