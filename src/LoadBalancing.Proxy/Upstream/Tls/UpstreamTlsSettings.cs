using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace LoadBalancing.Proxy.Upstream.Tls;

/// <summary>
/// One cluster's upstream TLS: the certificate material read from its files (read again when they change) and the
/// <see cref="SslClientAuthenticationOptions"/> built from it, cached per server name and application protocol so
/// every connection to a name shares one options object (which is what lets SslStream resume TLS sessions). Any
/// HTTP version's connect path can use it: <see cref="CreateOptions(string?, SslApplicationProtocol)"/> for the
/// options, or <see cref="AuthenticateAsync(Stream, string?, SslApplicationProtocol, CancellationToken)"/> for the
/// handshake with failures described as <see cref="UpstreamTlsException"/>.
/// </summary>
internal sealed class UpstreamTlsSettings : IDisposable
{
    /// <summary>
    /// Offers h2 and http/1.1 by ALPN, the server choosing (an <c>Auto</c> cluster); passed where one protocol is
    /// expected, so the cached options are keyed by it like any other.
    /// </summary>
    public static readonly SslApplicationProtocol Http2OrHttp11 = new("h2,http/1.1");

    /// <summary>How often the certificate files are checked for changes.</summary>
    public static readonly TimeSpan FileCheckInterval = TimeSpan.FromSeconds(10);

    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly ITimer? _fileCheck;
    private readonly RemoteCertificateValidationCallback _validate;
    private readonly Lock _checking = new();
    private volatile Snapshot _current;
    private volatile string? _problem;

    /// <param name="cluster">The cluster's name, for logs and messages.</param>
    /// <param name="options">Its TLS options, already validated.</param>
    /// <param name="time">Drives the file check.</param>
    /// <param name="logger">Where reloads and their failures are logged.</param>
    public UpstreamTlsSettings(string cluster, UpstreamTlsOptions options, TimeProvider time, ILogger? logger = null)
    {
        Cluster = cluster;
        Options = options;
        _time = time;
        _logger = logger ?? NullLogger.Instance;
        // CA5359 reads "returns true or throws" as "accepts anything"; Validate refuses every error unless SkipValidation.
#pragma warning disable CA5359
        _validate = Validate;
#pragma warning restore CA5359
        var problems = new List<(string Key, string Problem)>();
        var material = UpstreamTlsMaterial.Load(options, problems);

        // Validation read the files a moment ago; if they broke since, connects fail (and say why) until they are fixed.
        _problem = material is null ? Describe(problems) : null;
        _current = new Snapshot(material, time.GetUtcNow());
        if (options.CaFile is not null || options.ClientCertificateFile is not null)
        {
            _fileCheck = time.CreateTimer(static s => ((UpstreamTlsSettings)s!).CheckFiles(), this, FileCheckInterval, FileCheckInterval);
        }
    }

    /// <summary>The settings for a cluster's options: null when the cluster speaks plain HTTP.</summary>
    public static UpstreamTlsSettings? Create(string cluster, UpstreamTlsOptions? options, TimeProvider time, ILogger? logger = null) =>
        options is { Enabled: true } ? new UpstreamTlsSettings(cluster, options, time, logger) : null;

    public string Cluster { get; }

    public UpstreamTlsOptions Options { get; }

    /// <summary>The material in use (null when the files could never be read).</summary>
    public UpstreamTlsMaterial? Material => _current.Material;

    /// <summary>When the material in use was read.</summary>
    public DateTimeOffset MaterialLoadedAt => _current.LoadedAt;

    /// <summary>Why the files on disk cannot be used (the last good material stays in use); null when they can.</summary>
    public string? FileProblem => _problem;

    /// <summary>The options of an HTTP/1.1 connection (ALPN <c>http/1.1</c>) to an endpoint.</summary>
    /// <param name="endpointHost">The endpoint's address (DNS name or IP); <see cref="UpstreamTlsOptions.ServerName"/> takes precedence.</param>
    public SslClientAuthenticationOptions CreateOptions(string? endpointHost) => CreateOptions(endpointHost, SslApplicationProtocol.Http11);

    /// <summary>
    /// The options of a connection to an endpoint, offering <paramref name="protocol"/> by ALPN. Cached: the same object
    /// for the same name and protocol until the certificate files change. Do not modify it.
    /// </summary>
    /// <param name="endpointHost">The endpoint's address (DNS name or IP); <see cref="UpstreamTlsOptions.ServerName"/> takes precedence.</param>
    /// <param name="protocol">The application protocol offered (<see cref="SslApplicationProtocol.Http2"/> for HTTP/2).</param>
    public SslClientAuthenticationOptions CreateOptions(string? endpointHost, SslApplicationProtocol protocol)
    {
        var snapshot = _current;
        var target = Options.ServerName ?? endpointHost ?? "";
        return snapshot.Options.TryGetValue((target, protocol), out var cached)
            ? cached
            : snapshot.Options.GetOrAdd((target, protocol), static (key, arg) => arg.Self.Build(arg.Snapshot, key.Host, key.Protocol), (Self: this, Snapshot: snapshot));
    }

