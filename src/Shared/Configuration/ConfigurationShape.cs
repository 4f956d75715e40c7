using System.Globalization;
using Microsoft.Extensions.Configuration;

// Compiled into LoadBalancing.Proxy and LoadBalancing.Kubernetes (each keeps its own internal copy): the two packages
// must not reference each other, and the core package has no business with configuration.
namespace LoadBalancing.Configuration;

/// <summary>
/// Everything wrong with a configuration tree, each problem naming its full key path; and the keys that did not
/// bind, so that value checks do not report the default a failed key left behind.
/// </summary>
internal sealed class ConfigurationProblems
{
    private readonly List<string> _errors = [];
    private readonly HashSet<string> _unbound = new(StringComparer.OrdinalIgnoreCase);

    public IReadOnlyList<string> Errors => _errors;

    public void Add(string path, string problem)
    {
        _errors.Add($"{path}: {problem}");
        _unbound.Add(path);
    }

    /// <summary>Records a key whose value was not bound although no problem names it (a misspelt key's target).</summary>
    public void MarkUnbound(string path) => _unbound.Add(path);

    /// <summary>
    /// The value errors that are not a consequence of a key that failed to bind: errors about that key, about keys
    /// inside or around it, or about a sibling that mentions it by name ("must not be less than WatchTimeoutMin").
    /// Value errors start with the key they are about, as every validator here writes them.
    /// </summary>
    public IEnumerable<string> Independent(IEnumerable<string> valueErrors)
    {
        foreach (var error in valueErrors)
        {
            if (!DependsOnUnbound(error))
            {
                yield return error;
            }
        }
    }

    private bool DependsOnUnbound(string error)
    {
        if (_unbound.Count == 0)
        {
            return false;
        }

        var space = error.IndexOf(' ', StringComparison.Ordinal);
        var key = (space < 0 ? error : error[..space]).TrimEnd(':');
        var parent = Parent(key);
        foreach (var unbound in _unbound)
        {
            if (string.Equals(key, unbound, StringComparison.OrdinalIgnoreCase)
                || IsUnder(key, unbound)
                || IsUnder(unbound, key)
                || (string.Equals(parent, Parent(unbound), StringComparison.OrdinalIgnoreCase) && MentionsWord(error, Leaf(unbound))))
            {
                return true;
            }
        }

        return false;
    }

    private static bool IsUnder(string path, string ancestor) =>
        path.Length > ancestor.Length + 1 && path[ancestor.Length] == ':' && path.StartsWith(ancestor, StringComparison.OrdinalIgnoreCase);

    private static string Parent(string path) => path.LastIndexOf(':') is var colon and >= 0 ? path[..colon] : "";

    private static string Leaf(string path) => path[(path.LastIndexOf(':') + 1)..];

    private static bool MentionsWord(string text, string word)
    {
        for (var at = text.IndexOf(word, StringComparison.Ordinal); at >= 0; at = text.IndexOf(word, at + 1, StringComparison.Ordinal))
        {
            var end = at + word.Length;
            if ((at == 0 || !char.IsLetterOrDigit(text[at - 1])) && (end == text.Length || !char.IsLetterOrDigit(text[end])))
            {
                return true;
            }
        }

        return false;
    }
}

/// <summary>How one configuration value is written: what it converts to and how to say what is accepted.</summary>
internal sealed class ConfigurationValue<T>
{
    private readonly Parser _parse;
    private readonly Func<string, string?>? _hint;

    public ConfigurationValue(string expected, Parser parse, Func<string, string?>? hint = null)
    {
        Expected = expected;
        _parse = parse;
        _hint = hint;
    }

    public delegate bool Parser(string text, out T value);

    /// <summary>What is accepted, to follow "is not": "a whole number", "a duration (...)".</summary>
    public string Expected { get; }

    public bool TryParse(string text, out T value) => _parse(text, out value);

    public string? Hint(string text) => _hint?.Invoke(text);

    public bool TryRead(IConfigurationSection section, string path, ConfigurationProblems problems, out T value)
    {
        value = default!;
        if (ConfigurationShape.HasChildren(section))
        {
            problems.Add(path, $"expected {Expected}; got a section with keys {string.Join(", ", section.GetChildren().Select(c => c.Key))}.");
            return false;
        }

        // JSON null (and an empty JSON object) leave the default, as the binder does.
        if (section.Value is not { } text)
        {
            return false;
        }

        if (_parse(text, out value))
        {
            return true;
        }

        var hint = Hint(text);
        var message = hint is null ? $"'{text}' is not {Expected}" : $"'{text}' is not {Expected}; {hint}";
        problems.Add(path, message.EndsWith('?') ? message : message + ".");
        return false;
    }
}

