using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace LoadBalancing.Proxy.Tests.Support;

/// <summary>Self-signed server certificates made in the test, with a private key SslStream can use on Linux.</summary>
internal static class TestCertificates
{
    /// <summary>A certificate for <paramref name="name"/>, exported and loaded again as PKCS #12 so its key is usable by TLS.</summary>
    public static X509Certificate2 Create(string name, bool rsa = false) =>
        X509CertificateLoader.LoadPkcs12(Pfx(name, password: null, rsa), password: null);

    /// <summary>The PKCS #12 bytes of a new certificate for <paramref name="name"/>.</summary>
    public static byte[] Pfx(string name, string? password, bool rsa = false)
    {
        using AsymmetricAlgorithm key = rsa ? RSA.Create(2048) : ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = key is RSA r
            ? new CertificateRequest($"CN={name}", r, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1)
            : new CertificateRequest($"CN={name}", (ECDsa)key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName(name);
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], critical: false));
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        return certificate.Export(X509ContentType.Pfx, password);
    }
}
