using System.Text.RegularExpressions;
using LoadBalancing.Configuration;
using Microsoft.Extensions.Configuration;

namespace LoadBalancing.Kubernetes;

/// <summary>Checks <see cref="KubernetesDiscoveryOptions"/>, naming the key of every problem.</summary>
public static partial class KubernetesDiscoveryOptionsValidation
{
    /// <summary>The conventional configuration section name.</summary>
    public const string SectionName = "Kubernetes";

    /// <summary>
    /// Reads a configuration section (normally <c>Kubernetes</c>) into options, reporting every unknown key and every
    /// value that does not convert, each by its full key path. Does not validate: a host may add Services first, then
    /// call <see cref="Validate"/>, or use <see cref="TryLoad"/>, which does both.
    /// </summary>
    /// <param name="section">The section.</param>
    /// <returns>The bound options.</returns>
    /// <exception cref="ArgumentException">A key is unknown or a value does not convert; the message names every such key.</exception>
    public static KubernetesDiscoveryOptions Bind(IConfiguration section)
    {
        ArgumentNullException.ThrowIfNull(section);
        var options = new KubernetesDiscoveryOptions();
        var problems = new ConfigurationProblems();
        KubernetesConfigurationShape.Discovery.Read(section, PathOf(section), options, problems);
        if (problems.Errors.Count > 0)
        {
            throw new ArgumentException(Describe(problems.Errors), nameof(section));
        }

        return options;
    }

    /// <summary>
    /// Reads a configuration section (normally <c>Kubernetes</c>) into options, lets the caller complete them, then
    /// validates, collecting every problem: unknown keys, values that do not convert (the key keeps its default and
    /// its value checks are skipped) and invalid values, each naming its full key path.
    /// </summary>
    /// <param name="section">The section.</param>
    /// <param name="complete">Adds what the host knows from elsewhere (Services named by its own configuration) before validation; may be null.</param>
    /// <param name="options">The options: valid on success; otherwise every key that converted is set.</param>
    /// <param name="errors">One line per problem; empty on success.</param>
    /// <returns>Whether the options are valid.</returns>
    public static bool TryLoad(IConfiguration section, Action<KubernetesDiscoveryOptions>? complete, out KubernetesDiscoveryOptions options, out IReadOnlyList<string> errors)
    {
        ArgumentNullException.ThrowIfNull(section);
        options = new KubernetesDiscoveryOptions();
        var prefix = PathOf(section);
        var problems = new ConfigurationProblems();
        KubernetesConfigurationShape.Discovery.Read(section, prefix, options, problems);
        complete?.Invoke(options);
        var all = new List<string>(problems.Errors);
        all.AddRange(problems.Independent(GetErrors(options, prefix)));
        errors = all;
        return all.Count == 0;
    }

