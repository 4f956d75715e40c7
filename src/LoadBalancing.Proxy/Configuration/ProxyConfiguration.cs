using Microsoft.Extensions.Configuration;

namespace LoadBalancing.Proxy;

/// <summary>Reads and validates <see cref="ProxyOptions"/> from configuration.</summary>
public static class ProxyConfiguration
{
    /// <summary>The conventional configuration section name.</summary>
    public const string SectionName = "Proxy";

    /// <summary>
    /// Binds <paramref name="section"/> to <see cref="ProxyOptions"/>, rejecting unknown keys and values that do
    /// not convert, then validates the result.
    /// </summary>
    /// <param name="section">The <c>Proxy</c> section.</param>
    /// <returns>The validated options.</returns>
    /// <exception cref="ProxyConfigurationException">The configuration is invalid; the message names every bad key.</exception>
    public static ProxyOptions Load(IConfiguration section)
    {
        ArgumentNullException.ThrowIfNull(section);
        var options = new ProxyOptions();
        try
        {
            section.Bind(options, binder => binder.ErrorOnUnknownConfiguration = true);
        }
        catch (InvalidOperationException e)
        {
            // The binder's messages name the key ("...at 'Proxy:Clusters:a:MaxAttempts' to type 'System.Int32'"),
            // and, for unknown keys, the key and the type it was bound to.
            var detail = e.InnerException is { } inner ? $"{e.Message} ({inner.Message})" : e.Message;
            throw new ProxyConfigurationException([detail]);
        }

        Validate(options, section is IConfigurationSection s ? s.Path : SectionName);
        return options;
    }

    /// <summary>Validates options built in code or bound from configuration.</summary>
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
