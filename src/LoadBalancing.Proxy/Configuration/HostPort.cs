using System.Globalization;
using System.Net;

namespace LoadBalancing.Proxy;

/// <summary>Parses <c>ip:port</c>, <c>[ipv6]:port</c> and <c>host:port</c>.</summary>
internal static class HostPort
{
    public static bool TryParse(string? value, out string host, out int port, out string error)
    {
        host = "";
        port = 0;
        if (string.IsNullOrWhiteSpace(value))
        {
            error = "is empty; expected host:port";
            return false;
        }

        var colon = value.LastIndexOf(':');
        if (colon <= 0 || colon == value.Length - 1)
        {
            error = $"'{value}' has no port; expected host:port (IPv6 as [addr]:port)";
            return false;
        }

        var hostPart = value[..colon];
        if (hostPart.StartsWith('[') && hostPart.EndsWith(']'))
        {
            hostPart = hostPart[1..^1];
            if (!IPAddress.TryParse(hostPart, out _))
            {
                error = $"'{value}' has an invalid IPv6 address";
                return false;
            }
        }
        else if (hostPart.Contains(':', StringComparison.Ordinal))
        {
            error = $"'{value}' looks like an IPv6 address without brackets; write [addr]:port";
            return false;
        }

        if (!int.TryParse(value.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out port) || port is < 1 or > 65535)
        {
            error = $"'{value}' has an invalid port; expected 1 to 65535";
            return false;
        }

        host = hostPart;
        error = "";
        return true;
    }
}