/// <summary>The value kinds options use, parsed as the configuration binder parses them (invariant culture).</summary>
internal static class ConfigurationValues
{
    public static readonly ConfigurationValue<string> Text = new("text", static (string text, out string value) =>
    {
        value = text;
        return true;
    });

    public static readonly ConfigurationValue<string?> OptionalText = new("text", static (string text, out string? value) =>
    {
        value = text;
        return true;
    });

    public static readonly ConfigurationValue<int> WholeNumber = new("a whole number", static (string text, out int value) =>
        int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out value));

    public static readonly ConfigurationValue<long> LongNumber = new("a whole number", static (string text, out long value) =>
        long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out value));

    public static readonly ConfigurationValue<double> Number = new("a number (such as 1.25)", static (string text, out double value) =>
        double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out value));

    public static readonly ConfigurationValue<bool> Flag = new("true or false", static (string text, out bool value) =>
        bool.TryParse(text, out value));

    public static readonly ConfigurationValue<TimeSpan> Duration = new(
        "a duration as [d.]hh:mm:ss[.fff] (00:00:02 is 2 seconds)",
        static (string text, out TimeSpan value) => TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out value),
        DurationHint);

    /// <summary>An enum by name (case-insensitive); numbers are refused, so a value outside the enum cannot get in.</summary>
    /// <param name="what">What the value is, to follow "is not": "a balancing algorithm".</param>
    public static ConfigurationValue<TEnum> Enum<TEnum>(string what)
        where TEnum : struct, Enum
    {
        var names = System.Enum.GetNames<TEnum>();
        return new(
            what,
            (string text, out TEnum value) =>
            {
                foreach (var name in names)
                {
                    if (string.Equals(name, text.Trim(), StringComparison.OrdinalIgnoreCase))
                    {
                        value = System.Enum.Parse<TEnum>(name);
                        return true;
                    }
                }

                value = default;
                return false;
            },
            text => (ConfigurationNames.Suggest(text, names) is { } suggestion ? $"did you mean '{suggestion}'? " : "") + $"accepted: {string.Join(", ", names)}");
    }

    /// <summary>The same value, for a nullable property.</summary>
    public static ConfigurationValue<T?> Optional<T>(ConfigurationValue<T> value)
        where T : struct =>
        new(value.Expected, (string text, out T? result) =>
        {
            var ok = value.TryParse(text, out var parsed);
            result = ok ? parsed : null;
            return ok;
        }, value.Hint);

    /// <summary>Suggests the hh:mm:ss form of a duration written with a unit ("2s", "500ms", "5m").</summary>
    private static string? DurationHint(string text)
    {
        var trimmed = text.Trim();
        var digits = 0;
        while (digits < trimmed.Length && (char.IsAsciiDigit(trimmed[digits]) || trimmed[digits] == '.'))
        {
            digits++;
        }

        if (digits == 0 || !double.TryParse(trimmed.AsSpan(0, digits), NumberStyles.Float, CultureInfo.InvariantCulture, out var amount))
        {
            return null;
        }

        TimeSpan? duration = trimmed[digits..].Trim().ToUpperInvariant() switch
        {
            "MS" => TimeSpan.FromMilliseconds(amount),
            "S" or "SEC" or "SECS" or "SECOND" or "SECONDS" => TimeSpan.FromSeconds(amount),
            "M" or "MIN" or "MINS" or "MINUTE" or "MINUTES" => TimeSpan.FromMinutes(amount),
            "H" or "HOUR" or "HOURS" => TimeSpan.FromHours(amount),
            "D" or "DAY" or "DAYS" => TimeSpan.FromDays(amount),
            _ => null,
        };
        return duration is { } d ? $"did you mean '{d.ToString("c", CultureInfo.InvariantCulture)}'?" : null;
    }
}

/// <summary>"Did you mean": the known name closest to a misspelt one.</summary>
internal static class ConfigurationNames
{
    /// <summary>
    /// The candidate equal to <paramref name="input"/> once case, '-', '_' and spaces are ignored
    /// ("least-request"), else the closest within two edits (one for names of three letters or fewer, where two
    /// edits reach almost anything); null when none is that close.
    /// </summary>
    public static string? Suggest(string input, IEnumerable<string> candidates)
    {
        var wanted = Normalize(input);
        if (wanted.Length == 0)
        {
            return null;
        }

        var limit = wanted.Length <= 3 ? 1 : 2;
        string? best = null;
        var bestDistance = int.MaxValue;
        foreach (var candidate in candidates)
        {
            var distance = Distance(wanted, Normalize(candidate));
            if (distance < bestDistance)
            {
                best = candidate;
                bestDistance = distance;
            }
        }

        return bestDistance <= limit ? best : null;
    }