    /// <summary>Every problem with the options, each naming its key; empty when they are valid.</summary>
    /// <param name="options">The options.</param>
    /// <param name="prefix">The configuration path to name keys by.</param>
    /// <returns>The problems.</returns>
    public static IReadOnlyList<string> GetErrors(KubernetesDiscoveryOptions options, string prefix = SectionName)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = new List<string>();
        if (options.ApiServer is { } url
            && (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps)))
        {
            errors.Add($"{prefix}:ApiServer: '{url}' is not an http:// or https:// URL.");
        }

        if (options.ApiServer is not null && options.KubeConfigPath is not null)
        {
            errors.Add($"{prefix}:KubeConfigPath: give either ApiServer or KubeConfigPath, not both.");
        }

        if (options.ApiServer is null && options.KubeConfigPath is null && !k8s.KubernetesClientConfiguration.IsInCluster())
        {
            errors.Add($"{prefix}: no ApiServer or KubeConfigPath is set and this process is not running in a cluster (no service account token).");
        }

        if (options.KubeConfigPath is { } path && !File.Exists(path))
        {
            errors.Add($"{prefix}:KubeConfigPath: file '{path}' does not exist.");
        }

        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < options.Services.Count; i++)
        {
            var service = options.Services[i];
            var key = $"{prefix}:Services:{i}";
            if (!IsDnsLabel(service.Namespace))
            {
                errors.Add($"{key}:Namespace: '{service.Namespace}' is not a namespace name (lower-case letters, digits and '-', at most 63).");
            }

            if (!IsDnsLabel(service.Name))
            {
                errors.Add($"{key}:Name: '{service.Name}' is not a Service name (lower-case letters, digits and '-', at most 63).");
            }

            if (service.Port is { Length: > 0 } port && !IsPort(port))
            {
                errors.Add($"{key}:Port: '{port}' is neither a port name nor a port number.");
            }

            if (!seen.Add(service.ToString()))
            {
                errors.Add($"{key}: '{service}' is listed twice.");
            }
        }

        for (var i = 0; i < options.Namespaces.Count; i++)
        {
            if (!IsDnsLabel(options.Namespaces[i]))
            {
                errors.Add($"{prefix}:Namespaces:{i}: '{options.Namespaces[i]}' is not a namespace name.");
            }
        }

        Positive(options.WatchTimeoutMin, $"{prefix}:WatchTimeoutMin", errors);
        Positive(options.WatchIdleTimeout, $"{prefix}:WatchIdleTimeout", errors);
        Positive(options.ListTimeout, $"{prefix}:ListTimeout", errors);
        Positive(options.ConfirmInterval, $"{prefix}:ConfirmInterval", errors);
        Positive(options.ConfirmGrace, $"{prefix}:ConfirmGrace", errors);
        Positive(options.WedgedAfter, $"{prefix}:WedgedAfter", errors);
        Positive(options.BackoffInitial, $"{prefix}:BackoffInitial", errors);
        if (options.MinPublishInterval < TimeSpan.Zero)
        {
            errors.Add($"{prefix}:MinPublishInterval must not be negative; got {options.MinPublishInterval}.");
        }

        Positive(options.StaleAfter, $"{prefix}:StaleAfter", errors);
        if (options.WatchTimeoutMax < options.WatchTimeoutMin)
        {
            errors.Add($"{prefix}:WatchTimeoutMax ({options.WatchTimeoutMax}) must not be less than WatchTimeoutMin ({options.WatchTimeoutMin}).");
        }

        if (options.BackoffMax < options.BackoffInitial)
        {
            errors.Add($"{prefix}:BackoffMax ({options.BackoffMax}) must not be less than BackoffInitial ({options.BackoffInitial}).");
        }

        // A healthy namespace is confirmed at least every ConfirmInterval, a slow confirmation taking up to ListTimeout
        // and ConfirmGrace more: a bound below that would call a healthy view stale.
        var confirmedEvery = options.ConfirmInterval + options.ListTimeout + options.ConfirmGrace;
        if (options.StaleAfter <= confirmedEvery)
        {
            errors.Add($"{prefix}:StaleAfter ({options.StaleAfter}) must be longer than ConfirmInterval + ListTimeout + ConfirmGrace ({confirmedEvery}), or a healthy view would count as stale.");
        }

        // The loops' longest healthy silence: a hung watch until the idle watchdog, a backoff, a confirmation's wait,
        // a slow list and its grace. Liveness must not restart a process that is only waiting as designed.
        var longestQuiet = new[] { options.WatchIdleTimeout, options.BackoffMax, options.ConfirmInterval, options.ListTimeout + options.ConfirmGrace }.Max();
        if (options.WedgedAfter <= longestQuiet)
        {
            errors.Add($"{prefix}:WedgedAfter ({options.WedgedAfter}) must be longer than the loops' longest healthy wait ({longestQuiet}: the largest of WatchIdleTimeout, BackoffMax, ConfirmInterval and ListTimeout + ConfirmGrace).");
        }

        return errors;
    }

    /// <summary>Throws when the options are invalid.</summary>
    /// <param name="options">The options.</param>
    /// <param name="prefix">The configuration path to name keys by.</param>
    /// <exception cref="ArgumentException">The options are invalid; the message names every bad key.</exception>
    public static void Validate(KubernetesDiscoveryOptions options, string prefix = SectionName)
    {
        var errors = GetErrors(options, prefix);
        if (errors.Count > 0)
        {
            throw new ArgumentException(Describe(errors), nameof(options));
        }
    }

    private static string PathOf(IConfiguration section) => section is IConfigurationSection s ? s.Path : SectionName;

    private static string Describe(IEnumerable<string> errors) =>
        "Invalid Kubernetes discovery configuration:" + Environment.NewLine + "  " + string.Join(Environment.NewLine + "  ", errors);

    private static void Positive(TimeSpan value, string key, List<string> errors)
    {
        if (value <= TimeSpan.Zero)
        {
            errors.Add($"{key} must be positive; got {value}.");
        }
    }

    private static bool IsDnsLabel(string? value) => value is { Length: > 0 and <= 63 } && DnsLabel().IsMatch(value);

    private static bool IsPort(string value) =>
        (int.TryParse(value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var number) && number is >= 1 and <= 65535)
        || (value.Length <= 63 && DnsLabel().IsMatch(value));

    [GeneratedRegex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")]
    private static partial Regex DnsLabel();
}
