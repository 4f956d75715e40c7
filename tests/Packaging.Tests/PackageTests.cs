using System.IO.Compression;
using System.Text;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using Packaging.Tests.Support;

namespace Packaging.Tests;

/// <summary>The packages as a user gets them: packed from src/, restored from a folder into a fresh project, run.</summary>
public sealed partial class PackageTests(PackedPackages packages) : IClassFixture<PackedPackages>
{
    private static readonly TimeSpan RunTimeout = TimeSpan.FromSeconds(60);

    [Fact]
    public void Pack_EverySourceProject_OnePackageAndSymbolsPackageWithoutWarnings()
    {
        var run = packages.Pack.EnsureSuccess();

        Assert.NotEmpty(packages.Projects);
        Assert.Contains("LoadBalancing", packages.Projects);
        Assert.Contains("LoadBalancing.Proxy", packages.Projects);
        Assert.Equal(packages.Projects.Select(p => $"{p}.{packages.Version}.nupkg"), PackageFiles("*.nupkg"));
        Assert.Equal(packages.Projects.Select(p => $"{p}.{packages.Version}.snupkg"), PackageFiles("*.snupkg"));
        Assert.DoesNotMatch(WarningLine(), run.Output + run.Error);
    }

    [Fact]
    public async Task Packages_CarryReadmeIconXmlDocsLicenceAndRepositoryCommit()
    {
        packages.Pack.EnsureSuccess();
        var commit = await HeadCommitAsync();

        foreach (var project in packages.Projects)
        {
            using var package = ZipFile.OpenRead(Path.Combine(packages.Feed, $"{project}.{packages.Version}.nupkg"));
            var entries = package.Entries.Select(e => e.FullName).ToList();
            var metadata = Nuspec(package, project);
            string Field(string name) => metadata.Elements().SingleOrDefault(e => e.Name.LocalName == name)?.Value.Trim() ?? "";

            Assert.Equal(project, Field("id"));
            Assert.Equal(packages.Version, Field("version"));
            Assert.True(Field("description").Length >= 40, $"{project}: the description is missing or too short");
            Assert.Equal("LoadBalancing contributors", Field("authors"));
            Assert.Contains("load-balancer", Field("tags").Split(' '));

            Assert.Equal("README.md", Field("readme"));
            Assert.Contains("README.md", entries);
            Assert.StartsWith($"# {project}", ReadEntry(package, "README.md"), StringComparison.Ordinal);

            Assert.Equal("icon.png", Field("icon"));
            Assert.Contains("icon.png", entries);

            var license = metadata.Elements().Single(e => e.Name.LocalName == "license");
            Assert.Equal("expression", license.Attribute("type")?.Value);
            Assert.Equal("MIT", license.Value);

            Assert.Equal(packages.RepositoryUrl, Field("projectUrl"));
            Assert.Contains($"{packages.RepositoryUrl}/blob/main/CHANGELOG.md", Field("releaseNotes"), StringComparison.Ordinal);
            var repository = metadata.Elements().Single(e => e.Name.LocalName == "repository");
            Assert.Equal("git", repository.Attribute("type")?.Value);
            Assert.Equal(packages.RepositoryUrl, repository.Attribute("url")?.Value);
            Assert.Equal(commit, repository.Attribute("commit")?.Value);

            // The XML documentation next to the assembly (lib/ for a library, tools/ for the kubectl tool).
            var assembly = Assert.Single(entries, e => e.EndsWith($"/{project}.dll", StringComparison.Ordinal));
            var docs = assembly[..^".dll".Length] + ".xml";
            Assert.Contains(docs, entries);
            var documented = XDocument.Parse(ReadEntry(package, docs));
            Assert.Equal(project, documented.Root?.Element("assembly")?.Element("name")?.Value);
            Assert.NotEmpty(documented.Descendants("member"));

            // SourceLink: the symbols map the sources to this commit's files on the repository.
            using var symbols = ZipFile.OpenRead(Path.Combine(packages.Feed, $"{project}.{packages.Version}.snupkg"));
            var pdb = Assert.Single(symbols.Entries, e => e.FullName.EndsWith($"/{project}.pdb", StringComparison.Ordinal));
            using var pdbBytes = new MemoryStream();
            using (var pdbStream = pdb.Open())
            {
                await pdbStream.CopyToAsync(pdbBytes, TestContext.Current.CancellationToken);
            }

            var rawContent = packages.RepositoryUrl.Replace("https://github.com/", "https://raw.githubusercontent.com/", StringComparison.Ordinal);
            Assert.True(
                pdbBytes.ToArray().AsSpan().IndexOf(Encoding.UTF8.GetBytes($"\"{rawContent}/{commit}/*\"")) >= 0,
                $"{project}.pdb has no SourceLink entry for {rawContent}/{commit}/*");

            // Build-only references (versioning, API tracking) are no dependency of the package.
            var dependencies = metadata.Descendants().Where(e => e.Name.LocalName == "dependency").Select(e => e.Attribute("id")?.Value).ToList();
            Assert.DoesNotContain("MinVer", dependencies);
            Assert.DoesNotContain("Microsoft.CodeAnalysis.PublicApiAnalyzers", dependencies);
        }
    }

