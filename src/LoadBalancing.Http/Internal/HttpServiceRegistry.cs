using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Options;

namespace LoadBalancing.Http.Internal;

/// <summary>
/// The logical services registered with <c>AddLoadBalancing</c> or <c>AddHttpLoadBalancing</c>: one endpoint source and
/// one balancer each, created on first use and shared by every client and the service-discovery provider.
/// </summary>
internal sealed class HttpServiceRegistry : IDisposable
{
    private readonly ConcurrentDictionary<string, Lazy<HttpService>> _services = new(StringComparer.OrdinalIgnoreCase);
    private readonly IServiceProvider _provider;
    private readonly IOptionsMonitor<HttpLoadBalancingOptions> _options;
    private readonly TimeProvider _time;
    private readonly HashSet<string> _names;

    public HttpServiceRegistry(IServiceProvider provider, IOptionsMonitor<HttpLoadBalancingOptions> options, IOptions<HttpServiceNames> names, TimeProvider time, IMeterFactory meters)
    {
        _provider = provider;
        _options = options;
        _time = time;
        _names = new HashSet<string>(names.Value.Names, StringComparer.OrdinalIgnoreCase);
        Metrics = new HttpLoadBalancingMetrics(meters, Created);
    }

    public HttpLoadBalancingMetrics Metrics { get; }

    /// <summary>Overrides the balancers' randomness (for tests).</summary>
    internal Random? Random { get; set; }

    public bool IsRegistered(string name) => _names.Contains(name);

    /// <summary>The service (created on first use).</summary>
    /// <exception cref="KeyNotFoundException">No service has that name.</exception>
    /// <exception cref="OptionsValidationException">The service's options are invalid.</exception>
    public HttpService Get(string name)
    {
        if (!_names.Contains(name))
        {
            throw new KeyNotFoundException($"No load-balanced HTTP service named '{name}' is registered; registered: {string.Join(", ", _names)}.");
        }

        return _services.GetOrAdd(name, n => new Lazy<HttpService>(() => Create(n))).Value;
    }

    /// <summary>The services created so far (a service is created by its first request).</summary>
    private IEnumerable<HttpService> Created()
    {
        foreach (var service in _services.Values)
        {
            if (service.IsValueCreated)
            {
                yield return service.Value;
            }
        }
    }

    private HttpService Create(string name)
    {
        // Options are named by the service as registered; the lookup here is case-insensitive, the options are not.
        var registered = FindRegisteredName(name);
        var options = _options.Get(registered);
        var source = options.SourceFactory!(_provider);
        var balancer = new Balancer(source, options.Balancer, _time, Random);
        return new HttpService(registered, balancer, options);
    }

    private string FindRegisteredName(string name)
    {
        _names.TryGetValue(name, out var registered);
        return registered ?? name;
    }

    public void Dispose()
    {
        foreach (var service in _services.Values)
        {
            if (service.IsValueCreated)
            {
                service.Value.Dispose();
            }
        }
    }
}

/// <summary>The service names registered (filled by <c>AddLoadBalancing</c> and <c>AddHttpLoadBalancing</c>).</summary>
internal sealed class HttpServiceNames
{
    public List<string> Names { get; } = [];
}

/// <summary>Validates named <see cref="HttpLoadBalancingOptions"/>, naming the service, the key and the problem.</summary>
internal sealed class HttpLoadBalancingOptionsValidator : IValidateOptions<HttpLoadBalancingOptions>
{
    public ValidateOptionsResult Validate(string? name, HttpLoadBalancingOptions options)
    {
        var errors = options.GetValidationErrors();
        if (errors.Count == 0)
        {
            return ValidateOptionsResult.Success;
        }

        var messages = new string[errors.Count];
        for (var i = 0; i < errors.Count; i++)
        {
            messages[i] = $"HTTP service '{name}': {errors[i]}";
        }

        return ValidateOptionsResult.Fail(messages);
    }
}
