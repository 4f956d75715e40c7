using System.Globalization;

namespace LoadBalancing.Proxy.Kubernetes.Election;

/// <summary>
/// Which Lease the replicas compete for, who this replica is, and client-go's timings: a holder keeps the lease for
/// <see cref="LeaseDuration"/> after others last saw it change, renews every <see cref="RetryPeriod"/>, and gives up
/// leading when no renew succeeded for <see cref="RenewDeadline"/>.
/// </summary>
internal sealed class LeaseElectionOptions
{
    // client-go's JitterFactor: a renew deadline must leave room for more than one retry.
    private const double RetryHeadroom = 1.2;

    /// <summary>The Lease's namespace.</summary>
    public required string Namespace { get; init; }

    /// <summary>The Lease's name.</summary>
    public required string Name { get; init; }

    /// <summary>This replica's identity in <c>holderIdentity</c>: the pod name.</summary>
    public required string Identity { get; init; }

    /// <summary>How long others wait, from when they last saw the lease change, before taking it. Whole seconds.</summary>
    public TimeSpan LeaseDuration { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>How long the leader keeps leading without a successful renew.</summary>
    public TimeSpan RenewDeadline { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How often a candidate tries to acquire and the leader renews.</summary>
    public TimeSpan RetryPeriod { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Whether a graceful stop releases the lease so another replica takes over at once (client-go's ReleaseOnCancel).</summary>
    public bool ReleaseOnStop { get; init; } = true;

    /// <summary>Every problem with the options, each naming its key; empty when they are valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        Require(errors, Namespace, nameof(Namespace));
        Require(errors, Name, nameof(Name));
        Require(errors, Identity, nameof(Identity));
        if (RetryPeriod <= TimeSpan.Zero)
        {
            errors.Add($"{nameof(RetryPeriod)} ({Seconds(RetryPeriod)}) must be positive.");
        }

        if (LeaseDuration < TimeSpan.FromSeconds(1) || LeaseDuration.Ticks % TimeSpan.TicksPerSecond != 0)
        {
            // leaseDurationSeconds is an integer on the wire.
            errors.Add($"{nameof(LeaseDuration)} ({Seconds(LeaseDuration)}) must be a whole number of seconds, at least 1 s.");
        }

        if (LeaseDuration <= RenewDeadline)
        {
            // Others must not take the lease while the leader still believes it leads.
            errors.Add($"{nameof(LeaseDuration)} ({Seconds(LeaseDuration)}) must be greater than {nameof(RenewDeadline)} ({Seconds(RenewDeadline)}).");
        }

        if (RenewDeadline.TotalSeconds <= RetryHeadroom * RetryPeriod.TotalSeconds)
        {
            errors.Add($"{nameof(RenewDeadline)} ({Seconds(RenewDeadline)}) must be greater than {RetryHeadroom.ToString(CultureInfo.InvariantCulture)} × {nameof(RetryPeriod)} ({Seconds(RetryPeriod)}).");
        }

        return errors;
    }

    /// <summary>Throws when <see cref="Validate"/> finds problems.</summary>
    /// <exception cref="ArgumentException">The options are invalid; the message names every problem.</exception>
    public void ThrowIfInvalid()
    {
        if (Validate() is { Count: > 0 } errors)
        {
            throw new ArgumentException("Invalid lease election options: " + string.Join(" ", errors));
        }
    }

    private static void Require(List<string> errors, string? value, string key)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            errors.Add($"{key} is required.");
        }
    }

    private static string Seconds(TimeSpan value) => value.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture) + " s";
}
