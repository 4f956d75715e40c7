using Docs.Tests.Snippets;

namespace Docs.Tests;

/// <summary>
/// Every C# block of README.md, docs/*.md and the package READMEs (src/*/README.md) compiles against the packages of
/// this repository, so the documents cannot
/// drift from the API. The convention a block is compiled under is <see cref="SnippetCompiler"/>'s.
/// </summary>
public sealed class DocSnippetTests
{
    [Fact]
    public void EveryCSharpSnippet_InTheReadmeDocsAndPackageReadmes_Compiles()
    {
        var root = RepositoryRoot();
        var packageReadmes = Directory.GetDirectories(Path.Combine(root, "src"))
            .Select(project => Path.Combine(project, "README.md"))
            .Where(File.Exists)
            .Order(StringComparer.Ordinal);
        var documents = new[] { Path.Combine(root, "README.md") }
            .Concat(Directory.GetFiles(Path.Combine(root, "docs"), "*.md").Order(StringComparer.Ordinal))
            .Concat(packageReadmes);
        var snippets = documents
            .SelectMany(path => MarkdownSnippets.Find(Path.GetRelativePath(root, path).Replace('\\', '/'), File.ReadAllText(path)))
            .ToList();

        var errors = SnippetCompiler.Compile(snippets);

        Assert.True(snippets.Count(s => s.Skip is null && s.File.StartsWith("src/", StringComparison.Ordinal)) >= 8, "expected the package READMEs' C# blocks");
        Assert.True(snippets.Count(s => s.Skip is null) >= 8, $"expected the documents' C# blocks, found {snippets.Count}");
        Assert.All(snippets.Where(s => s.Skip is not null), s => Assert.False(string.IsNullOrWhiteSpace(s.Skip), $"{s.File}:{s.Line}: a skipped snippet says why"));
        Assert.True(errors.Count == 0, "Snippets that do not compile:\n" + string.Join('\n', errors));
    }

    [Fact]
    public void ABrokenSnippet_IsReportedAtItsFileAndLine()
    {
        const string Markdown = "# Title\n\n```csharp\nusing LoadBalancing;\n\nvar source = new EndpointSource(\"web\");\nsource.Publish(undefinedEndpoints);\n```\n";

        var errors = SnippetCompiler.Compile(MarkdownSnippets.Find("docs/sample.md", Markdown));

        Assert.Equal("docs/sample.md:7: CS0103: The name 'undefinedEndpoints' does not exist in the current context", Assert.Single(errors));
    }

    [Fact]
    public void AMarkedSnippet_IsNotCompiled_AndTheHarnessVariablesGiveWayToTheSnippets()
    {
        const string Markdown = "<!-- snippet: skip: needs a package we do not use -->\n```csharp\nthis does not compile\n```\n\n```csharp\nvar builder = WebApplication.CreateBuilder(args);\nvar app = builder.Build();\nservices.AddRouting();\n```\n";

        var snippets = MarkdownSnippets.Find("docs/sample.md", Markdown);

        Assert.Equal(["needs a package we do not use", null], snippets.Select(s => s.Skip));
        Assert.Empty(SnippetCompiler.Compile(snippets));
    }

    private static string RepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "LoadBalancing.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException("LoadBalancing.sln not found above " + AppContext.BaseDirectory);
    }
}