    /// <summary>TLS over a connected socket for HTTP/1.1; see <see cref="AuthenticateAsync(Stream, string?, SslApplicationProtocol, CancellationToken)"/>.</summary>
    public ValueTask<SslStream> AuthenticateAsync(Socket socket, string? endpointHost, CancellationToken cancellationToken) =>
        AuthenticateAsync(new NetworkStream(socket, ownsSocket: false), endpointHost, SslApplicationProtocol.Http11, cancellationToken);

    /// <summary>
    /// Runs the client handshake over <paramref name="stream"/> with the cached options. Every failure, the connect
    /// timeout (<paramref name="cancellationToken"/>) included, is thrown as an <see cref="UpstreamTlsException"/> that
    /// says what failed; the stream is disposed then. Never falls back to plaintext.
    /// </summary>
    /// <param name="stream">The connected transport; owned by the returned SslStream.</param>
    /// <param name="endpointHost">The endpoint's address (DNS name or IP); <see cref="UpstreamTlsOptions.ServerName"/> takes precedence.</param>
    /// <param name="protocol">The application protocol offered by ALPN.</param>
    /// <param name="cancellationToken">The connect timeout.</param>
    public async ValueTask<SslStream> AuthenticateAsync(Stream stream, string? endpointHost, SslApplicationProtocol protocol, CancellationToken cancellationToken)
    {
        var ssl = new SslStream(stream, leaveInnerStreamOpen: false);
        try
        {
            if (_current.Material is null)
            {
                throw new UpstreamTlsException(UpstreamTlsException.Handshake, $"the cluster's TLS files cannot be read: {_problem}");
            }

            await ssl.AuthenticateAsClientAsync(CreateOptions(endpointHost, protocol), cancellationToken).ConfigureAwait(false);
            return ssl;
        }
        catch (Exception e)
        {
            await ssl.DisposeAsync().ConfigureAwait(false);
            throw Classify(e, cancellationToken);
        }
    }

    /// <summary>Reads the files again if they changed; the timer calls it, tests may too.</summary>
    internal void CheckFiles()
    {
        lock (_checking)
        {
            var current = _current;
            var problems = new List<(string Key, string Problem)>();
            var material = UpstreamTlsMaterial.Load(Options, problems, current.Material);
            if (material is null)
            {
                var problem = Describe(problems);
                if (problem != _problem)
                {
                    // Once per distinct problem, not on every check.
                    UpstreamTlsLog.MaterialReloadFailed(_logger, Cluster, problem);
                }

                _problem = problem;
                return;
            }

            _problem = null;
            if (!ReferenceEquals(material, current.Material))
            {
                _current = new Snapshot(material, _time.GetUtcNow());
                UpstreamTlsLog.MaterialReloaded(_logger, Cluster);
            }
        }
    }

    private SslClientAuthenticationOptions Build(Snapshot snapshot, string target, SslApplicationProtocol protocol)
    {
        var options = new SslClientAuthenticationOptions
        {
            TargetHost = target,
            ApplicationProtocols = protocol == Http2OrHttp11 ? [SslApplicationProtocol.Http2, SslApplicationProtocol.Http11] : [protocol],
            EnabledSslProtocols = Options.MinimumProtocol == UpstreamTlsProtocol.Tls13 ? SslProtocols.Tls13 : SslProtocols.Tls12 | SslProtocols.Tls13,
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            ClientCertificateContext = snapshot.Material?.ClientCertificate,
            RemoteCertificateValidationCallback = _validate,
        };

        if (snapshot.Material?.Roots is { } roots)
        {
            // Only these roots: the system's store plays no part for this cluster.
            var policy = new X509ChainPolicy
            {
                TrustMode = X509ChainTrustMode.CustomRootTrust,
                RevocationMode = X509RevocationMode.NoCheck,
            };
            policy.CustomTrustStore.AddRange(roots);
            options.CertificateChainPolicy = policy;
        }

        return options;
    }

    private bool Validate(object sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        if (Options.SkipValidation || errors == SslPolicyErrors.None)
        {
            return true;
        }

        // Thrown rather than returned so the handshake's failure carries what was wrong (the caller unwraps it).
        throw Refusal(certificate, chain, errors, ((SslStream)sender).TargetHostName);
    }

