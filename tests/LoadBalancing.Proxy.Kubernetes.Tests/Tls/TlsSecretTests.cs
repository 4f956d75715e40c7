using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using k8s.Models;
using LoadBalancing.Proxy.Kubernetes.Tls;

namespace LoadBalancing.Proxy.Kubernetes.Tests.Tls;

/// <summary>A Secret that cannot be served is reported with why, never thrown out of the reader.</summary>
public sealed class TlsSecretTests
{
    [Fact]
    public void MatchingCertificateAndKey_AreRead()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var secret = Secret(Certificate(key).ExportCertificatePem(), key.ExportPkcs8PrivateKeyPem());

        var read = TlsSecret.TryRead(secret, out var problem);

        Assert.NotNull(read);
        Assert.Null(problem);
    }

    [Theory]
    [InlineData("another key")]
    [InlineData("not pem")]
    public void KeyThatDoesNotMatchOrIsNotPem_IsAProblem_NotAnException(string kind)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var other = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var secret = Secret(Certificate(key).ExportCertificatePem(), kind == "not pem" ? "garbage" : other.ExportPkcs8PrivateKeyPem());

        var read = TlsSecret.TryRead(secret, out var problem);

        Assert.Null(read);
        Assert.StartsWith("its certificate or key cannot be read", problem, StringComparison.Ordinal);
    }

    private static X509Certificate2 Certificate(ECDsa key) =>
        new CertificateRequest("CN=shop.test", key, HashAlgorithmName.SHA256).CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));

    private static V1Secret Secret(string crt, string key) => new()
    {
        Metadata = new V1ObjectMeta { NamespaceProperty = "shop", Name = "tls" },
        Type = TlsSecret.Type,
        Data = new Dictionary<string, byte[]> { ["tls.crt"] = Encoding.ASCII.GetBytes(crt), ["tls.key"] = Encoding.ASCII.GetBytes(key) },
    };
}
