using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Primitives;

namespace LoadBalancing.Proxy.Kubernetes;

/// <summary>
/// A configuration section seen with only some of its keys: the <c>Kubernetes</c> section holds both discovery's keys
/// and the controller's, and each reader reports keys it does not know as errors.
/// </summary>
internal sealed class FilteredSection(IConfiguration inner, string path, Func<string, bool> keep) : IConfigurationSection
{
    public string? this[string key]
    {
        get => inner[key];
        set => inner[key] = value;
    }

    public string Key => inner is IConfigurationSection s ? s.Key : path;

    public string Path => inner is IConfigurationSection s ? s.Path : path;

    public string? Value
    {
        get => inner is IConfigurationSection s ? s.Value : null;
        set => throw new NotSupportedException();
    }

    public IEnumerable<IConfigurationSection> GetChildren() => inner.GetChildren().Where(c => keep(c.Key));

    public IChangeToken GetReloadToken() => inner.GetReloadToken();

    public IConfigurationSection GetSection(string key) => inner.GetSection(key);
}
