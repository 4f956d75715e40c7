using k8s;
using k8s.Models;
using LoadBalancing.Proxy.Kubernetes.Api;
using Microsoft.Extensions.Logging;

namespace LoadBalancing.Proxy.Kubernetes.Tls;

/// <summary>A certificate a controller wants served: for these host names (or <c>*</c>), from this Secret.</summary>
/// <param name="Hostnames">Exact names, one-label wildcards, or <c>*</c> for any name.</param>
/// <param name="SecretNamespace">The Secret's namespace.</param>
/// <param name="SecretName">The Secret's name.</param>
/// <param name="Owner">Who wants it, for log lines (<c>Ingress shop/web</c>, <c>Gateway edge/gw listener https</c>).</param>
internal sealed record WantedCertificate(IReadOnlyList<string> Hostnames, string SecretNamespace, string SecretName, string Owner);

/// <summary>
/// The https listeners' certificates from Kubernetes Secrets: the controllers say which Secrets serve which host
/// names; this watches <c>kubernetes.io/tls</c> Secrets and builds a new <see cref="ServerCertificateSet"/> whenever
/// a wanted Secret or the wanted list changes, swapped in whole (the next handshake gets it). A Secret that is
/// deleted or becomes unreadable keeps its last good certificate in service, with a warning logged and the problem
/// listed in <see cref="Problems"/>, until it is fixed or no longer wanted.
/// </summary>
internal sealed partial class KubernetesCertificates : ServerCertificateSource
{
    private readonly ObjectWatch<V1Secret>[] _secrets;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly Dictionary<string, IReadOnlyList<WantedCertificate>> _wanted = new(StringComparer.Ordinal);
    private readonly Dictionary<ObjectKey, (string? Version, SecretCertificate Certificate)> _loaded = [];
    private volatile ServerCertificateSet _set = ServerCertificateSet.Empty;
    private TaskCompletionSource _changed = NewSignal();
    private TaskCompletionSource _rebuilt = NewSignal();
    private IReadOnlyList<string> _problems = [];
    private IReadOnlyDictionary<ObjectKey, string> _secretProblems = new Dictionary<ObjectKey, string>();
    private long _wantVersion;
    private long _builtWantVersion;

    public KubernetesCertificates(ObjectApi api, IReadOnlyList<string?> scopes, WatchSettings settings, TimeProvider time, ILoggerFactory loggers)
    {
        _time = time;
        _logger = loggers.CreateLogger("LoadBalancing.Proxy.Kubernetes.Certificates");
        var watchLogger = loggers.CreateLogger("LoadBalancing.Proxy.Kubernetes.Watch");
        _secrets = [.. scopes.Select(ns => new ObjectWatch<V1Secret>(
            api, ApiKind.Secret, ns, e => KubernetesJson.Deserialize<V1Secret>(e), settings, time, watchLogger, Changed, fieldSelector: $"type={TlsSecret.Type}"))];
    }

    public IReadOnlyList<IObjectWatch> Watches => _secrets;

    /// <summary>The certificates in service now.</summary>
    public ServerCertificateSet Current => _set;

    /// <summary>What the last rebuild could not load, one line each.</summary>
    public IReadOnlyList<string> Problems => _problems;

    /// <summary>Completes after the next rebuild (tests wait on it).</summary>
    public Task NextRebuild => Volatile.Read(ref _rebuilt).Task;

    public override System.Security.Cryptography.X509Certificates.X509Certificate2? GetCertificate(string? serverName) => _set.GetCertificate(serverName);

    public override System.Net.Security.SslStreamCertificateContext? GetCertificateContext(string? serverName) => _set.GetCertificateContext(serverName);

    /// <summary>Called when the set of Secrets that cannot give a certificate changes (a controller reports it in status).</summary>
    public Action? SecretProblemsChanged { get; set; }

    /// <summary>Why the Secret cannot give a certificate, as of the last rebuild; null when it can or is not wanted yet.</summary>
    public string? SecretProblem(string ns, string name) => _secretProblems.GetValueOrDefault(ObjectKey.Of(ns, name));

