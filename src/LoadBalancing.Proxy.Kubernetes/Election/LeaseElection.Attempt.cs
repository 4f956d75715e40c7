using System.Net;
using System.Text.Json;
using k8s;
using k8s.Autorest;
using k8s.Models;

namespace LoadBalancing.Proxy.Kubernetes.Election;

/// <summary>One acquire-or-renew (client-go's tryAcquireOrRenew) and the release.</summary>
internal sealed partial class LeaseElection
{
    // A 409 means the lease moved under us: read it once more and decide again within the same attempt, so a
    // harmless edit (a label) does not cost the leader a retry period; a second conflict waits for the next attempt.
    private const int ConflictRereads = 1;

    private async Task<bool> TryAcquireOrRenewAsync(CancellationToken cancellationToken)
    {
        var lease = await ReadAsync(cancellationToken).ConfigureAwait(false);
        if (lease is null)
        {
            return await CreateAsync(cancellationToken).ConfigureAwait(false);
        }

        for (var conflicts = 0; ; conflicts++)
        {
            var record = LeaseRecord.From(lease);
            Observe(record, lease);
            var ours = record.HolderIdentity == _options.Identity;
            if (record.HasHolder && !ours && _time.GetElapsedTime(_observedAt) < TimeSpan.FromSeconds(record.LeaseDurationSeconds ?? 0))
            {
                // Held by someone whose record changed within its lease duration, by our clock: theirs.
                return false;
            }

            var now = _time.GetUtcNow().UtcDateTime;
            var wanted = Copy(lease);
            var spec = wanted.Spec ??= new V1LeaseSpec();
            spec.AcquireTime = ours ? record.AcquireTime ?? now : now;
            spec.LeaseTransitions = ours ? record.LeaseTransitions ?? 0 : (record.LeaseTransitions ?? 0) + 1;
            spec.HolderIdentity = _options.Identity;
            spec.LeaseDurationSeconds = (int)_options.LeaseDuration.TotalSeconds;
            spec.RenewTime = now;
            try
            {
                // The lease carries the resourceVersion it was read with: a replace over a newer version gets 409.
                var written = await _client.CoordinationV1.ReplaceNamespacedLeaseAsync(wanted, _options.Name, _options.Namespace, cancellationToken: cancellationToken).ConfigureAwait(false);
                Observe(LeaseRecord.From(written), written);
                return true;
            }
            catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.Conflict)
            {
                // Another replica keeps writing first: it is contending or leading; not an API failure to log.
                if (conflicts >= ConflictRereads)
                {
                    return false;
                }

                lease = await ReadAsync(cancellationToken).ConfigureAwait(false);
                if (lease is null)
                {
                    return false;
                }
            }
        }
    }

    private async Task<V1Lease?> ReadAsync(CancellationToken cancellationToken)
    {
        try
        {
            return await _client.CoordinationV1.ReadNamespacedLeaseAsync(_options.Name, _options.Namespace, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    private async Task<bool> CreateAsync(CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow().UtcDateTime;
        var lease = new V1Lease
        {
            Metadata = new V1ObjectMeta { Name = _options.Name, NamespaceProperty = _options.Namespace },
            Spec = new V1LeaseSpec
            {
                HolderIdentity = _options.Identity,
                LeaseDurationSeconds = (int)_options.LeaseDuration.TotalSeconds,
                AcquireTime = now,
                RenewTime = now,
                LeaseTransitions = 0,
            },
        };
        try
        {
            var created = await _client.CoordinationV1.CreateNamespacedLeaseAsync(lease, _options.Namespace, cancellationToken: cancellationToken).ConfigureAwait(false);
            Observe(LeaseRecord.From(created), created);
            return true;
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.Conflict)
        {
            // Another replica created it first; the next attempt reads theirs.
            return false;
        }
    }

    /// <summary>Remembers when the record was first seen in this form, by our clock; an unchanged record keeps its time.</summary>
    private void Observe(LeaseRecord record, V1Lease lease)
    {
        if (_observed != record)
        {
            _observed = record;
            _observedAt = _time.GetTimestamp();
        }

        _lease = lease;
    }

    /// <summary>
    /// Clears the holder and shortens the duration to 1 s over the version last written, so the next candidate to look
    /// takes the lease at once. A conflict means someone else wrote since: theirs stands.
    /// </summary>
    private async Task ReleaseAsync()
    {
        if (_lease is not { Spec.HolderIdentity: var holder } last || holder != _options.Identity)
        {
            return;
        }

        var lease = Copy(last);
        var spec = lease.Spec;

        var now = _time.GetUtcNow().UtcDateTime;
        spec.HolderIdentity = "";
        spec.LeaseDurationSeconds = 1;
        spec.AcquireTime = now;
        spec.RenewTime = now;

        // The stop token is already cancelled; the release gets its own bound (what is left of the renew deadline would do, but a stop should not wait long).
        using var timeout = new CancellationTokenSource(_options.RetryPeriod, _time);
        try
        {
            var written = await _client.CoordinationV1.ReplaceNamespacedLeaseAsync(lease, _options.Name, _options.Namespace, cancellationToken: timeout.Token).ConfigureAwait(false);
            Observe(LeaseRecord.From(written), written);
            LogReleased(_logger, _options.Namespace, _options.Name, _options.Identity);
        }
        catch (Exception e) when (IsApiFailure(e))
        {
            LogReleaseFailed(_logger, _options.Namespace, _options.Name, e);
        }
    }

    // What was read or written stays as it was: the release relies on _lease being the server's version, not a wish.
    private static V1Lease Copy(V1Lease lease) => KubernetesJson.Deserialize<V1Lease>(KubernetesJson.Serialize(lease));

    private static bool IsApiFailure(Exception e) =>
        e is HttpOperationException or HttpRequestException or OperationCanceledException or JsonException or IOException;
}
