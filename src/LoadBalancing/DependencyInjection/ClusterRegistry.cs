using System.Collections.Concurrent;
using Microsoft.Extensions.Options;

namespace LoadBalancing;

/// <summary>The clusters registered with <c>AddLoadBalancing().AddCluster(...)</c>: one source and one balancer each.</summary>
public sealed class ClusterRegistry : IDisposable
{
    private readonly ConcurrentDictionary<string, Lazy<Balancer>> _balancers = new(StringComparer.Ordinal);
    private readonly IOptionsMonitor<BalancerOptions> _options;
    private readonly TimeProvider _time;
    private readonly IReadOnlyList<string> _names;

    /// <summary>Created by dependency injection.</summary>
    /// <param name="options">The named balancer options.</param>
    /// <param name="names">The registered cluster names.</param>
    /// <param name="time">The clock.</param>
    public ClusterRegistry(IOptionsMonitor<BalancerOptions> options, IOptions<ClusterNames> names, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(names);
        _options = options;
        _time = time;
        _names = [.. names.Value.Names.Distinct(StringComparer.Ordinal)];
    }

    /// <summary>The names of the registered clusters.</summary>
    public IReadOnlyList<string> Names => _names;

    /// <summary>The balancer of a registered cluster (created on first use).</summary>
    /// <param name="name">The cluster name.</param>
    /// <returns>The balancer.</returns>
    /// <exception cref="KeyNotFoundException">No cluster has that name.</exception>
    public Balancer GetBalancer(string name)
    {
        if (!_names.Contains(name, StringComparer.Ordinal))
        {
            throw new KeyNotFoundException($"No cluster named '{name}' is registered; registered: {string.Join(", ", _names)}.");
        }

        return _balancers.GetOrAdd(name, n => new Lazy<Balancer>(() => new Balancer(new EndpointSource(n, _time), _options.Get(n), _time))).Value;
    }

    /// <summary>The endpoint source of a registered cluster, where discovery publishes.</summary>
    /// <param name="name">The cluster name.</param>
    /// <returns>The source.</returns>
    public EndpointSource GetSource(string name) => GetBalancer(name).Source;

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var balancer in _balancers.Values)
        {
            if (balancer.IsValueCreated)
            {
                balancer.Value.Dispose();
            }
        }
    }
}

/// <summary>The cluster names added to the registry (filled by <c>AddCluster</c>).</summary>
public sealed class ClusterNames
{
    /// <summary>The names, in the order they were added.</summary>
    public IList<string> Names { get; } = [];
}

/// <summary>Validates named <see cref="BalancerOptions"/> at start-up, naming the cluster, the key and the problem.</summary>
internal sealed class BalancerOptionsValidator : IValidateOptions<BalancerOptions>
{
    public ValidateOptionsResult Validate(string? name, BalancerOptions options)
    {
        var errors = options.GetValidationErrors();
        return errors.Count == 0
            ? ValidateOptionsResult.Success
            : ValidateOptionsResult.Fail(errors.Select(e => $"Cluster '{name}': {e}"));
    }
}
