using System.Text.Json.Nodes;

namespace LoadBalancing.Kubernetes.Tests.Support;

/// <summary>
/// A label selector (<c>key</c>, <c>!key</c>, <c>key=value</c>, <c>key==value</c>, <c>key!=value</c>, <c>key in (a,b)</c>,
/// <c>key notin (a,b)</c>, comma-separated and all required) and a field selector (<c>metadata.name</c> and
/// <c>metadata.namespace</c> with <c>=</c>, <c>==</c> or <c>!=</c>), as the API server reads them.
/// </summary>
internal sealed class ApiSelector
{
    private readonly List<Func<JsonObject, bool>> _requirements = [];

    public static ApiSelector Everything { get; } = new();

    public bool Matches(JsonObject obj) => _requirements.TrueForAll(r => r(obj));

    /// <summary>Reads both selectors; a selector the real server would refuse gives an error message instead.</summary>
    public static ApiSelector? TryParse(string? labels, string? fields, out string? error)
    {
        error = null;
        var selector = new ApiSelector();
        foreach (var requirement in Split(labels))
        {
            if (Label(requirement) is { } match)
            {
                selector._requirements.Add(match);
            }
            else
            {
                error = $"unable to parse requirement: {requirement}";
                return null;
            }
        }

        foreach (var requirement in Split(fields))
        {
            if (Field(requirement) is { } match)
            {
                selector._requirements.Add(match);
            }
            else
            {
                error = $"field label not supported: {requirement}";
                return null;
            }
        }

        return selector;
    }

    /// <summary>Splits on the commas outside parentheses.</summary>
    private static IEnumerable<string> Split(string? text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            yield break;
        }

        var depth = 0;
        var start = 0;
        for (var i = 0; i <= text.Length; i++)
        {
            if (i == text.Length || (text[i] == ',' && depth == 0))
            {
                yield return text[start..i].Trim();
                start = i + 1;
            }
            else if (text[i] == '(')
            {
                depth++;
            }
            else if (text[i] == ')')
            {
                depth--;
            }
        }
    }

    private static Func<JsonObject, bool>? Label(string text)
    {
        static string? Get(JsonObject o, string key) => o["metadata"]?["labels"]?[key]?.GetValue<string>();
        if (text.Length == 0)
        {
            return null;
        }

        foreach (var (op, negate) in new[] { (" notin ", true), (" in ", false) })
        {
            var at = text.IndexOf(op, StringComparison.Ordinal);
            if (at > 0)
            {
                var key = text[..at].Trim();
                var set = text[(at + op.Length)..].Trim();
                if (!set.StartsWith('(') || !set.EndsWith(')'))
                {
                    return null;
                }

                var values = set[1..^1].Split(',').Select(v => v.Trim()).ToHashSet(StringComparer.Ordinal);
                return negate
                    ? o => Get(o, key) is not { } v || !values.Contains(v)
                    : o => Get(o, key) is { } v && values.Contains(v);
            }
        }

        if (SplitOperator(text) is var (k, value, equal))
        {
            return equal ? o => Get(o, k) == value : o => Get(o, k) != value;
        }

        if (text.StartsWith('!'))
        {
            var key = text[1..].Trim();
            return o => Get(o, key) is null;
        }

        return text.Contains(' ', StringComparison.Ordinal) ? null : o => Get(o, text) is not null;
    }

    private static Func<JsonObject, bool>? Field(string text)
    {
        if (SplitOperator(text) is not var (key, value, equal))
        {
            return null;
        }

        Func<JsonObject, string?>? get = key switch
        {
            "metadata.name" => o => o["metadata"]?["name"]?.GetValue<string>(),
            "metadata.namespace" => o => o["metadata"]?["namespace"]?.GetValue<string>() ?? "",
            "type" => o => o["type"]?.GetValue<string>(), // Secrets
            _ => null,
        };
        return get is null ? null : equal ? o => get(o) == value : o => get(o) != value;
    }

    /// <summary><c>key!=value</c>, <c>key==value</c> or <c>key=value</c>.</summary>
    private static (string Key, string Value, bool Equal)? SplitOperator(string text)
    {
        foreach (var (op, equal) in new[] { ("!=", false), ("==", true), ("=", true) })
        {
            var at = text.IndexOf(op, StringComparison.Ordinal);
            if (at > 0)
            {
                return (text[..at].Trim(), text[(at + op.Length)..].Trim(), equal);
            }
        }

        return null;
    }
}
