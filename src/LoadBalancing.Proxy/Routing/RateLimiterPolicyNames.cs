using System.Collections;
using System.Diagnostics.CodeAnalysis;
using System.Reflection;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace LoadBalancing.Proxy.Routing;

/// <summary>
/// Which rate limiter policies the application has. ASP.NET Core keeps them in <see cref="RateLimiterOptions"/> without
/// listing them (dotnet/aspnetcore#45684), and its middleware answers 500 to a request whose endpoint names one it
/// lacks; read here so a route naming a missing policy is refused with its key path instead. The two maps are
/// non-public, so they are read by reflection: where a runtime has them under other names, there is no check (null),
/// as before it.
/// </summary>
internal static class RateLimiterPolicyNames
{
    // The policies added by instance (AddPolicy(name, policy)) and by type (AddPolicy<TKey, TPolicy>(name)).
    private static readonly string[] Maps = ["PolicyMap", "UnactivatedPolicyMap"];

    /// <summary>A test of a name against the application's policies, or null when they cannot be read.</summary>
    [DynamicDependency(DynamicallyAccessedMemberTypes.NonPublicProperties, typeof(RateLimiterOptions))]
    [UnconditionalSuppressMessage("Trimming", "IL2075", Justification = "The properties are kept by the DynamicDependency above; if absent anyway, no check.")]
    public static Func<string, bool>? Of(IServiceProvider services)
    {
        var options = services.GetService<IOptions<RateLimiterOptions>>()?.Value;
        if (options is null)
        {
            return null;
        }

        var maps = new List<IDictionary>(Maps.Length);
        foreach (var name in Maps)
        {
            if (typeof(RateLimiterOptions).GetProperty(name, BindingFlags.Instance | BindingFlags.NonPublic)?.GetValue(options) is not IDictionary map)
            {
                return null;
            }

            maps.Add(map);
        }

        return name => maps.Exists(map => map.Contains(name));
    }
}