    [Fact]
    public async Task Balancer_FromPackedPackage_PicksEachEndpointByWeight()
    {
        var consumer = await packages.ConsumerAsync();

        var run = (await Dotnet.RunAsync(Path.GetDirectoryName(consumer)!, RunTimeout, consumer, "balancer")).EnsureSuccess();

        Assert.Equal("picks: Picked 10.0.0.7:8080, Picked 10.0.0.8:8080, Picked 10.0.0.8:8080", run.Output.Trim());
    }

    [Fact]
    public async Task Proxy_FromPackedPackage_ForwardsARequestToItsBackend()
    {
        var consumer = await packages.ConsumerAsync();

        var run = (await Dotnet.RunAsync(Path.GetDirectoryName(consumer)!, RunTimeout, consumer, "proxy")).EnsureSuccess();

        Assert.Equal(["proxied: 200 backend answered /hello", "readyz: ready"], run.Output.Trim().Split('\n').Select(l => l.Trim()));
    }

    [Fact]
    public async Task Consumer_RestoresOurPackagesFromTheLocalFolder()
    {
        await packages.ConsumerAsync();

        // Extracted into this run's own packages folder from the feed, never found in a cache.
        foreach (var id in new[] { "loadbalancing", "loadbalancing.proxy" })
        {
            var metadata = Path.Combine(packages.PackagesFolder, id, packages.Version, ".nupkg.metadata");
            Assert.True(File.Exists(metadata), $"{metadata} is missing: {id} did not come from the packed folder");
            Assert.Contains(packages.Feed, await File.ReadAllTextAsync(metadata, TestContext.Current.CancellationToken), StringComparison.Ordinal);
        }
    }

    [Fact]
    public void PackageReadmes_LinkTheDocsOnTheRepository()
    {
        var links = 0;
        foreach (var project in packages.Projects)
        {
            var readme = File.ReadAllText(Path.Combine(packages.RepositoryRoot, "src", project, "README.md"));

            // nuget.org shows the README without the repository around it: relative links and "see docs/... in the
            // repository" lead nowhere there.
            Assert.DoesNotContain("in the repository", readme, StringComparison.Ordinal);
            Assert.DoesNotMatch(RelativeLink(), readme);
            foreach (Match link in RepositoryLink().Matches(readme))
            {
                links++;
                Assert.Equal(packages.RepositoryUrl, link.Groups["repository"].Value);
                var file = Path.Combine(packages.RepositoryRoot, link.Groups["path"].Value);
                Assert.True(File.Exists(file), $"{project}/README.md links {link.Value}, but {file} does not exist");
            }
        }

        Assert.True(links >= packages.Projects.Count - 1, $"only {links} links to the repository's docs in the package READMEs");
    }

    private IEnumerable<string> PackageFiles(string pattern) =>
        Directory.GetFiles(packages.Feed, pattern).Select(Path.GetFileName).Order(StringComparer.Ordinal)!;

    private static XElement Nuspec(ZipArchive package, string project) =>
        XDocument.Parse(ReadEntry(package, $"{project}.nuspec")).Root!.Elements().Single(e => e.Name.LocalName == "metadata");

    private static string ReadEntry(ZipArchive package, string name)
    {
        using var reader = new StreamReader(package.GetEntry(name)!.Open());
        return reader.ReadToEnd();
    }

    private async Task<string> HeadCommitAsync()
    {
        var run = (await Dotnet.RunProcessAsync("git", packages.RepositoryRoot, TimeSpan.FromSeconds(30), "rev-parse", "HEAD")).EnsureSuccess();
        var commit = run.Output.Trim();
        Assert.Matches("^[0-9a-f]{40}$", commit);
        return commit;
    }

    [GeneratedRegex(@"\bwarning\b\s*[A-Z]*[0-9]*\s*:", RegexOptions.IgnoreCase)]
    private static partial Regex WarningLine();

    [GeneratedRegex(@"\]\((?!https?://|#)[^)]*\)")]
    private static partial Regex RelativeLink();

    [GeneratedRegex(@"(?<repository>https://github\.com/[^/\s)]+/[^/\s)]+)/blob/main/(?<path>[^)#\s]+)")]
    private static partial Regex RepositoryLink();
}
