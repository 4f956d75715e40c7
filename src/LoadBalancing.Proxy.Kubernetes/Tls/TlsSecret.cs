using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using k8s.Models;

namespace LoadBalancing.Proxy.Kubernetes.Tls;

/// <summary>A certificate read from a Secret: the leaf with its private key, and the intermediates after it in <c>tls.crt</c>.</summary>
internal sealed record SecretCertificate(X509Certificate2 Leaf, IReadOnlyList<X509Certificate2> Intermediates);

/// <summary>
/// Reads a <c>kubernetes.io/tls</c> Secret: <c>tls.crt</c> (PEM: the server certificate, then its intermediates) and
/// <c>tls.key</c> (its PEM private key), as cert-manager and <c>kubectl create secret tls</c> write them.
/// </summary>
internal static class TlsSecret
{
    public const string Type = "kubernetes.io/tls";

    public static SecretCertificate? TryRead(V1Secret secret, out string? problem)
    {
        if (secret.Data?.TryGetValue("tls.crt", out var crt) != true || crt is null || crt.Length == 0)
        {
            problem = "it has no tls.crt";
            return null;
        }

        if (secret.Data.TryGetValue("tls.key", out var key) != true || key is null || key.Length == 0)
        {
            problem = "it has no tls.key";
            return null;
        }

        try
        {
            var chain = new X509Certificate2Collection();
            chain.ImportFromPem(Encoding.ASCII.GetString(crt));
            if (chain.Count == 0)
            {
                problem = "tls.crt holds no PEM certificate";
                return null;
            }

            using var withKey = X509Certificate2.CreateFromPem(Encoding.ASCII.GetString(crt), Encoding.ASCII.GetString(key));

            // Loaded again from PKCS #12 so the key is usable by TLS on every platform, not only where PEM keys are.
            var leaf = X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pkcs12), password: null);
            var intermediates = chain.Skip(1).Where(c => !IsSelfSigned(c)).ToArray();
            problem = null;
            return new SecretCertificate(leaf, intermediates);
        }
        catch (Exception e) when (e is CryptographicException or ArgumentException)
        {
            // ArgumentException: a key that is not PEM, or does not match tls.crt (CreateFromPem's way of saying so).
            problem = $"its certificate or key cannot be read ({e.Message})";
            return null;
        }
    }

    // A root in the chain is useless to clients (they must already trust it) and only lengthens every handshake.
    private static bool IsSelfSigned(X509Certificate2 certificate) => certificate.SubjectName.RawData.AsSpan().SequenceEqual(certificate.IssuerName.RawData);
}
