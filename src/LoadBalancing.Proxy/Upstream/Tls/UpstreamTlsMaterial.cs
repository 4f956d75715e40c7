using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace LoadBalancing.Proxy.Upstream.Tls;

/// <summary>
/// What a cluster's TLS files held when they were last read: the roots to trust and the client certificate, built
/// once for every connection until the files change. The files' bytes are kept to tell a change from a touch.
/// </summary>
internal sealed class UpstreamTlsMaterial
{
    private UpstreamTlsMaterial(X509Certificate2Collection? roots, SslStreamCertificateContext? clientCertificate, X509Certificate2? clientLeaf, byte[]?[] files)
    {
        Roots = roots;
        ClientCertificate = clientCertificate;
        ClientLeaf = clientLeaf;
        Files = files;
    }

    /// <summary>The roots of <see cref="UpstreamTlsOptions.CaFile"/>; null to trust the system's store.</summary>
    public X509Certificate2Collection? Roots { get; }

    /// <summary>The client certificate with its intermediates; null for none.</summary>
    public SslStreamCertificateContext? ClientCertificate { get; }

    /// <summary>The client certificate alone, for the admin view.</summary>
    public X509Certificate2? ClientLeaf { get; }

    /// <summary>The bytes of CaFile, ClientCertificateFile and ClientKeyFile as read (null when not set).</summary>
    private byte[]?[] Files { get; }

    /// <summary>
    /// Reads the files <paramref name="options"/> names. Problems are reported per key (<c>CaFile</c>,
    /// <c>ClientCertificateFile</c>, …) with what is wrong; any problem returns null.
    /// </summary>
    /// <param name="options">The cluster's TLS options.</param>
    /// <param name="problems">Receives (key under Tls, problem) pairs.</param>
    /// <param name="previous">The material in use: when every file's bytes are unchanged it is returned as is.</param>
    public static UpstreamTlsMaterial? Load(UpstreamTlsOptions options, List<(string Key, string Problem)> problems, UpstreamTlsMaterial? previous = null)
    {
        var files = new byte[]?[3];
        var count = problems.Count;
        files[0] = Read(options.CaFile, "CaFile", problems);
        files[1] = Read(options.ClientCertificateFile, "ClientCertificateFile", problems);
        files[2] = Read(options.ClientKeyFile, "ClientKeyFile", problems);
        if (problems.Count > count)
        {
            return null;
        }

        if (previous is not null && Same(previous.Files, files))
        {
            return previous;
        }

        X509Certificate2Collection? roots = null;
        if (files[0] is { } ca)
        {
            roots = new X509Certificate2Collection();
            try
            {
                roots.ImportFromPem(Encoding.ASCII.GetString(ca));
            }
            catch (CryptographicException e)
            {
                problems.Add(("CaFile", $"'{options.CaFile}' cannot be read as PEM certificates ({e.Message})."));
                return null;
            }

            if (roots.Count == 0)
            {
                problems.Add(("CaFile", $"'{options.CaFile}' holds no PEM certificate (-----BEGIN CERTIFICATE-----)."));
                return null;
            }
        }

        SslStreamCertificateContext? context = null;
        X509Certificate2? leaf = null;
        if (files[1] is { } crt && files[2] is { } key)
        {
            try
            {
                var chain = new X509Certificate2Collection();
                chain.ImportFromPem(Encoding.ASCII.GetString(crt));
                if (chain.Count == 0)
                {
                    problems.Add(("ClientCertificateFile", $"'{options.ClientCertificateFile}' holds no PEM certificate (-----BEGIN CERTIFICATE-----)."));
                    return null;
                }

                using var withKey = X509Certificate2.CreateFromPem(Encoding.ASCII.GetString(crt), Encoding.ASCII.GetString(key));

                // Loaded again from PKCS #12 so the key is usable by TLS on every platform, not only where PEM keys are.
                leaf = X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pkcs12), password: null);
                var intermediates = new X509Certificate2Collection();
                for (var i = 1; i < chain.Count; i++)
                {
                    intermediates.Add(chain[i]);
                }

                // Built once here, not per connection: the chain is assembled offline from what the file holds.
                context = SslStreamCertificateContext.Create(leaf, intermediates, offline: true);
            }
            catch (Exception e) when (e is CryptographicException or ArgumentException)
            {
                // ArgumentException: a key of another certificate.
                problems.Add(("ClientKeyFile", $"'{options.ClientKeyFile}' is not the PEM private key of the certificate in '{options.ClientCertificateFile}', or one of them cannot be read ({e.Message})."));
                return null;
            }
        }

        return new UpstreamTlsMaterial(roots, context, leaf, files);
    }

    private static byte[]? Read(string? path, string key, List<(string Key, string Problem)> problems)
    {
        if (string.IsNullOrEmpty(path))
        {
            return null;
        }

        try
        {
            return File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            problems.Add((key, $"file '{path}' does not exist."));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            problems.Add((key, $"file '{path}' cannot be read ({e.Message})."));
        }

        return null;
    }

    private static bool Same(byte[]?[] a, byte[]?[] b)
    {
        for (var i = 0; i < a.Length; i++)
        {
            if (a[i] is null != b[i] is null || (a[i] is { } x && !x.AsSpan().SequenceEqual(b[i])))
            {
                return false;
            }
        }

        return true;
    }
}
