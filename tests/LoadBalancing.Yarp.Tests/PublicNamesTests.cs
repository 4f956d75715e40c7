using System.Reflection;
using System.Runtime.InteropServices;

namespace LoadBalancing.Yarp.Tests;

/// <summary>
/// No public type of the packages (LoadBalancing.Yarp, LoadBalancing.Yarp.Kubernetes) has the name of a type in a namespace the web SDK imports implicitly, nor of a type in
/// YARP's public namespaces (an application imports both).
/// </summary>
public sealed class PublicNamesTests
{
    private static readonly string[] ImplicitNamespaces =
    [
        "System", "System.Collections.Generic", "System.IO", "System.Linq", "System.Net.Http", "System.Net.Http.Json",
        "System.Threading", "System.Threading.Tasks", "Microsoft.AspNetCore.Builder", "Microsoft.AspNetCore.Hosting",
        "Microsoft.AspNetCore.Http", "Microsoft.AspNetCore.Routing", "Microsoft.Extensions.Configuration",
        "Microsoft.Extensions.DependencyInjection", "Microsoft.Extensions.Hosting", "Microsoft.Extensions.Logging",
    ];

    [Fact]
    public void NoPublicTypeName_ClashesWithImplicitUsingsOrYarp()
    {
        var taken = new Dictionary<string, string>(StringComparer.Ordinal);
        var framework = Path.GetDirectoryName(typeof(Microsoft.AspNetCore.Http.HttpContext).Assembly.Location)!;
        foreach (var file in Directory.GetFiles(RuntimeEnvironment.GetRuntimeDirectory(), "*.dll").Concat(Directory.GetFiles(framework, "*.dll")))
        {
            foreach (var type in ExportedTypes(file))
            {
                if (type.Namespace is { } ns && ImplicitNamespaces.Contains(ns))
                {
                    taken.TryAdd(type.Name, type.FullName!);
                }
            }
        }

        foreach (var type in typeof(global::Yarp.ReverseProxy.LoadBalancing.ILoadBalancingPolicy).Assembly.GetExportedTypes())
        {
            taken.TryAdd(type.Name, type.FullName!);
        }

        Assert.True(taken.ContainsKey("HttpContext") && taken.ContainsKey("ClusterState"), "the framework's and YARP's types were not found");
        var clashes = typeof(LoadBalancingPolicyNames).Assembly.GetExportedTypes()
            .Concat(typeof(LoadBalancing.Yarp.Kubernetes.KubernetesDestinationAddress).Assembly.GetExportedTypes())
            .Where(type => !ImplicitNamespaces.Contains(type.Namespace) && taken.ContainsKey(type.Name))
            .Select(type => $"{type.FullName} clashes with {taken[type.Name]}")
            .ToArray();

        Assert.Empty(clashes);
    }

    private static Type[] ExportedTypes(string file)
    {
        try
        {
            return Assembly.Load(AssemblyName.GetAssemblyName(file)).GetExportedTypes();
        }
        catch (Exception e) when (e is BadImageFormatException or FileLoadException or FileNotFoundException or ReflectionTypeLoadException or NotSupportedException)
        {
            return [];
        }
    }
}
