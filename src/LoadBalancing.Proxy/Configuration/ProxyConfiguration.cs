using LoadBalancing.Configuration;
using Microsoft.Extensions.Configuration;

namespace LoadBalancing.Proxy;

/// <summary>Reads and validates <see cref="ProxyOptions"/> from configuration.</summary>
public static class ProxyConfiguration
{
    /// <summary>The conventional configuration section name.</summary>
    public const string SectionName = "Proxy";

    /// <summary>
    /// Reads <paramref name="section"/> into <see cref="ProxyOptions"/> and validates the result, reporting every
    /// problem at once: unknown keys, values that do not convert and values that are out of range.
    /// </summary>
    /// <param name="section">The <c>Proxy</c> section.</param>
    /// <returns>The validated options.</returns>
    /// <exception cref="ProxyConfigurationException">The configuration is invalid; the message names every bad key.</exception>
    public static ProxyOptions Load(IConfiguration section)
    {
        if (!TryLoad(section, out var options, out var errors))
        {
            throw new ProxyConfigurationException(errors);
        }

        return options;
    }

    /// <summary>
    /// Reads <paramref name="section"/> into <see cref="ProxyOptions"/> and validates the result, collecting every
    /// problem, each naming its full key path (<c>Proxy:Clusters:web:Endpoints:0:Adress</c>), the value and what is
    /// accepted, with the closest known name for a misspelt key or enum value. A key whose value does not convert
    /// keeps its default and its value checks are skipped, so each mistake is reported once. Whether every cluster has
    /// endpoints is checked when the proxy starts, once the endpoint sources registered in code
    /// (<see cref="Microsoft.Extensions.DependencyInjection.IProxyBuilder.UseEndpointSource(string, EndpointSource, TimeSpan?)"/>) are known.
    /// </summary>
    /// <param name="section">The <c>Proxy</c> section.</param>
    /// <param name="options">
    /// The options: on success, valid; otherwise every key that converted is set, the rest hold their defaults (good
    /// enough to check related sections, such as which clusters name a Kubernetes Service).
    /// </param>
    /// <param name="errors">One line per problem; empty on success.</param>
    /// <returns>Whether the configuration is valid.</returns>
    public static bool TryLoad(IConfiguration section, out ProxyOptions options, out IReadOnlyList<string> errors) =>
        TryLoad(section, fedInCode: null, out options, out errors);

    /// <summary>
    /// As <see cref="TryLoad(IConfiguration, out ProxyOptions, out IReadOnlyList{string})"/>, and also checks that every
    /// cluster has somewhere to send requests (endpoints, a fallback, a Kubernetes Service, or an endpoint source fed
    /// in code), so a host that knows its sources reports that problem with all the others, in one run.
    /// </summary>
    /// <param name="section">The <c>Proxy</c> section.</param>
    /// <param name="fedInCode">Whether the host feeds the named cluster from code; null skips the check.</param>
    /// <param name="options">As in the other overload.</param>
    /// <param name="errors">One line per problem; empty on success.</param>
    /// <returns>Whether the configuration is valid.</returns>
    public static bool TryLoad(IConfiguration section, Func<string, bool>? fedInCode, out ProxyOptions options, out IReadOnlyList<string> errors)
    {
        ArgumentNullException.ThrowIfNull(section);
        options = new ProxyOptions();
        var prefix = section is IConfigurationSection s ? s.Path : SectionName;
        var problems = new ConfigurationProblems();
        ProxyConfigurationShape.Proxy.Read(section, prefix, options, problems);
        var all = new List<string>(problems.Errors);
        var checks = ProxyOptionsValidation.GetErrors(options, prefix);
        if (fedInCode is not null)
        {
            ProxyOptionsValidation.CheckEndpoints(options, prefix, fedInCode, checks);
        }

        all.AddRange(problems.Independent(checks));
        errors = all;
        return all.Count == 0;
    }

    /// <summary>
    /// Validates options built in code or bound from configuration. Whether every cluster has endpoints is checked when
    /// the proxy starts, once the endpoint sources registered in code are known.
    /// </summary>
    /// <param name="options">The options.</param>
    /// <param name="prefix">The configuration path to name keys by, <c>Proxy</c> by default.</param>
    /// <exception cref="ProxyConfigurationException">The options are invalid; the message names every bad key.</exception>
    public static void Validate(ProxyOptions options, string prefix = SectionName)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = ProxyOptionsValidation.GetErrors(options, prefix);
        if (errors.Count > 0)
        {
            throw new ProxyConfigurationException(errors);
        }
    }
}
