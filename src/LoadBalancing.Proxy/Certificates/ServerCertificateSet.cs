using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace LoadBalancing.Proxy;

/// <summary>
/// An immutable map from host names to certificates, matched as TLS clients match certificate names: an exact name
/// first, then a <c>*.suffix</c> wildcard that stands for exactly one label (<c>*.example.com</c> matches
/// <c>a.example.com</c>, not <c>example.com</c> or <c>a.b.example.com</c>), then <c>*</c> (any name, and a client that
/// sends none). Case-insensitive; a trailing dot is ignored. A look-up costs one or two dictionary probes and
/// allocates nothing, so a source can keep a set in a <see langword="volatile"/> field, build the next one off the
/// handshake path and swap it in whole.
/// </summary>
public sealed class ServerCertificateSet : ServerCertificateSource
{
    private readonly Dictionary<string, ServerCertificate> _exact;
    private readonly Dictionary<string, ServerCertificate> _wildcards; // keyed by the suffix after "*."
    private readonly Dictionary<string, ServerCertificate>.AlternateLookup<ReadOnlySpan<char>> _exactLookup;
    private readonly Dictionary<string, ServerCertificate>.AlternateLookup<ReadOnlySpan<char>> _wildcardLookup;
    private readonly ServerCertificate? _any;

    private ServerCertificateSet(Dictionary<string, ServerCertificate> exact, Dictionary<string, ServerCertificate> wildcards, ServerCertificate? any)
    {
        _exact = exact;
        _wildcards = wildcards;
        _exactLookup = exact.GetAlternateLookup<ReadOnlySpan<char>>();
        _wildcardLookup = wildcards.GetAlternateLookup<ReadOnlySpan<char>>();
        _any = any;
    }

    /// <summary>A set with no certificates: <see cref="GetCertificate"/> always returns null.</summary>
    public static ServerCertificateSet Empty { get; } = new(
        new Dictionary<string, ServerCertificate>(StringComparer.OrdinalIgnoreCase),
        new Dictionary<string, ServerCertificate>(StringComparer.OrdinalIgnoreCase),
        any: null);

    /// <summary>How many names (exact, wildcard and <c>*</c>) have a certificate.</summary>
    public int Count => _exact.Count + _wildcards.Count + (_any is null ? 0 : 1);

    /// <summary>
    /// Returns a new set that also presents <paramref name="certificate"/> for <paramref name="hostnames"/>; this set
    /// is unchanged. A name that already has a certificate keeps it: the first added wins.
    /// </summary>
    /// <param name="hostnames">Exact names (<c>shop.example.com</c>), one-label wildcards (<c>*.example.com</c>) or <c>*</c> for any name.</param>
    /// <param name="certificate">The certificate, with its private key.</param>
    /// <param name="intermediates">
    /// The certificates between it and a root clients trust (as a PEM chain after the leaf carries them), sent with it
    /// in every handshake; null or empty when it is signed by a root directly.
    /// </param>
    /// <returns>The new set.</returns>
    /// <exception cref="ArgumentException">A name is not a host name, <c>*.suffix</c> or <c>*</c>.</exception>
    public ServerCertificateSet Add(IEnumerable<string> hostnames, X509Certificate2 certificate, IEnumerable<X509Certificate2>? intermediates = null)
    {
        ArgumentNullException.ThrowIfNull(hostnames);
        ArgumentNullException.ThrowIfNull(certificate);

        // Built once here, not per handshake: the chain is assembled offline from what was given.
        var chain = intermediates is null ? null : new X509Certificate2Collection(intermediates.ToArray());
        var entry = new ServerCertificate(certificate, SslStreamCertificateContext.Create(certificate, chain, offline: true));
        var exact = new Dictionary<string, ServerCertificate>(_exact, StringComparer.OrdinalIgnoreCase);
        var wildcards = new Dictionary<string, ServerCertificate>(_wildcards, StringComparer.OrdinalIgnoreCase);
        var any = _any;
        var errors = new List<string>();
        foreach (var hostname in hostnames)
        {
            ArgumentNullException.ThrowIfNull(hostname, nameof(hostnames));
            var name = hostname.Trim();
            name = name.Length > 1 && name[^1] == '.' ? name[..^1] : name;
            RouteValidation.CheckHostPattern(name, "hostnames", errors);
            if (errors.Count > 0)
            {
                throw new ArgumentException($"'{hostname}' is not a host name, '*.suffix' or '*'.", nameof(hostnames));
            }

            if (name == "*")
            {
                any ??= entry;
            }
            else if (name.StartsWith("*.", StringComparison.Ordinal))
            {
                wildcards.TryAdd(name[2..], entry);
            }
            else
            {
                exact.TryAdd(name, entry);
            }
        }

        return new ServerCertificateSet(exact, wildcards, any);
    }

    /// <summary>The certificate for <paramref name="serverName"/>: exact name, then one-label wildcard, then <c>*</c>.</summary>
    /// <param name="serverName">The name the client sent (SNI), or null.</param>
    /// <returns>The certificate, or null when no name of the set matches.</returns>
    public override X509Certificate2? GetCertificate(string? serverName) => Find(serverName)?.Certificate;

    /// <summary>The certificate for <paramref name="serverName"/> with its intermediates, built when it was added.</summary>
    /// <param name="serverName">The name the client sent (SNI), or null.</param>
    /// <returns>The context, or null when no name of the set matches.</returns>
    public override SslStreamCertificateContext? GetCertificateContext(string? serverName) => Find(serverName)?.Context;

    private ServerCertificate? Find(string? serverName)
    {
        if (string.IsNullOrEmpty(serverName))
        {
            return _any;
        }

        var name = serverName.AsSpan();
        if (name[^1] == '.')
        {
            name = name[..^1];
        }

        if (_exactLookup.TryGetValue(name, out var certificate))
        {
            return certificate;
        }

        // A wildcard stands for exactly one non-empty label: the suffix starts after the first dot.
        var dot = name.IndexOf('.');
        if (dot > 0 && _wildcards.Count > 0 && _wildcardLookup.TryGetValue(name[(dot + 1)..], out certificate))
        {
            return certificate;
        }

        return _any;
    }

    private sealed record ServerCertificate(X509Certificate2 Certificate, SslStreamCertificateContext Context);
}
