using System.Text.Json.Nodes;
using LoadBalancing.Kubectl.Rendering;

namespace LoadBalancing.Kubectl.Tests.Rendering;

public sealed class YamlTests
{
    [Fact]
    public void Write_KeepsEveryValuesType_QuotingStringsThatWouldReadAsSomethingElse()
    {
        var document = JsonNode.Parse("""
            [ { "pod": "lb-proxy-0", "version": "102", "port": 8080, "ewma": 23.884, "stale": false, "zone": null,
                "empty": "", "yes": "yes", "time": "2026-12-06T08:50:22+00:00", "nothing": "null", "hex": "0x1F",
                "address": "10.0.0.1:80", "conditions": [ "ready", "serving" ], "nested": { "message": "upstream: connect failed" } } ]
            """)!;

        var yaml = Yaml.Write(document);

        Assert.Equal(
            """
            - pod: lb-proxy-0
              version: "102"
              port: 8080
              ewma: 23.884
              stale: false
              zone: null
              empty: ""
              "yes": "yes"
              time: "2026-12-06T08:50:22+00:00"
              nothing: "null"
              hex: "0x1F"
              address: 10.0.0.1:80
              conditions:
              - ready
              - serving
              nested:
                message: 'upstream: connect failed'

            """.ReplaceLineEndings("\n"),
            yaml.ReplaceLineEndings("\n"));
    }
}
