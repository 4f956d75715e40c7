using System.Reflection;
using System.Xml.Linq;

namespace Packaging.Tests.Support;

/// <summary>
/// Every project under src/ packed once into a fresh local folder, and a fresh consumer project built against the
/// packed LoadBalancing and LoadBalancing.Proxy from that folder. Shared by the tests of one class.
/// </summary>
public sealed class PackedPackages : IAsyncLifetime
{
    private static readonly TimeSpan PackTimeout = TimeSpan.FromMinutes(3);
    private static readonly TimeSpan ConsumerBuildTimeout = TimeSpan.FromMinutes(4);

    private Task<string>? _consumer;

    public string RepositoryRoot { get; } = FindRepositoryRoot();

    /// <summary>A temporary folder of our own, deleted at the end.</summary>
    public string WorkRoot { get; } = Path.Combine(Path.GetTempPath(), $"lb-packaging-{Guid.NewGuid():N}");

    /// <summary>The local package source the packs went to.</summary>
    public string Feed => Path.Combine(WorkRoot, "feed");

    /// <summary>
    /// A version no earlier run can have left in a NuGet cache, so the consumer can only restore these packs.
    /// MinVer takes it as an override, the same way a release takes its version from the tag.
    /// </summary>
    public string Version { get; } = $"0.0.0-packagingtest.{DateTime.UtcNow:yyyyMMddHHmmss}.{Environment.ProcessId}";

    /// <summary>The package projects: every folder under src/ holding a project of its own name.</summary>
    public IReadOnlyList<string> Projects { get; private set; } = [];

    /// <summary>LoadBalancingRepositoryUrl from src/Directory.Build.props.</summary>
    public string RepositoryUrl { get; private set; } = "";

    public ProcessRun Pack { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        var src = Path.Combine(RepositoryRoot, "src");
        Projects = [.. Directory.GetDirectories(src)
            .Where(d => File.Exists(Path.Combine(d, Path.GetFileName(d) + ".csproj")))
            .Select(Path.GetFileName)
            .Order(StringComparer.Ordinal)!];
        RepositoryUrl = XDocument.Load(Path.Combine(src, "Directory.Build.props"))
            .Descendants("LoadBalancingRepositoryUrl").Single().Value.Trim();

        Directory.CreateDirectory(WorkRoot);
        // One solution of the package projects, so one "dotnet pack" evaluates them as one graph.
        var solution = Path.Combine(WorkRoot, "packages.slnx");
        await File.WriteAllLinesAsync(solution,
        [
            "<Solution>",
            .. Projects.Select(p => $"  <Project Path=\"{Path.GetRelativePath(WorkRoot, Path.Combine(src, p, p + ".csproj"))}\" />"),
            "</Solution>",
        ]);

        // This test project references every package project, so they are built, in this configuration: pack those builds.
        Pack = await Dotnet.RunAsync(WorkRoot, PackTimeout,
            "pack", solution, "--no-build", "-c", Configuration, "-o", Feed, $"-p:MinVerVersionOverride={Version}", "-nodeReuse:false");
    }

    /// <summary>The consumer's assembly, restored from <see cref="Feed"/> and built on first use.</summary>
    public Task<string> ConsumerAsync() => _consumer ??= BuildConsumerAsync();

    public ValueTask DisposeAsync()
    {
        try
        {
            Directory.Delete(WorkRoot, recursive: true);
        }
        catch (IOException)
        {
            // A file still held open is left to the temp folder's own clean-up.
        }
        catch (UnauthorizedAccessException)
        {
        }

        return ValueTask.CompletedTask;
    }

    public string PackagesFolder => Path.Combine(WorkRoot, "consumer-packages");

    private static string Configuration =>
        typeof(PackedPackages).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .Single(a => a.Key == "PackagingTests.Configuration").Value!;

    private async Task<string> BuildConsumerAsync()
    {
        Pack.EnsureSuccess();
        var consumer = Path.Combine(WorkRoot, "consumer");
        Directory.CreateDirectory(consumer);
        File.Copy(Path.Combine(AppContext.BaseDirectory, "Consumer", "Program.cs"), Path.Combine(consumer, "Program.cs"));
        File.Copy(Path.Combine(RepositoryRoot, "global.json"), Path.Combine(consumer, "global.json"));
        // Stops MSBuild's walk up the folders: nothing from the temp folder's parents joins the build.
        foreach (var name in new[] { "Directory.Build.props", "Directory.Build.targets", "Directory.Packages.props" })
        {
            await File.WriteAllTextAsync(Path.Combine(consumer, name), "<Project />\n");
        }

        await File.WriteAllTextAsync(Path.Combine(consumer, "Consumer.csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk.Web">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <Nullable>enable</Nullable>
                <ImplicitUsings>enable</ImplicitUsings>
                <TreatWarningsAsErrors>true</TreatWarningsAsErrors>
              </PropertyGroup>
              <ItemGroup>
                <PackageReference Include="LoadBalancing" Version="[{Version}]" />
                <PackageReference Include="LoadBalancing.Proxy" Version="[{Version}]" />
              </ItemGroup>
            </Project>
            """);

        // Packages land in a folder of this run's own. Dependencies come from the machine's NuGet cache when it has
        // them (a fallback folder, read only), else from nuget.org, the source this repository restores from.
        var machineCache = Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } configured
            ? configured
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        await File.WriteAllTextAsync(Path.Combine(consumer, "nuget.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <config>
                <add key="globalPackagesFolder" value="{PackagesFolder}" />
              </config>
              <fallbackPackageFolders>
                <clear />
                {(Directory.Exists(machineCache) ? $"<add key=\"machine\" value=\"{machineCache}\" />" : "")}
              </fallbackPackageFolders>
              <packageSources>
                <clear />
                <add key="packed" value="{Feed}" />
                <add key="nuget.org" value="https://api.nuget.org/v3/index.json" />
              </packageSources>
            </configuration>
            """);

        (await Dotnet.RunAsync(consumer, ConsumerBuildTimeout, "build", "-c", "Release", "--disable-build-servers", "-nodeReuse:false")).EnsureSuccess();
        var assembly = Path.Combine(consumer, "bin", "Release", "net10.0", "Consumer.dll");
        Assert.True(File.Exists(assembly), $"{assembly} was not built");
        return assembly;
    }

    private static string FindRepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "LoadBalancing.sln")))
            {
                return directory.FullName;
            }
        }

        throw new DirectoryNotFoundException($"LoadBalancing.sln not found above {AppContext.BaseDirectory}");
    }
}