    /// <summary>Replaces what <paramref name="source"/> wants served (called after each of its rebuilds).</summary>
    public void Want(string source, IReadOnlyList<WantedCertificate> wanted)
    {
        lock (_wanted)
        {
            if (_wanted.TryGetValue(source, out var before) && before.SequenceEqual(wanted, WantedComparer.Instance))
            {
                return;
            }

            _wanted[source] = wanted;
            _wantVersion++;
        }

        Changed();
    }

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var watches = _secrets.Select(w => w.RunAsync(cancellationToken)).ToArray();
        try
        {
            await Task.WhenAll(_secrets.Select(w => w.WhenSyncedAsync(cancellationToken))).ConfigureAwait(false);
            while (!cancellationToken.IsCancellationRequested)
            {
                Volatile.Write(ref _changed, NewSignal());
                Rebuild();
                Interlocked.Exchange(ref _rebuilt, NewSignal()).TrySetResult();
                await Volatile.Read(ref _changed).Task.WaitAsync(cancellationToken).ConfigureAwait(false);
                await Task.Delay(Controller.RoutingController.CoalesceWindow, _time, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Stopping.
        }

        await Task.WhenAll(watches).ConfigureAwait(false);
    }

    private void Changed() => Volatile.Read(ref _changed).TrySetResult();

    private void Rebuild()
    {
        List<WantedCertificate> wanted;
        long version;
        lock (_wanted)
        {
            wanted = [.. _wanted.OrderBy(p => p.Key, StringComparer.Ordinal).SelectMany(p => p.Value)];
            version = _wantVersion;
        }

        var secrets = _secrets.SelectMany(w => w.Objects).ToDictionary(s => ObjectKey.Of(s.Metadata.NamespaceProperty, s.Metadata.Name));
        var set = ServerCertificateSet.Empty;
        var problems = new List<string>();
        var secretProblems = new Dictionary<ObjectKey, string>();
        var used = new HashSet<ObjectKey>();
        foreach (var want in wanted)
        {
            var key = ObjectKey.Of(want.SecretNamespace, want.SecretName);
            used.Add(key);
            if (Load(key, secrets.GetValueOrDefault(key), want, problems, secretProblems) is not { } certificate)
            {
                continue;
            }

            try
            {
                set = set.Add(want.Hostnames, certificate.Leaf, certificate.Intermediates);
            }
            catch (ArgumentException e)
            {
                problems.Add($"{want.Owner}: Secret {key}: {e.Message}");
            }
        }

        foreach (var gone in _loaded.Keys.Where(k => !used.Contains(k)).ToArray())
        {
            _loaded.Remove(gone);
        }

        foreach (var problem in problems.Except(_problems))
        {
            LogProblem(_logger, problem);
        }

        _problems = problems;
        _set = set;
        var problemsChanged = !secretProblems.OrderBy(p => p.Key.ToString()).SequenceEqual(_secretProblems.OrderBy(p => p.Key.ToString()));
        _secretProblems = secretProblems;
        if (problemsChanged)
        {
            SecretProblemsChanged?.Invoke();
        }

        Interlocked.Exchange(ref _builtWantVersion, version);
    }

    /// <summary>Completes once a rebuild has taken in everything wanted so far (the host waits for it before opening its listeners).</summary>
    public async Task WhenCaughtUpAsync(CancellationToken cancellationToken)
    {
        long target;
        lock (_wanted)
        {
            target = _wantVersion;
        }

        while (Interlocked.Read(ref _builtWantVersion) < target)
        {
            await NextRebuild.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>The Secret's certificate: read again when its version changed, else the one read before; the last good one when it cannot be read.</summary>
    private SecretCertificate? Load(ObjectKey key, V1Secret? secret, WantedCertificate want, List<string> problems, Dictionary<ObjectKey, string> secretProblems)
    {
        _loaded.TryGetValue(key, out var loaded);
        if (secret is not null && loaded.Certificate is not null && loaded.Version == secret.Metadata.ResourceVersion)
        {
            return loaded.Certificate;
        }

        string? problem;
        if (secret is null)
        {
            problem = $"Secret {key} does not exist (or is not of type {TlsSecret.Type})";
        }
        else if (TlsSecret.TryRead(secret, out problem) is { } read)
        {
            _loaded[key] = (secret.Metadata.ResourceVersion, read);
            return read;
        }
        else
        {
            problem = $"Secret {key}: {problem}";
        }

        secretProblems[key] = problem;
        problems.Add(loaded.Certificate is null
            ? $"{want.Owner}: {problem}; no certificate for {string.Join(", ", want.Hostnames)}."
            : $"{want.Owner}: {problem}; still serving its last good certificate (expires {loaded.Certificate.Leaf.NotAfter:u}).");
        return loaded.Certificate;
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    [LoggerMessage(Level = LogLevel.Warning, Message = "TLS: {Problem}")]
    private static partial void LogProblem(ILogger logger, string problem);

    private sealed class WantedComparer : IEqualityComparer<WantedCertificate>
    {
        public static readonly WantedComparer Instance = new();

        public bool Equals(WantedCertificate? x, WantedCertificate? y) =>
            x is not null && y is not null && x.SecretNamespace == y.SecretNamespace && x.SecretName == y.SecretName && x.Owner == y.Owner
            && x.Hostnames.SequenceEqual(y.Hostnames, StringComparer.Ordinal);

        public int GetHashCode(WantedCertificate obj) => HashCode.Combine(obj.SecretNamespace, obj.SecretName);
    }
}
