using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace LoadBalancing.Proxy;

/// <summary>
/// The certificates the proxy's https listeners present, chosen by the server name a client asks for (TLS SNI);
/// registered with <c>IProxyBuilder.UseServerCertificates</c>. A Kubernetes controller, for example, loads them from
/// Secrets and replaces them when a Secret changes. A listener's own <see cref="ListenerOptions.CertificatePath"/>
/// certificate, if any, is used when the source has none for the name.
/// </summary>
/// <remarks>
/// <see cref="GetCertificate"/> runs on every TLS handshake, on any thread: it should read an immutable snapshot (such as a
/// <see cref="ServerCertificateSet"/> held in a <see langword="volatile"/> field and replaced whole), never block,
/// never take a lock. Certificates must carry their private key.
/// </remarks>
public abstract class ServerCertificateSource
{
    /// <summary>Chooses the certificate for a server name.</summary>
    /// <param name="serverName">The name the client sent (SNI), or null when it sent none (for example it connected by IP address).</param>
    /// <returns>The certificate to present, or null when the source has none for this name.</returns>
    public abstract X509Certificate2? GetCertificate(string? serverName);

    /// <summary>
    /// The certificate for a server name with the intermediate certificates sent along with it (what a handshake
    /// uses). The default builds a context for <see cref="GetCertificate"/>'s certificate on every call, finding
    /// intermediates only in the machine's stores; <see cref="ServerCertificateSet"/> builds each context once,
    /// with the intermediates it was given.
    /// </summary>
    /// <param name="serverName">The name the client sent (SNI), or null.</param>
    /// <returns>The context, or null when the source has no certificate for this name.</returns>
    public virtual SslStreamCertificateContext? GetCertificateContext(string? serverName) =>
        GetCertificate(serverName) is { } certificate ? SslStreamCertificateContext.Create(certificate, additionalCertificates: null) : null;
}
