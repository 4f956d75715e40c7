using Microsoft.Extensions.Primitives;

namespace LoadBalancing.Proxy.Forwarding;

/// <summary>
/// The X-Forwarded fields a request arrived with, kept from the header walk when the proxy trusts them
/// (<see cref="ProxyOptions.TrustForwardedHeaders"/>); empty otherwise, and the proxy then writes its own.
/// </summary>
internal struct IncomingForwarded
{
    /// <summary>The incoming <c>X-Forwarded-For</c> values, the chain the proxy's address is appended to.</summary>
    public StringValues For;

    /// <summary>The incoming <c>X-Forwarded-Proto</c>, forwarded in place of the proxy's; null when absent.</summary>
    public string? Proto;

    /// <summary>The incoming <c>X-Forwarded-Host</c>, forwarded in place of the proxy's; null when absent.</summary>
    public string? Host;

    /// <summary>Keeps the field when it is one of the three, by its exact name (an underscore spelling is not kept).</summary>
    public void Keep(string name, StringValues value)
    {
        switch (name.Length)
        {
            case 15 when name.Equals("X-Forwarded-For", StringComparison.OrdinalIgnoreCase):
                For = value;
                break;
            case 16 when name.Equals("X-Forwarded-Host", StringComparison.OrdinalIgnoreCase):
                Host = First(value);
                break;
            case 17 when name.Equals("X-Forwarded-Proto", StringComparison.OrdinalIgnoreCase):
                Proto = First(value);
                break;
        }
    }

    private static string? First(StringValues value) => value.Count > 0 && !string.IsNullOrEmpty(value[0]) ? value[0] : null;
}
