using System.Globalization;
using Grpc.Net.Client.Configuration;

namespace LoadBalancing.Grpc.Internal;

/// <summary>Reads and writes the keys of a policy's configuration object, which grpc-dotnet hands to the factory as a dictionary.</summary>
internal static class PolicySettings
{
    public const string HashKey = "hashKey";
    public const string ChoiceCount = "choiceCount";

    public static IDictionary<string, object> Of(LoadBalancingConfig config) => (IDictionary<string, object>)config.Inner[config.PolicyName];

    public static void Set(LoadBalancingConfig config, string key, object? value)
    {
        var settings = Of(config);
        if (value is null)
        {
            settings.Remove(key);
        }
        else
        {
            settings[key] = value;
        }
    }

    public static string? GetString(LoadBalancingConfig config, string key) => GetString(Of(config), key);

    public static int? GetInt(LoadBalancingConfig config, string key) => GetInt(Of(config), key);

    public static string? GetString(IDictionary<string, object> settings, string key) =>
        settings.TryGetValue(key, out var value) && value is not null ? Convert.ToString(value, CultureInfo.InvariantCulture) : null;

    /// <summary>A whole number, whether set in code or parsed from JSON (long, double or string).</summary>
    public static int? GetInt(IDictionary<string, object> settings, string key)
    {
        if (!settings.TryGetValue(key, out var value) || value is null)
        {
            return null;
        }

        try
        {
            return Convert.ToInt32(value, CultureInfo.InvariantCulture);
        }
        catch (Exception e) when (e is FormatException or InvalidCastException or OverflowException)
        {
            throw new InvalidOperationException($"Load-balancing config '{key}': '{value}' is not a whole number.", e);
        }
    }
}
