using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace LoadBalancing.Kubectl.Rendering;

/// <summary>
/// The JSON documents the commands build, written as YAML (<c>-o yaml</c>, as kubectl offers). Written as emitter
/// events rather than through YamlDotNet's serializer, which reflects over types (not NativeAOT-safe); a string that
/// a YAML reader would take for a number, boolean, null or timestamp is quoted, so the document reads back as it was.
/// </summary>
internal static partial class Yaml
{
    public static string Write(JsonNode node)
    {
        using var writer = new StringWriter(CultureInfo.InvariantCulture);
        var emitter = new Emitter(writer);
        emitter.Emit(new StreamStart());
        emitter.Emit(new DocumentStart(null, null, isImplicit: true));
        Emit(emitter, node);
        emitter.Emit(new DocumentEnd(isImplicit: true));
        emitter.Emit(new StreamEnd());
        return writer.ToString();
    }

    private static void Emit(Emitter emitter, JsonNode? node)
    {
        switch (node)
        {
            case JsonObject obj:
                emitter.Emit(new MappingStart(AnchorName.Empty, TagName.Empty, isImplicit: true, MappingStyle.Block));
                foreach (var (key, value) in obj)
                {
                    Text(emitter, key);
                    Emit(emitter, value);
                }

                emitter.Emit(new MappingEnd());
                break;
            case JsonArray array:
                emitter.Emit(new SequenceStart(AnchorName.Empty, TagName.Empty, isImplicit: true, SequenceStyle.Block));
                foreach (var item in array)
                {
                    Emit(emitter, item);
                }

                emitter.Emit(new SequenceEnd());
                break;
            case JsonValue value when value.GetValueKind() == JsonValueKind.String:
                Text(emitter, value.GetValue<string>());
                break;
            case JsonValue value when value.GetValueKind() is JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False:
                // JSON's number and boolean spellings are YAML's too.
                Plain(emitter, value.ToJsonString());
                break;
            default:
                Plain(emitter, "null");
                break;
        }
    }

    private static void Text(Emitter emitter, string text) =>
        emitter.Emit(new Scalar(AnchorName.Empty, TagName.Empty, text, Ambiguous().IsMatch(text) ? ScalarStyle.DoubleQuoted : ScalarStyle.Any, isPlainImplicit: true, isQuotedImplicit: true));

    private static void Plain(Emitter emitter, string text) =>
        emitter.Emit(new Scalar(AnchorName.Empty, TagName.Empty, text, ScalarStyle.Plain, isPlainImplicit: true, isQuotedImplicit: false));

    // What YAML 1.1 or 1.2 readers resolve to something other than a string when plain: empty, null, booleans
    // (1.1's yes/no/on/off too), numbers (with 1.1's underscores, sexagesimals, octal and hex), .inf/.nan, timestamps.
    [GeneratedRegex(
        @"^(|~|null|Null|NULL|y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF"
        + @"|[-+]?(\.[0-9]+|[0-9][0-9_]*(\.[0-9_]*)?)([eE][-+]?[0-9]+)?"
        + @"|[-+]?0x[0-9a-fA-F_]+|[-+]?0o?[0-7_]+|[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+(\.[0-9_]*)?"
        + @"|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN)"
        + @"|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}([Tt ].*)?)$",
        RegexOptions.CultureInvariant)]
    private static partial Regex Ambiguous();
}