    /// <summary>The optimal-string-alignment (Damerau–Levenshtein without repeated edits of one substring) distance.</summary>
    internal static int Distance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (var i = 0; i <= a.Length; i++)
        {
            d[i, 0] = i;
        }

        for (var j = 0; j <= b.Length; j++)
        {
            d[0, j] = j;
        }

        for (var i = 1; i <= a.Length; i++)
        {
            for (var j = 1; j <= b.Length; j++)
            {
                var cost = a[i - 1] == b[j - 1] ? 0 : 1;
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + cost);
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                {
                    d[i, j] = Math.Min(d[i, j], d[i - 2, j - 2] + 1);
                }
            }
        }

        return d[a.Length, b.Length];
    }

    private static string Normalize(string name)
    {
        var builder = new System.Text.StringBuilder(name.Length);
        foreach (var c in name)
        {
            if (c is not ('-' or '_' or ' '))
            {
                builder.Append(char.ToUpperInvariant(c));
            }
        }

        return builder.ToString();
    }
}

/// <summary>Shared helpers of the shapes.</summary>
internal static class ConfigurationShape
{
    public static bool HasChildren(IConfigurationSection section)
    {
        foreach (var _ in section.GetChildren())
        {
            return true;
        }

        return false;
    }

    /// <summary>A scalar's value for a message, or null for a section.</summary>
    public static string? Shown(IConfigurationSection section) => HasChildren(section) ? null : section.Value;
}

