using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace Docs.Tests.Snippets;

/// <summary>
/// Compiles every snippet in one Roslyn compilation against the assemblies this test runs with (the runtime, ASP.NET
/// Core and every package of this repository, with YARP and grpc-dotnet), and reports each error at its document's
/// file and line.
/// </summary>
/// <remarks>
/// The convention a snippet is compiled under, kept to what a <c>Program.cs</c> of <c>dotnet new web</c> has at hand:
/// <list type="number">
/// <item>The snippet is the body of an <c>async Task</c> method, so it may <c>await</c>; the <c>using</c> directives it
/// starts with become its file's. Declarations other than statements and local functions (a class) do not fit.</item>
/// <item>In scope: the web SDK's implicit usings, and these variables unless the snippet declares one itself
/// (<c>var builder = …</c>): <c>string[] args</c>, <c>WebApplicationBuilder builder</c>, <c>WebApplication app</c>,
/// <c>IServiceCollection services</c>, <c>IConfiguration configuration</c>. Anything else a snippet uses (a namespace
/// of ours, a user id) it declares.</item>
/// <item>A block that cannot compile this way (it needs a package the repository does not use) is marked on the line
/// before its fence with <c>&lt;!-- snippet: skip: why --&gt;</c>, and is not compiled.</item>
/// </list>
/// Warnings are ignored (a snippet's unused variable is fine); errors fail.
/// </remarks>
internal static partial class SnippetCompiler
{
    /// <summary>Microsoft.NET.Sdk.Web's implicit usings (with those of Microsoft.NET.Sdk, which it includes).</summary>
    private static readonly string[] ImplicitUsings =
    [
        "System", "System.Collections.Generic", "System.IO", "System.Linq", "System.Net.Http", "System.Net.Http.Json",
        "System.Threading", "System.Threading.Tasks", "Microsoft.AspNetCore.Builder", "Microsoft.AspNetCore.Hosting",
        "Microsoft.AspNetCore.Http", "Microsoft.AspNetCore.Routing", "Microsoft.Extensions.Configuration",
        "Microsoft.Extensions.DependencyInjection", "Microsoft.Extensions.Hosting", "Microsoft.Extensions.Logging",
    ];

    private static readonly (string Type, string Name)[] Variables =
    [
        ("string[]", "args"),
        ("WebApplicationBuilder", "builder"),
        ("WebApplication", "app"),
        ("IServiceCollection", "services"),
        ("IConfiguration", "configuration"),
    ];

    private static readonly Lazy<MetadataReference[]> References = new(LoadReferences);

    /// <summary>Compiles the snippets not marked skip; returns one line per error, <c>file:line: id: message</c>.</summary>
    public static List<string> Compile(IReadOnlyList<Snippet> snippets)
    {
        var parse = new CSharpParseOptions(LanguageVersion.Latest);
        var trees = new List<SyntaxTree>
        {
            CSharpSyntaxTree.ParseText(string.Concat(ImplicitUsings.Select(u => $"global using global::{u};\n")), parse, "ImplicitUsings.g.cs"),
        };
        for (var i = 0; i < snippets.Count; i++)
        {
            if (snippets[i].Skip is null)
            {
                trees.Add(CSharpSyntaxTree.ParseText(Wrap(snippets[i], i), parse, $"Snippet{i}.g.cs"));
            }
        }

        var compilation = CSharpCompilation.Create(
            "DocSnippets",
            trees,
            References.Value,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable));
        return
        [
            .. compilation.GetDiagnostics()
                .Where(d => d.Severity == DiagnosticSeverity.Error)
                .Select(d =>
                {
                    var span = d.Location.GetMappedLineSpan();
                    return $"{span.Path}:{span.StartLinePosition.Line + 1}: {d.Id}: {d.GetMessage(CultureInfo.InvariantCulture)}";
                })
                .Distinct(),
        ];
    }

    /// <summary>The snippet as a method of its own class, with <c>#line</c> directives mapping it back to the document.</summary>
    internal static string Wrap(Snippet snippet, int index)
    {
        var lines = snippet.Code.Split('\n');
        var code = new StringBuilder();
        var body = 0;
        while (body < lines.Length && (UsingDirective().IsMatch(lines[body]) || string.IsNullOrWhiteSpace(lines[body])))
        {
            if (!string.IsNullOrWhiteSpace(lines[body]))
            {
                code.Append(CultureInfo.InvariantCulture, $"#line {snippet.Line + body} \"{snippet.File}\"\n").Append(lines[body]).Append('\n');
            }

            body++;
        }

        var statements = string.Join('\n', lines[body..]);
        var parameters = string.Join(", ", Variables.Where(v => !Regex.IsMatch(statements, $@"\bvar\s+{v.Name}\b")).Select(v => $"{v.Type} {v.Name}"));
        code.Append("#line default\n")
            .Append(CultureInfo.InvariantCulture, $"internal static class Snippet{index}\n{{\n")
            .Append(CultureInfo.InvariantCulture, $"    public static async Task RunAsync({parameters})\n    {{\n")
            .Append(CultureInfo.InvariantCulture, $"#line {snippet.Line + body} \"{snippet.File}\"\n")
            .Append(statements).Append('\n')
            .Append("#line default\n")
            .Append("        await Task.CompletedTask;\n    }\n}\n");
        return code.ToString();
    }

    private static MetadataReference[] LoadReferences()
    {
        var paths = ((string?)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries);
        return [.. paths.Where(p => p.EndsWith(".dll", StringComparison.OrdinalIgnoreCase)).Select(p => MetadataReference.CreateFromFile(p))];
    }

    [GeneratedRegex(@"^\s*using\s+(static\s+)?(\w+\s*=\s*)?[\w.]+\s*;\s*(//.*)?$")]
    private static partial Regex UsingDirective();
}