    private UpstreamTlsException Refusal(X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors, string target)
    {
        if ((errors & SslPolicyErrors.RemoteCertificateNotAvailable) != 0 || certificate is null)
        {
            return new UpstreamTlsException(UpstreamTlsException.Handshake, "the upstream presented no certificate");
        }

        if ((errors & SslPolicyErrors.RemoteCertificateChainErrors) != 0 && chain is not null)
        {
            var flags = X509ChainStatusFlags.NoError;
            foreach (var status in chain.ChainStatus)
            {
                flags |= status.Status;
            }

            if ((flags & (X509ChainStatusFlags.UntrustedRoot | X509ChainStatusFlags.PartialChain)) != 0)
            {
                var roots = Options.CaFile is { } caFile ? $"a root in Tls:CaFile '{caFile}'" : "a root the system trusts";
                return new UpstreamTlsException(UpstreamTlsException.Untrusted, $"untrusted root: certificate '{certificate.Subject}' issued by '{certificate.Issuer}' does not chain to {roots}");
            }

            if ((flags & X509ChainStatusFlags.NotTimeValid) != 0)
            {
                var when = chain.ChainPolicy.VerificationTime.ToUniversalTime();
                foreach (var element in chain.ChainElements)
                {
                    var c = element.Certificate;
                    if (c.NotAfter.ToUniversalTime() < when)
                    {
                        return new UpstreamTlsException(UpstreamTlsException.Expired, $"certificate '{c.Subject}' expired at {Time(c.NotAfter)}");
                    }

                    if (c.NotBefore.ToUniversalTime() > when)
                    {
                        return new UpstreamTlsException(UpstreamTlsException.Expired, $"certificate '{c.Subject}' is not valid before {Time(c.NotBefore)}");
                    }
                }
            }

            var problems = new List<string>();
            foreach (var status in chain.ChainStatus)
            {
                problems.Add(status.StatusInformation.Trim());
            }

            return new UpstreamTlsException(UpstreamTlsException.Untrusted, $"certificate '{certificate.Subject}' refused: {string.Join("; ", problems)}");
        }

        if ((errors & SslPolicyErrors.RemoteCertificateNameMismatch) != 0)
        {
            var names = Names(certificate);
            var message = $"certificate for '{string.Join("', '", names)}' does not match '{target}'";
            if (IPAddress.TryParse(target, out _))
            {
                message += "; the endpoint is an IP address and Tls:ServerName is not set: set it to the name the certificates are issued for";
            }

            return new UpstreamTlsException(UpstreamTlsException.NameMismatch, message);
        }

        return new UpstreamTlsException(UpstreamTlsException.Handshake, $"certificate '{certificate.Subject}' refused ({errors})");
    }

    private static List<string> Names(X509Certificate certificate)
    {
        var names = new List<string>();
        if (certificate is X509Certificate2 c)
        {
            foreach (var extension in c.Extensions)
            {
                if (extension is X509SubjectAlternativeNameExtension san)
                {
                    names.AddRange(san.EnumerateDnsNames());
                    foreach (var address in san.EnumerateIPAddresses())
                    {
                        names.Add(address.ToString());
                    }
                }
            }

            if (names.Count == 0 && c.GetNameInfo(X509NameType.DnsName, forIssuer: false) is { Length: > 0 } commonName)
            {
                names.Add(commonName);
            }
        }

        if (names.Count == 0)
        {
            names.Add(certificate.Subject);
        }

        return names;
    }

    private static UpstreamTlsException Classify(Exception e, CancellationToken cancellationToken)
    {
        for (var inner = e; inner is not null; inner = inner.InnerException)
        {
            if (inner is UpstreamTlsException refusal)
            {
                return refusal;
            }
        }

        if (e is OperationCanceledException && cancellationToken.IsCancellationRequested)
        {
            return new UpstreamTlsException(UpstreamTlsException.Handshake, "the TLS handshake did not finish within the connect timeout", e, timedOut: true);
        }

        var innermost = e;
        while (innermost.InnerException is not null)
        {
            innermost = innermost.InnerException;
        }

        var detail = ReferenceEquals(innermost, e) ? e.Message : $"{e.Message} {innermost.Message}";
        return new UpstreamTlsException(UpstreamTlsException.Handshake, "TLS handshake failed: " + detail.Trim(), e);
    }

    private static string Time(DateTime value) => value.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    private static string Describe(List<(string Key, string Problem)> problems)
    {
        var parts = new List<string>(problems.Count);
        foreach (var (key, problem) in problems)
        {
            parts.Add($"Tls:{key}: {problem}");
        }

        return string.Join(" ", parts);
    }

    public void Dispose() => _fileCheck?.Dispose();

    /// <summary>The material read at one time, and the options built from it (per server name and protocol).</summary>
    private sealed class Snapshot(UpstreamTlsMaterial? material, DateTimeOffset loadedAt)
    {
        public UpstreamTlsMaterial? Material { get; } = material;

        public DateTimeOffset LoadedAt { get; } = loadedAt;

        public ConcurrentDictionary<(string Host, SslApplicationProtocol Protocol), SslClientAuthenticationOptions> Options { get; } = new();
    }
}
