using System.Reflection;
using System.Runtime.InteropServices;

namespace ProxyHost.Tests;

/// <summary>
/// No public type of our packages has the name of a type in a namespace the web SDK imports implicitly: an ASP.NET Core
/// application that imports ours too would get an ambiguous reference (CS0104) for it.
/// </summary>
public sealed class PublicNamesTests
{
    // Microsoft.NET.Sdk.Web's implicit usings (and those of Microsoft.NET.Sdk, which it includes).
    private static readonly string[] ImplicitNamespaces =
    [
        "System", "System.Collections.Generic", "System.IO", "System.Linq", "System.Net.Http", "System.Net.Http.Json",
        "System.Threading", "System.Threading.Tasks", "Microsoft.AspNetCore.Builder", "Microsoft.AspNetCore.Hosting",
        "Microsoft.AspNetCore.Http", "Microsoft.AspNetCore.Routing", "Microsoft.Extensions.Configuration",
        "Microsoft.Extensions.DependencyInjection", "Microsoft.Extensions.Hosting", "Microsoft.Extensions.Logging",
    ];

    private static readonly string[] OurAssemblies = ["LoadBalancing", "LoadBalancing.Proxy", "LoadBalancing.Kubernetes", "LoadBalancing.Proxy.Kubernetes"];

    [Fact]
    public void NoPublicTypeName_ClashesWithTheWebSdksImplicitUsings()
    {
        var taken = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var directory in new[] { RuntimeEnvironment.GetRuntimeDirectory(), SharedFramework("Microsoft.AspNetCore.App") })
        {
            foreach (var file in Directory.GetFiles(directory, "*.dll"))
            {
                foreach (var type in ExportedTypes(file))
                {
                    if (type.Namespace is { } ns && ImplicitNamespaces.Contains(ns))
                    {
                        taken.TryAdd(type.Name, type.FullName!);
                    }
                }
            }
        }

        Assert.True(taken.ContainsKey("HttpContext") && taken.ContainsKey("Task`1"), "the framework's types were not found");
        var clashes = OurAssemblies
            .SelectMany(name => Assembly.Load(name).GetExportedTypes())
            .Where(type => !ImplicitNamespaces.Contains(type.Namespace) && taken.ContainsKey(type.Name))
            .Select(type => $"{type.FullName} clashes with {taken[type.Name]}")
            .ToArray();

        Assert.Empty(clashes);
    }

    private static string SharedFramework(string name)
    {
        // .../shared/Microsoft.NETCore.App/10.0.x → .../shared/Microsoft.AspNetCore.App/10.0.y (the one this process loaded).
        var loaded = typeof(Microsoft.AspNetCore.Http.HttpContext).Assembly.Location;
        return Path.GetDirectoryName(loaded) is { } directory && directory.Contains(name, StringComparison.Ordinal)
            ? directory
            : throw new InvalidOperationException($"{name} is not loaded from a shared framework directory ({loaded}).");
    }

    private static Type[] ExportedTypes(string file)
    {
        Assembly assembly;
        try
        {
            // By name, so the framework's own copy (already loaded or loadable) answers.
            assembly = Assembly.Load(AssemblyName.GetAssemblyName(file));
        }
        catch (Exception e) when (e is BadImageFormatException or FileLoadException or FileNotFoundException)
        {
            return []; // native libraries in the same directory
        }

        try
        {
            return assembly.GetExportedTypes();
        }
        catch (Exception e) when (e is ReflectionTypeLoadException or NotSupportedException or FileNotFoundException)
        {
            return [];
        }
    }
}
