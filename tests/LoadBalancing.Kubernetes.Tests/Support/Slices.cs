using System.Text.Json.Nodes;

namespace LoadBalancing.Kubernetes.Tests.Support;

/// <summary>EndpointSlice JSON in the shape the API server sends.</summary>
internal static class Slices
{
    public sealed record Ep(string[] Addresses, bool? Ready = true, bool? Serving = null, bool? Terminating = null, string? Zone = null, string[]? ForZones = null);

    public static JsonObject Slice(string name, string service, Ep[] endpoints, (string? Name, int Port)[]? ports = null, string addressType = "IPv4")
    {
        var slice = new JsonObject
        {
            ["apiVersion"] = "discovery.k8s.io/v1",
            ["kind"] = "EndpointSlice",
            ["metadata"] = new JsonObject
            {
                ["name"] = name,
                ["labels"] = new JsonObject
                {
                    ["kubernetes.io/service-name"] = service,
                    ["endpointslice.kubernetes.io/managed-by"] = "endpointslice-controller.k8s.io",
                },
                ["ownerReferences"] = new JsonArray(new JsonObject { ["apiVersion"] = "v1", ["kind"] = "Service", ["name"] = service, ["uid"] = Guid.NewGuid().ToString() }),
            },
            ["addressType"] = addressType,
            ["endpoints"] = new JsonArray([.. endpoints.Select(BackendEndpoint)]),
            ["ports"] = new JsonArray([.. (ports ?? [("http", 8080)]).Select(p =>
            {
                var port = new JsonObject { ["port"] = p.Port, ["protocol"] = "TCP" };
                if (p.Name is not null)
                {
                    port["name"] = p.Name;
                }

                return (JsonNode)port;
            })]),
        };
        return slice;
    }

    private static JsonNode BackendEndpoint(Ep ep)
    {
        var conditions = new JsonObject();
        if (ep.Ready is { } ready)
        {
            conditions["ready"] = ready;
        }

        if (ep.Serving is { } serving)
        {
            conditions["serving"] = serving;
        }

        if (ep.Terminating is { } terminating)
        {
            conditions["terminating"] = terminating;
        }

        var node = new JsonObject
        {
            ["addresses"] = new JsonArray([.. ep.Addresses.Select(a => (JsonNode)a)]),
            ["conditions"] = conditions,
            ["nodeName"] = "node-1",
            ["targetRef"] = new JsonObject { ["kind"] = "Pod", ["name"] = "pod-" + (ep.Addresses.FirstOrDefault() ?? "none").Replace('.', '-').Replace(':', '-'), ["namespace"] = "default" },
        };
        if (ep.Zone is not null)
        {
            node["zone"] = ep.Zone;
        }

        if (ep.ForZones is not null)
        {
            node["hints"] = new JsonObject { ["forZones"] = new JsonArray([.. ep.ForZones.Select(z => (JsonNode)new JsonObject { ["name"] = z })]) };
        }

        return node;
    }
}
