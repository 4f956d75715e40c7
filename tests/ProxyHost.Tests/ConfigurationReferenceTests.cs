using System.Reflection;
using System.Text.RegularExpressions;
using LoadBalancing.Kubernetes;
using LoadBalancing.Proxy;
using LoadBalancing.Proxy.Kubernetes;

namespace ProxyHost.Tests;

/// <summary>
/// docs/configuration.md names every key of the host's configuration, and nothing else: the key paths are walked from
/// the options types (public settable properties, nested option sections, lists and maps), so a property added
/// without documentation, or documentation left behind by a removed one, fails here.
/// </summary>
public sealed partial class ConfigurationReferenceTests
{
    /// <summary>The sections ProxyHost reads, and the options types bound from each.</summary>
    private static readonly (string Section, Type Type)[] Roots =
    [
        (ProxyConfiguration.SectionName, typeof(ProxyOptions)),
        (KubernetesDiscoveryOptionsValidation.SectionName, typeof(KubernetesDiscoveryOptions)),
        (KubernetesDiscoveryOptionsValidation.SectionName, typeof(KubernetesRoutingOptions)),
    ];

    /// <summary>Settable, but set by code rather than read from configuration.</summary>
    private static readonly HashSet<(Type, string)> NotKeys = [(typeof(ProxyRouteOptions), nameof(ProxyRouteOptions.Origin))];

    [Fact]
    public void EveryOptionsProperty_HasItsKeyPathInTheReference()
    {
        var documented = DocumentedKeys();

        var missing = ReflectedKeys().Where(key => !documented.Contains(key)).ToList();

        Assert.True(missing.Count == 0, $"docs/configuration.md does not document: {string.Join(", ", missing)}");
    }

    [Fact]
    public void EveryDocumentedKeyPath_IsAnOptionsProperty()
    {
        var reflected = ReflectedKeys();

        var unknown = DocumentedKeys().Where(key => !reflected.Contains(key)).ToList();

        Assert.True(unknown.Count == 0, $"docs/configuration.md documents keys no options type has: {string.Join(", ", unknown)}");
    }

    [Fact]
    public void TheWalk_ReachesNestedSectionsListsAndMaps()
    {
        var keys = ReflectedKeys();

        Assert.Contains("Proxy:Clusters:<name>:Endpoints:<n>:Address", keys);
        Assert.Contains("Proxy:Routes:<n>:RequestHeaders:Set:<n>:Value", keys);
        Assert.Contains("Proxy:Clusters:<name>:HealthCheck:InitialState", keys);
        Assert.Contains("Kubernetes:Services:<n>:Port", keys);
        Assert.Contains("Kubernetes:Gateway:ListenerPorts", keys);
        Assert.DoesNotContain("Kubernetes:AnyEnabled", keys);
        Assert.DoesNotContain("Proxy:Routes:<n>:Origin", keys);
    }

    [Fact]
    public void ProxyReloadOptions_EveryPropertyIsDocumented_AndNothingElse()
    {
        var properties = typeof(ProxyReloadOptions).GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Select(p => p.Name)
            .Order(StringComparer.Ordinal);

        var documented = ReloadProperty().Matches(Reference()).Select(m => m.Groups[1].Value).Distinct().Order(StringComparer.Ordinal);

        Assert.Equal(properties, documented);
    }

    private static SortedSet<string> ReflectedKeys()
    {
        var keys = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var (section, type) in Roots)
        {
            Walk(type, section, keys);
        }

        return keys;
    }

    private static void Walk(Type type, string prefix, SortedSet<string> keys)
    {
        foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            if (NotKeys.Contains((type, property.Name)))
            {
                continue;
            }

            var propertyType = Nullable.GetUnderlyingType(property.PropertyType) ?? property.PropertyType;
            var element = ElementType(propertyType, out var isMap);
            var isSection = element is null && IsOptionsType(propertyType);

            // Get-only sections and collections are filled in place; any other get-only property is computed.
            if (!property.CanWrite && !isSection && element is null)
            {
                continue;
            }

            var path = $"{prefix}:{property.Name}";
            keys.Add(path);
            if (isSection)
            {
                Walk(propertyType, path, keys);
            }
            else if (element is not null && IsOptionsType(element))
            {
                Walk(element, path + (isMap ? ":<name>" : ":<n>"), keys);
            }
        }
    }

    private static bool IsOptionsType(Type type) =>
        type.IsClass && type != typeof(string) && type.Namespace?.StartsWith("LoadBalancing", StringComparison.Ordinal) == true;

    /// <summary>The element type of a list, or the value type of a map keyed by name; null for anything else.</summary>
    private static Type? ElementType(Type type, out bool isMap)
    {
        isMap = false;
        if (type == typeof(string))
        {
            return null;
        }

        var interfaces = type.IsInterface ? type.GetInterfaces().Append(type) : type.GetInterfaces();
        foreach (var candidate in interfaces.Where(i => i.IsGenericType))
        {
            if (candidate.GetGenericTypeDefinition() == typeof(IDictionary<,>) && candidate.GetGenericArguments()[0] == typeof(string))
            {
                isMap = true;
                return candidate.GetGenericArguments()[1];
            }
        }

        return interfaces.FirstOrDefault(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IEnumerable<>))?.GetGenericArguments()[0];
    }

    /// <summary>Every key path in backticks; a trailing <c>:&lt;n&gt;</c> or <c>:&lt;name&gt;</c> (an item of a list or map) names its collection.</summary>
    private static SortedSet<string> DocumentedKeys()
    {
        var keys = new SortedSet<string>(StringComparer.Ordinal);
        foreach (Match match in KeyPath().Matches(Reference()))
        {
            keys.Add(TrailingItem().Replace(match.Groups[1].Value, ""));
        }

        Assert.True(keys.Count > 100, $"docs/configuration.md names only {keys.Count} key paths");
        return keys;
    }

    private static string Reference()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            var candidate = Path.Combine(directory.FullName, "docs", "configuration.md");
            if (File.Exists(candidate))
            {
                return File.ReadAllText(candidate);
            }
        }

        throw new InvalidOperationException($"no docs/configuration.md above {AppContext.BaseDirectory}");
    }

    [GeneratedRegex(@"`((?:Proxy|Kubernetes)(?::(?:[A-Z][A-Za-z]*|<n>|<name>))+)`")]
    private static partial Regex KeyPath();

    [GeneratedRegex(@"(?::(?:<n>|<name>))+$")]
    private static partial Regex TrailingItem();

    [GeneratedRegex(@"`ProxyReloadOptions\.([A-Za-z]+)`")]
    private static partial Regex ReloadProperty();
}
