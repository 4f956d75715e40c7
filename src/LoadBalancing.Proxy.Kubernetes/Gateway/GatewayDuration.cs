using System.Globalization;
using System.Text.RegularExpressions;

namespace LoadBalancing.Proxy.Kubernetes.Gateway;

/// <summary>Gateway API durations (GEP-2257): one to four number-unit pairs, units h, m, s, ms; <c>1h30m</c>, <c>500ms</c>.</summary>
internal static partial class GatewayDuration
{
    [GeneratedRegex("^([0-9]{1,5}(h|m|s|ms)){1,4}$", RegexOptions.CultureInvariant)]
    private static partial Regex Shape();

    [GeneratedRegex("([0-9]{1,5})(ms|h|m|s)", RegexOptions.CultureInvariant)]
    private static partial Regex Part();

    public static bool TryParse(string text, out TimeSpan duration)
    {
        duration = TimeSpan.Zero;
        if (!Shape().IsMatch(text))
        {
            return false;
        }

        foreach (Match part in Part().Matches(text))
        {
            var value = int.Parse(part.Groups[1].Value, NumberStyles.None, CultureInfo.InvariantCulture);
            duration += part.Groups[2].Value switch
            {
                "h" => TimeSpan.FromHours(value),
                "m" => TimeSpan.FromMinutes(value),
                "s" => TimeSpan.FromSeconds(value),
                _ => TimeSpan.FromMilliseconds(value),
            };
        }

        return true;
    }
}
