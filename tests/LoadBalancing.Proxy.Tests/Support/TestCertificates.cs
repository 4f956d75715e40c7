using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace LoadBalancing.Proxy.Tests.Support;

/// <summary>Server certificates made in the test (self-signed, or issued through an intermediate), with a private key SslStream can use on Linux.</summary>
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

    /// <summary>
    /// A root, an intermediate it signs, and a server certificate for <paramref name="name"/> the intermediate signs,
    /// as a Kubernetes TLS Secret holds them: <c>tls.crt</c> is the leaf then the intermediate in PEM, <c>tls.key</c>
    /// the leaf's PKCS #8 key in PEM.
    /// </summary>
    public static IssuedCertificate Issue(string name)
    {
        using var rootKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var rootRequest = new CertificateRequest("CN=Test Root", rootKey, HashAlgorithmName.SHA256);
        rootRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        rootRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign, true));
        using var root = rootRequest.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(2));

        using var intermediateKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var intermediateRequest = new CertificateRequest("CN=Test Intermediate", intermediateKey, HashAlgorithmName.SHA256);
        intermediateRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        intermediateRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign, true));
        using var intermediatePublic = intermediateRequest.Create(root, DateTimeOffset.UtcNow.AddMinutes(-4), DateTimeOffset.UtcNow.AddDays(1), [1, 2, 3]);
        using var intermediate = intermediatePublic.CopyWithPrivateKey(intermediateKey);

        using var leafKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var leafRequest = new CertificateRequest($"CN={name}", leafKey, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName(name);
        leafRequest.CertificateExtensions.Add(san.Build());
        leafRequest.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], critical: false));
        using var leafPublic = leafRequest.Create(intermediate, DateTimeOffset.UtcNow.AddMinutes(-3), DateTimeOffset.UtcNow.AddHours(20), [4, 5, 6]);

        var chainPem = leafPublic.ExportCertificatePem() + "\n" + intermediatePublic.ExportCertificatePem() + "\n";
        var keyPem = leafKey.ExportPkcs8PrivateKeyPem();
        using var withKey = leafPublic.CopyWithPrivateKey(leafKey);
        var leaf = X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pfx), password: null);
        return new IssuedCertificate(leaf, X509CertificateLoader.LoadCertificate(intermediatePublic.RawData), chainPem, keyPem);
    }
}

/// <summary>A server certificate with its key, the intermediate that issued it, and both as PEM text.</summary>
internal sealed record IssuedCertificate(X509Certificate2 Leaf, X509Certificate2 Intermediate, string ChainPem, string KeyPem);