/// <summary>
/// The shape of an options class: its keys, each with how to read and store it. Reading walks the configuration tree
/// (not the class, so no reflection the trimmer cannot see), stores every value that converts and reports, by full
/// key path, every unknown key, every value that does not convert and every section where a value belongs (and the
/// reverse), all in one pass.
/// </summary>
/// <typeparam name="T">The options class.</typeparam>
internal sealed class ObjectShape<T>
    where T : class
{
    private readonly Dictionary<string, Action<IConfigurationSection, string, T, ConfigurationProblems>> _members = new(StringComparer.OrdinalIgnoreCase);
    private readonly List<string> _names = [];

    public ObjectShape(string what)
    {
        What = what;
    }

    /// <summary>What the section is, for messages: "an endpoint (an object with Address, Weight, Zone)".</summary>
    public string What { get; }

    public IReadOnlyList<string> Names => _names;

    public ObjectShape<T> Value<TValue>(string name, ConfigurationValue<TValue> value, Action<T, TValue> set) =>
        Add(name, (section, path, target, problems) =>
        {
            if (value.TryRead(section, path, problems, out var read))
            {
                set(target, read);
            }
        });

    /// <summary>A nested object; <paramref name="get"/> returns the instance to fill (creating it if need be).</summary>
    /// <param name="name">The key.</param>
    /// <param name="shape">The object's shape.</param>
    /// <param name="get">Returns the instance to fill.</param>
    /// <param name="emptyIsPresent">
    /// Whether an empty JSON object (<c>"Tls": { }</c>) creates the instance, for sections whose presence means
    /// something. The JSON provider reads JSON null as the same empty section, so null creates it too.
    /// </param>
    public ObjectShape<T> Object<TChild>(string name, ObjectShape<TChild> shape, Func<T, TChild> get, bool emptyIsPresent = false)
        where TChild : class =>
        Add(name, (section, path, target, problems) =>
        {
            if (shape.IsPresent(section, path, problems))
            {
                shape.ReadInto(section, path, get(target), problems);
            }
            else if (emptyIsPresent && section.Value is null && !ConfigurationShape.HasChildren(section))
            {
                // The JSON provider reads {} and null alike: a key with no value and no children.
                get(target);
            }
        });

    public ObjectShape<T> List<TItem>(string name, ObjectShape<TItem> shape, Func<T, ICollection<TItem>> get)
        where TItem : class, new() =>
        Add(name, (section, path, target, problems) =>
        {
            foreach (var (item, itemPath) in Items(section, path, problems))
            {
                if (shape.IsPresent(item, itemPath, problems))
                {
                    var created = new TItem();
                    shape.ReadInto(item, itemPath, created, problems);
                    get(target).Add(created);
                }
            }
        });

    public ObjectShape<T> List<TItem>(string name, ConfigurationValue<TItem> value, Func<T, ICollection<TItem>> get) =>
        Add(name, (section, path, target, problems) =>
        {
            foreach (var (item, itemPath) in Items(section, path, problems))
            {
                if (value.TryRead(item, itemPath, problems, out var read))
                {
                    get(target).Add(read);
                }
            }
        });

    /// <summary>A map from names the user chooses to objects of one shape.</summary>
    public ObjectShape<T> Map<TItem>(string name, ObjectShape<TItem> shape, Func<T, IDictionary<string, TItem>> get)
        where TItem : class, new() =>
        Add(name, (section, path, target, problems) =>
        {
            if (!IsContainer(section, path, $"named sections, each {shape.What}", problems))
            {
                return;
            }

            foreach (var child in section.GetChildren())
            {
                var childPath = $"{path}:{child.Key}";
                if (shape.IsPresent(child, childPath, problems))
                {
                    var map = get(target);
                    if (!map.TryGetValue(child.Key, out var item))
                    {
                        map[child.Key] = item = new TItem();
                    }

                    shape.ReadInto(child, childPath, item, problems);
                }
            }
        });

    /// <summary>A map from names the user chooses to values of one kind.</summary>
    public ObjectShape<T> Map<TValue>(string name, ConfigurationValue<TValue> value, Func<T, IDictionary<string, TValue>> get) =>
        Add(name, (section, path, target, problems) =>
        {
            if (!IsContainer(section, path, $"named values, each {value.Expected}", problems))
            {
                return;
            }

            foreach (var child in section.GetChildren())
            {
                if (value.TryRead(child, $"{path}:{child.Key}", problems, out var read))
                {
                    get(target)[child.Key] = read;
                }
            }
        });

    /// <summary>Reads <paramref name="section"/> (whose key path is <paramref name="path"/>) into <paramref name="target"/>.</summary>
    public void Read(IConfiguration section, string path, T target, ConfigurationProblems problems)
    {
        if (section is IConfigurationSection s && !IsPresent(s, path, problems))
        {
            return;
        }

        ReadInto(section, path, target, problems);
    }

    private void ReadInto(IConfiguration section, string path, T target, ConfigurationProblems problems)
    {
        foreach (var child in section.GetChildren())
        {
            var childPath = path.Length == 0 ? child.Key : $"{path}:{child.Key}";
            if (_members.TryGetValue(child.Key, out var read))
            {
                read(child, childPath, target, problems);
                continue;
            }

            var value = ConfigurationShape.Shown(child);
            var shown = value is null ? "" : $" (set to '{value}')";
            if (ConfigurationNames.Suggest(child.Key, _names) is { } suggestion)
            {
                problems.Add(childPath, $"unknown key{shown}; did you mean '{suggestion}'?");

                // The misspelt key's value is missing from the key it was meant for; do not report that twice.
                if (!section.GetSection(suggestion).Exists())
                {
                    problems.MarkUnbound(path.Length == 0 ? suggestion : $"{path}:{suggestion}");
                }
            }
            else
            {
                problems.Add(childPath, $"unknown key{shown}; {What} takes {string.Join(", ", _names)}.");
            }
        }
    }

    /// <summary>False when the section holds nothing (JSON null or {}), or holds a value where an object belongs.</summary>
    private bool IsPresent(IConfigurationSection section, string path, ConfigurationProblems problems) =>
        IsContainer(section, path, What, problems) && ConfigurationShape.HasChildren(section);

    private static bool IsContainer(IConfigurationSection section, string path, string what, ConfigurationProblems problems)
    {
        // An empty JSON array or object reads as "" or null: nothing to bind, and nothing wrong.
        if (string.IsNullOrEmpty(section.Value) || ConfigurationShape.HasChildren(section))
        {
            return true;
        }

        problems.Add(path, $"'{section.Value}' is a value; expected {what}.");
        return false;
    }

    private static IEnumerable<(IConfigurationSection Item, string Path)> Items(IConfigurationSection section, string path, ConfigurationProblems problems)
    {
        if (!IsContainer(section, path, "a list (a JSON array)", problems))
        {
            yield break;
        }

        foreach (var child in section.GetChildren())
        {
            var childPath = $"{path}:{child.Key}";
            if (!int.TryParse(child.Key, NumberStyles.None, CultureInfo.InvariantCulture, out _))
            {
                problems.Add(childPath, $"'{child.Key}' is not a list index; {Leaf(path)} is a list (a JSON array).");
                continue;
            }

            yield return (child, childPath);
        }
    }

    private static string Leaf(string path) => path[(path.LastIndexOf(':') + 1)..];

    private ObjectShape<T> Add(string name, Action<IConfigurationSection, string, T, ConfigurationProblems> read)
    {
        _members.Add(name, read);
        _names.Add(name);
        return this;
    }
}
