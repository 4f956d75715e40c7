using System.Text;
using System.Text.Json;

namespace LoadBalancing.Proxy.Admin;

/// <summary>The <c>/config</c> view: the configuration in service (secrets redacted), the last failed reload, what waits for a restart.</summary>
internal static class ConfigWriter
{
    public static string Write(ProxyRuntime runtime, ReloadResult? result)
    {
        var config = runtime.Config;
        var status = runtime.Status;
        using var stream = new MemoryStream();
        using (var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            if (result is not null)
            {
                json.WriteString("outcome", ProxyRuntime.OutcomeName(result.Outcome));
                WriteList(json, "errors", result.Errors);
            }

            json.WriteNumber("generation", config.Generation);
            json.WriteString("loadedAt", config.LoadedAt);
            json.WriteString("source", config.Source);
            json.WritePropertyName("lastFailure");
            if (status.FailedAt is { } at)
            {
                json.WriteStartObject();
                json.WriteString("at", at);
                json.WriteString("source", status.FailedSource);
                WriteList(json, "errors", status.Errors);
                json.WriteEndObject();
            }
            else
            {
                json.WriteNullValue();
            }

            WriteList(json, "restartNeeded", status.RestartNeeded);
            json.WritePropertyName("configuration");
            ProxyOptionsJson.WriteProxy(json, config.Options);
            json.WriteEndObject();
        }

        return Encoding.UTF8.GetString(stream.ToArray());
    }

    private static void WriteList(Utf8JsonWriter json, string name, IReadOnlyList<string> items)
    {
        json.WriteStartArray(name);
        foreach (var item in items)
        {
            json.WriteStringValue(item);
        }

        json.WriteEndArray();
    }
}
