using System.Text.RegularExpressions;

namespace Docs.Tests.Snippets;

/// <summary>One <c>```csharp</c> block of a document: where it is, and its code.</summary>
/// <param name="File">The document's path as reported (relative to the repository).</param>
/// <param name="Line">The 1-based line of the block's first code line.</param>
/// <param name="Code">The code between the fences.</param>
/// <param name="Skip">Why the block is not compiled (the marker's reason), or null when it is.</param>
internal sealed record Snippet(string File, int Line, string Code, string? Skip);

/// <summary>Finds the C# blocks of Markdown documents.</summary>
internal static partial class MarkdownSnippets
{
    /// <summary>The blocks fenced with <c>```csharp</c> (or <c>```cs</c>, <c>```c#</c>) in <paramref name="markdown"/>.</summary>
    public static List<Snippet> Find(string file, string markdown)
    {
        var lines = markdown.ReplaceLineEndings("\n").Split('\n');
        var snippets = new List<Snippet>();
        for (var i = 0; i < lines.Length; i++)
        {
            if (!IsCSharpFence(lines[i]))
            {
                continue;
            }

            var start = i + 1;
            var end = start;
            while (end < lines.Length && !lines[end].TrimStart().StartsWith("```", StringComparison.Ordinal))
            {
                end++;
            }

            snippets.Add(new Snippet(file, start + 1, string.Join('\n', lines[start..end]), SkipReason(lines, i)));
            i = end;
        }

        return snippets;
    }

    private static bool IsCSharpFence(string line)
    {
        var fence = line.Trim();
        return fence is "```csharp" or "```cs" or "```c#" or "```C#";
    }

    /// <summary>The reason of a <c>&lt;!-- snippet: skip: reason --&gt;</c> marker on the last non-blank line before the fence.</summary>
    private static string? SkipReason(string[] lines, int fence)
    {
        for (var i = fence - 1; i >= 0; i--)
        {
            if (string.IsNullOrWhiteSpace(lines[i]))
            {
                continue;
            }

            var match = SkipMarker().Match(lines[i]);
            return match.Success ? match.Groups["reason"].Value.Trim() : null;
        }

        return null;
    }

    [GeneratedRegex(@"^\s*<!--\s*snippet:\s*skip\b:?(?<reason>.*?)-->\s*$")]
    private static partial Regex SkipMarker();
}
