using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace LoadBalancing.Proxy.Tests.UpstreamTls;

/// <summary>
/// Certificates made in the test with <see cref="CertificateRequest"/>: a CA and what it issues (server certificates for
/// a name, a client certificate), written as PEM files into a temporary directory the way a Kubernetes Secret mounts them.
/// </summary>
internal sealed class TlsPki : IDisposable
{
    private static readonly Oid ServerAuth = new("1.3.6.1.5.5.7.3.1");
    private static readonly Oid ClientAuth = new("1.3.6.1.5.5.7.3.2");
    private readonly ECDsa _caKey;

    public TlsPki(string name = "Test CA", string? directory = null)
    {
        Directory = directory ?? System.IO.Directory.CreateTempSubdirectory("lb-tls-").FullName;
        _caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", _caKey, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        Ca = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-30), DateTimeOffset.UtcNow.AddDays(30));
    }

    public string Directory { get; }

    public X509Certificate2 Ca { get; }

    /// <summary>Writes the CA certificate as PEM; returns the path.</summary>
    public string WriteCa(string file = "ca.crt") => Write(file, Ca.ExportCertificatePem() + "\n");

    /// <summary>A server certificate for <paramref name="dnsName"/> (and optionally an IP), with its key, usable by Kestrel.</summary>
    public X509Certificate2 Server(string dnsName, DateTimeOffset? notBefore = null, DateTimeOffset? notAfter = null, string? ip = null) =>
        Issue($"CN={dnsName}", ServerAuth, notBefore, notAfter, dnsName, ip).WithKey;

    /// <summary>A server certificate for <paramref name="dnsName"/> written as PEM files (for servers other than Kestrel); returns the two paths.</summary>
    public (string CertificateFile, string KeyFile) ServerFiles(string dnsName)
    {
        var (withKey, key) = Issue($"CN={dnsName}", ServerAuth, null, null, dnsName, null);
        return (Write("server.crt", withKey.ExportCertificatePem() + "\n"), Write("server.key", key.ExportPkcs8PrivateKeyPem() + "\n"));
    }

    /// <summary>A client certificate, written as <c>tls.crt</c>/<c>tls.key</c> PEM files; returns it and the two paths.</summary>
    public (X509Certificate2 Certificate, string CertificateFile, string KeyFile) Client(string subject = "CN=proxy-client")
    {
        var (withKey, key) = Issue(subject, ClientAuth, null, null, null, null);
        var crt = Write("client.crt", withKey.ExportCertificatePem() + "\n");
        var keyFile = Write("client.key", key.ExportPkcs8PrivateKeyPem() + "\n");
        return (withKey, crt, keyFile);
    }

    public string Write(string file, string text)
    {
        var path = Path.Combine(Directory, file);
        File.WriteAllText(path, text);
        return path;
    }

    private (X509Certificate2 WithKey, ECDsa Key) Issue(string subject, Oid usage, DateTimeOffset? notBefore, DateTimeOffset? notAfter, string? dnsName, string? ip)
    {
        var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        if (dnsName is not null || ip is not null)
        {
            var san = new SubjectAlternativeNameBuilder();
            if (dnsName is not null)
            {
                san.AddDnsName(dnsName);
            }

            if (ip is not null)
            {
                san.AddIpAddress(System.Net.IPAddress.Parse(ip));
            }

            request.CertificateExtensions.Add(san.Build());
        }

        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([usage], critical: false));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(Ca, true, false));
        var serial = new byte[8];
        RandomNumberGenerator.Fill(serial);
        serial[0] &= 0x7F;
        using var issued = request.Create(Ca, notBefore ?? DateTimeOffset.UtcNow.AddDays(-1), notAfter ?? DateTimeOffset.UtcNow.AddDays(1), serial);
        using var withKey = issued.CopyWithPrivateKey(key);

        // Through PKCS #12 so the key is usable by TLS on Linux.
        return (X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pfx), password: null), key);
    }

    public void Dispose()
    {
        _caKey.Dispose();
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
            // Best effort: a temporary directory.
        }
    }
}
