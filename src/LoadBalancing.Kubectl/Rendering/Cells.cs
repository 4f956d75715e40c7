using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace LoadBalancing.Kubectl.Rendering;

/// <summary>Table cells from the admin JSON: absent values as <c>-</c>, numbers and times invariant.</summary>
internal static class Cells
{
    public static string Text(JsonNode? node) => node switch
    {
        null => "-",
        JsonValue value when value.TryGetValue<string>(out var s) => s.Length == 0 ? "-" : s,
        JsonValue value when value.TryGetValue<bool>(out var b) => b ? "yes" : "no",
        JsonValue value when value.GetValueKind() == JsonValueKind.Number => value.GetValue<double>().ToString(CultureInfo.InvariantCulture),
        _ => node.ToJsonString(),
    };

    /// <summary>A timestamp shortened to the second, in UTC.</summary>
    public static string Time(JsonNode? node) =>
        node is JsonValue value && value.TryGetValue<string>(out var s) && DateTimeOffset.TryParse(s, CultureInfo.InvariantCulture, DateTimeStyles.None, out var time)
            ? time.ToUniversalTime().ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture)
            : "-";

    public static string Conditions(JsonNode? node) =>
        node is JsonArray array && array.Count > 0 ? string.Join(',', array.Select(c => c?.GetValue<string>())) : "none";

    public static JsonArray Array(JsonNode? node) => node as JsonArray ?? [];

    /// <summary>The sum of an object's numeric values (connect failures by kind), or "-" when there is no such object.</summary>
    public static string Sum(JsonNode? node) =>
        node is JsonObject counts
            ? counts.Select(p => p.Value is JsonValue v && v.TryGetValue<long>(out var n) ? n : 0).Sum().ToString(System.Globalization.CultureInfo.InvariantCulture)
            : "-";

    public static string? String(JsonNode? node) => node is JsonValue value && value.TryGetValue<string>(out var s) ? s : null;

    public static string Invariant(FormattableString text) => FormattableString.Invariant(text);
}
