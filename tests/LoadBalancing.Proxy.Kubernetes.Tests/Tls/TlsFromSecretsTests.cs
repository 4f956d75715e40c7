using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json.Nodes;
using LoadBalancing.Kubernetes.Tests.Support;
using LoadBalancing.Proxy.Kubernetes.Tests.Ingress;
using LoadBalancing.Proxy.Kubernetes.Tests.Support;
using LoadBalancing.Proxy.Tests.Support;
using static LoadBalancing.Kubernetes.Tests.Support.Objects;

namespace LoadBalancing.Proxy.Kubernetes.Tests.Tls;

/// <summary>
/// HTTPS from certificates in Kubernetes Secrets, as ingress-nginx's TLS e2e cases check theirs: an https listener
/// with no certificate of its own, real TLS handshakes over loopback, the Secret renewed and deleted under it.
/// </summary>
public sealed class TlsFromSecretsTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task IngressTls_ServesTheSecretsCertificateWithItsChain_FollowsARenewal_AndKeepsItWhenTheSecretIsDeleted()
    {
        await using var web = await TestBackend.StartAsync("web", "127.0.0.41");
        await using var server = await FakeApiServer.StartAsync();
        IngressControllerTests.Pods(server, "shop", ("web", web));
        server.Apply(ApiResource.IngressClasses, IngressClass("lb", "loadbalancing.dev/ingress-controller"));
        var first = TestCertificates.Issue("shop.test");
        server.Apply(ApiResource.Secrets, Secret("shop", "shop-tls", first));
        server.Apply(ApiResource.Ingresses, Objects.Ingress(
            "shop", [new IngressRule("shop.test", new IngressPath("/", new IngressBackend("web", Port: 80)))], ns: "shop", ingressClassName: "lb",
            tls: [new IngressTls("shop-tls", "shop.test")]));

        await using var host = await ControllerHost.StartAsync(server, new Dictionary<string, string?>
        {
            ["Proxy:Listeners:0:Url"] = "https://127.0.0.1:0",
            ["Kubernetes:Ingress:Enabled"] = "true",
        });
        var endPoint = host.Listeners.ProxyEndPoint!;
        var certificates = host.Controllers.Certificates!;

        // The host opened its listener with the certificate in place.
        var (leaf, sent, status) = await GetAsync(endPoint, "shop.test");
        Assert.Equal((first.Leaf.Thumbprint, "HTTP/1.1 200 OK"), (leaf, status));
        Assert.Contains(first.Intermediate.Thumbprint, sent);

        var renewed = TestCertificates.Issue("shop.test");
        server.Apply(ApiResource.Secrets, Secret("shop", "shop-tls", renewed));
        await ControllerHost.UntilAsync(() => certificates.NextRebuild, async () => (await GetAsync(endPoint, "shop.test")).Leaf == renewed.Leaf.Thumbprint);

        server.Delete(ApiResource.Secrets, "shop", "shop-tls");
        await ControllerHost.UntilAsync(() => certificates.NextRebuild, () => Task.FromResult(certificates.Problems.Count > 0));
        Assert.Contains("still serving its last good certificate", Assert.Single(certificates.Problems), StringComparison.Ordinal);
        Assert.Equal(renewed.Leaf.Thumbprint, (await GetAsync(endPoint, "shop.test")).Leaf);
    }

    [Fact]
    public async Task IngressTls_PlainHttpForItsHost_Is308RedirectedToHttps_AsIngressNginxDoes_AndOtherHostsAreServed()
    {
        await using var web = await TestBackend.StartAsync("web", "127.0.0.42");
        await using var server = await FakeApiServer.StartAsync();
        IngressControllerTests.Pods(server, "shop", ("web", web));
        server.Apply(ApiResource.IngressClasses, IngressClass("lb", "loadbalancing.dev/ingress-controller"));
        server.Apply(ApiResource.Secrets, Secret("shop", "shop-tls", TestCertificates.Issue("shop.test")));
        server.Apply(ApiResource.Ingresses, Objects.Ingress(
            "shop",
            [new IngressRule("shop.test", new IngressPath("/", new IngressBackend("web", Port: 80))), new IngressRule("plain.test", new IngressPath("/", new IngressBackend("web", Port: 80)))],
            ns: "shop", ingressClassName: "lb", tls: [new IngressTls("shop-tls", "shop.test")]));
        var (http, https) = (ControllerHost.FreePort(), ControllerHost.FreePort());

        await using var host = await ControllerHost.StartAsync(server, new Dictionary<string, string?>
        {
            ["Proxy:Listeners:0:Url"] = $"http://127.0.0.1:{http}",
            ["Proxy:Listeners:1:Url"] = $"https://127.0.0.1:{https}",
            ["Kubernetes:Ingress:Enabled"] = "true",
        });
        using var client = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false, UseProxy = false }) { Timeout = TimeSpan.FromSeconds(10) };
        async Task<HttpResponseMessage> PlainAsync(string host, string target)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1:{http}{target}");
            request.Headers.Host = host;
            return await client.SendAsync(request, Ct);
        }

        using var redirected = await PlainAsync("shop.test", "/cart?id=7");
        Assert.Equal((HttpStatusCode.PermanentRedirect, "https://shop.test/cart?id=7"), (redirected.StatusCode, redirected.Headers.Location?.OriginalString));
        using var plain = await PlainAsync("plain.test", "/");
        Assert.Equal(HttpStatusCode.OK, plain.StatusCode);
        Assert.Equal("HTTP/1.1 200 OK", (await GetAsync(new IPEndPoint(IPAddress.Loopback, https), "shop.test")).Status);
        Assert.Equal(2, web.Requests.Count);
    }

    [Fact]
    public async Task GatewayHttpsListener_ServesItsCertificateRef_AndAnUnreadableSecretIsReported()
    {
        await using var web = await TestBackend.StartAsync("web", "127.0.0.42");
        await using var server = await FakeApiServer.StartAsync();
        IngressControllerTests.Pods(server, "edge", ("web", web));
        var issued = TestCertificates.Issue("secure.test");
        server.Apply(ApiResource.Secrets, Secret("edge", "secure-tls", issued));
        var broken = Secret("edge", "broken-tls", issued);
        broken["data"]!["tls.key"] = Convert.ToBase64String(Encoding.ASCII.GetBytes("not a key"));
        server.Apply(ApiResource.Secrets, broken);
        server.Apply(ApiResource.GatewayClasses, GatewayClass("lb", "loadbalancing.dev/gateway-controller"));
        server.Apply(ApiResource.Gateways, Objects.Gateway("gw", "lb",
        [
            new Listener("https", 443, "HTTPS", Hostname: "secure.test", CertificateRefs: ["secure-tls"]),
            new Listener("other", 443, "HTTPS", Hostname: "other.test", CertificateRefs: ["broken-tls"]),
        ], ns: "edge"));
        server.Apply(ApiResource.HttpRoutes, HttpRoute("web", [new ParentRef("gw")], [new RouteRule(BackendRefs: [new BackendRef("web", 80)])], ns: "edge"));

        var port = ControllerHost.FreePort();
        await using var host = await ControllerHost.StartAsync(server, new Dictionary<string, string?>
        {
            ["Proxy:Listeners:0:Url"] = $"https://127.0.0.1:{port}",
            ["Kubernetes:Gateway:Enabled"] = "true",
            ["Kubernetes:Gateway:ListenerPorts:443"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture),
        });

        var (leaf, _, status) = await GetAsync(host.Listeners.ProxyEndPoint!, "secure.test");
        Assert.Equal((issued.Leaf.Thumbprint, "HTTP/1.1 200 OK"), (leaf, status));
        Assert.Contains(host.Controllers.Certificates!.Problems, p => p.Contains("Secret edge/broken-tls: its certificate or key cannot be read", StringComparison.Ordinal));
        await Assert.ThrowsAnyAsync<Exception>(() => GetAsync(host.Listeners.ProxyEndPoint!, "other.test"));

        // The listener whose Secret cannot be read says so; the other is resolved.
        var gateway = await server.WaitForAsync(ApiResource.Gateways, "edge", "gw", o => Reason(o, "other") == "InvalidCertificateRef", Ct)
            .WaitAsync(TimeSpan.FromSeconds(20), Ct);
        Assert.Equal("ResolvedRefs", Reason(gateway, "https"));
    }

    private static string? Reason(JsonObject? gateway, string listener) =>
        gateway?["status"]?["listeners"]?.AsArray().FirstOrDefault(l => l?["name"]?.GetValue<string>() == listener)?["conditions"]?.AsArray()
            .FirstOrDefault(c => c?["type"]?.GetValue<string>() == "ResolvedRefs")?["reason"]?.GetValue<string>();

    private static JsonObject Secret(string ns, string name, IssuedCertificate certificate) => new()
    {
        ["apiVersion"] = "v1",
        ["kind"] = "Secret",
        ["metadata"] = new JsonObject { ["name"] = name, ["namespace"] = ns },
        ["type"] = "kubernetes.io/tls",
        ["data"] = new JsonObject
        {
            ["tls.crt"] = Convert.ToBase64String(Encoding.ASCII.GetBytes(certificate.ChainPem)),
            ["tls.key"] = Convert.ToBase64String(Encoding.ASCII.GetBytes(certificate.KeyPem)),
        },
    };

    /// <summary>One HTTPS GET naming <paramref name="serverName"/>: the presented certificate, the other certificates sent, the status line.</summary>
    private static async Task<(string? Leaf, IReadOnlyList<string> Sent, string Status)> GetAsync(IPEndPoint endPoint, string serverName)
    {
        var sent = new List<string>();
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(endPoint, Ct).AsTask().WaitAsync(TimeSpan.FromSeconds(10), Ct);
        await using var tls = new SslStream(new NetworkStream(socket, ownsSocket: false));
        await tls.AuthenticateAsClientAsync(
            new SslClientAuthenticationOptions
            {
                TargetHost = serverName,
                AllowTlsResume = false,
                ApplicationProtocols = [SslApplicationProtocol.Http11],
                RemoteCertificateValidationCallback = (_, certificate, chain, _) =>
                {
                    sent.AddRange(chain!.ChainPolicy.ExtraStore.Select(c => c.Thumbprint));
                    return certificate is not null;
                },
            },
            Ct).WaitAsync(TimeSpan.FromSeconds(10), Ct);
        await tls.WriteAsync(Encoding.ASCII.GetBytes($"GET / HTTP/1.1\r\nHost: {serverName}\r\nConnection: close\r\n\r\n"), Ct);
        using var reader = new StreamReader(tls, Encoding.ASCII);
        var status = await reader.ReadLineAsync(Ct).AsTask().WaitAsync(TimeSpan.FromSeconds(10), Ct) ?? "";
        return (tls.RemoteCertificate is X509Certificate presented ? presented.GetCertHashString() : null, sent, status);
    }

}
