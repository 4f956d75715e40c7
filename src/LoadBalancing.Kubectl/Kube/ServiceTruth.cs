using k8s.Models;

namespace LoadBalancing.Kubectl.Kube;

/// <summary>An endpoint as Kubernetes or a proxy knows it: <c>address:port</c> and its conditions (<c>ready,serving,terminating</c>).</summary>
internal sealed record EndpointFact(string Key, string Conditions);

/// <summary>
/// The endpoints of one Service port read from its EndpointSlices the way the proxy's discovery reads them
/// (src/LoadBalancing.Kubernetes/Slices/ServiceEndpoints.cs): FQDN slices skipped, one address family (IPv4 when
/// any), the port by name or number (or the only one when none is named), the API's condition defaults, and an
/// address in two slices counted once with its more usable conditions.
/// </summary>
internal static class ServiceTruth
{
    public static Dictionary<string, EndpointFact> Build(IEnumerable<V1EndpointSlice> slices, string? port)
    {
        var list = slices.Where(s => s.AddressType is "IPv4" or "IPv6").ToList();
        var family = list.Any(s => s.AddressType == "IPv4" && s.Endpoints is { Count: > 0 }) ? "IPv4" : "IPv6";
        var byKey = new Dictionary<string, (EndpointFact Fact, int Rank)>(StringComparer.Ordinal);
        foreach (var slice in list)
        {
            if (slice.AddressType != family || FindPort(slice.Ports, port) is not int number)
            {
                continue;
            }

            foreach (var endpoint in slice.Endpoints ?? [])
            {
                var ready = endpoint.Conditions?.Ready ?? true;
                var serving = endpoint.Conditions?.Serving ?? true;
                var terminating = endpoint.Conditions?.Terminating ?? false;
                var rank = (ready ? 4 : 0) + (serving ? 2 : 0) + (terminating ? 0 : 1);
                var conditions = Conditions(ready, serving, terminating);
                foreach (var address in endpoint.Addresses ?? [])
                {
                    var key = Key(address, number);
                    if (!byKey.TryGetValue(key, out var existing) || rank > existing.Rank)
                    {
                        byKey[key] = (new EndpointFact(key, conditions), rank);
                    }
                }
            }
        }

        return byKey.ToDictionary(p => p.Key, p => p.Value.Fact, StringComparer.Ordinal);
    }

    /// <summary><c>ip:port</c>, IPv6 in brackets.</summary>
    public static string Key(string address, int port) =>
        string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{(address.Contains(':', StringComparison.Ordinal) ? $"[{address}]" : address)}:{port}");

    /// <summary>The conditions as the proxy's <c>/backends</c> lists them.</summary>
    public static string Conditions(bool ready, bool serving, bool terminating)
    {
        var names = new List<string>(3);
        if (ready)
        {
            names.Add("ready");
        }

        if (serving)
        {
            names.Add("serving");
        }

        if (terminating)
        {
            names.Add("terminating");
        }

        return names.Count == 0 ? "none" : string.Join(',', names);
    }

    private static int? FindPort(IList<Discoveryv1EndpointPort>? ports, string? wanted)
    {
        ports ??= [];
        if (string.IsNullOrEmpty(wanted))
        {
            return ports.Count == 1 ? ports[0].Port : null;
        }

        foreach (var p in ports)
        {
            if (p.Name == wanted)
            {
                return p.Port;
            }
        }

        if (int.TryParse(wanted, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var number))
        {
            foreach (var p in ports)
            {
                if (p.Port == number)
                {
                    return p.Port;
                }
            }
        }

        return null;
    }
}
