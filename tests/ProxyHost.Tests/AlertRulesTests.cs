using System.Text.RegularExpressions;
using LoadBalancing.Kubernetes.Tests.Support;
using LoadBalancing.Proxy;
using LoadBalancing.Proxy.Tests.Support;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace ProxyHost.Tests;

/// <summary>
/// The alerting rules in docs/operations.md use metric names, label names and label values that a real ProxyHost
/// (a Service-fed cluster through Kubernetes discovery, one pod answering 503) exports on /metrics.
/// </summary>
public sealed class AlertRulesTests
{
    [Fact]
    public async Task OperationsAlertRules_NameOnlySeriesAndLabelsThatMetricsExports()
    {
        var token = TestContext.Current.CancellationToken;
        var (rules, snippets) = AlertSection();
        Assert.True(rules.Count >= 5, $"found {rules.Count} expressions in the alerting rules");

        await using var good = await TestBackend.StartAsync("good", "127.0.0.8");
        await using var bad = await TestBackend.StartAsync("bad", "127.0.0.9", context =>
        {
            context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            return Task.CompletedTask;
        });
        await using var api = await FakeApiServer.StartAsync();
        var goodPort = int.Parse(good.Address.Split(':')[1], System.Globalization.CultureInfo.InvariantCulture);
        var badPort = int.Parse(bad.Address.Split(':')[1], System.Globalization.CultureInfo.InvariantCulture);
        api.Apply("shop", Slices.Slice("web-1", "web", [new(["127.0.0.8"])], [("http", goodPort)]));
        api.Apply("shop", Slices.Slice("bad-1", "bad", [new(["127.0.0.9"])], [("http", badPort)]));
        var file = Path.Combine(Path.GetTempPath(), $"proxyhost-{Guid.NewGuid():N}.json");
        await File.WriteAllTextAsync(file, $$"""
            {
              "Kubernetes": { "ApiServer": "{{api.Url}}" },
              "Proxy": {
                "Listeners": [ { "Url": "http://127.0.0.1:0" } ],
                "Admin": { "Url": "http://127.0.0.1:0" },
                "Routes": [ { "Path": "/bad", "Cluster": "bad" }, { "Path": "/", "Cluster": "web" } ],
                "Clusters": {
                  "web": { "Kubernetes": { "Namespace": "shop", "Service": "web", "Port": "http" } },
                  "bad": { "Kubernetes": { "Namespace": "shop", "Service": "bad", "Port": "http" } }
                }
              }
            }
            """, token);
        var (app, _) = await ProxyHostApp.BuildAsync(["--config", file]);
        await app.StartAsync(token);
        string text;
        try
        {
            var listeners = app.Services.GetRequiredService<ProxyListeners>();
            using var client = new HttpClient { BaseAddress = new Uri($"http://{listeners.ProxyEndPoint}/"), Timeout = TimeSpan.FromSeconds(30) };
            using var admin = new HttpClient { BaseAddress = new Uri($"http://{listeners.AdminEndPoint}/"), Timeout = TimeSpan.FromSeconds(30) };
            for (var i = 0; i < 3; i++)
            {
                using var ok = await client.GetAsync("/", token);
                using var failing = await client.GetAsync("/bad", token);
                Assert.Equal((200, 503), ((int)ok.StatusCode, (int)failing.StatusCode));
            }

            text = await admin.GetStringAsync("metrics", token);
        }
        finally
        {
            await app.StopAsync(token);
            await app.DisposeAsync();
            File.Delete(file);
        }

        var samples = Samples(text);
        Assert.Contains(samples["lb_proxy_endpoint_responses_total"], s => s["code"] == "503" && s["endpoint"] == bad.Address && s["value"] == "3");
        var problems = new List<string>();
        foreach (var expression in rules.Concat(snippets))
        {
            problems.AddRange(Check(expression, samples));
        }

        Assert.True(problems.Count == 0, string.Join("\n", problems));
    }

    /// <summary>Every metric, matcher and grouping label of one expression, against the scraped samples.</summary>
    private static IEnumerable<string> Check(string expression, Dictionary<string, List<Dictionary<string, string>>> samples)
    {
        var used = new List<string>();
        foreach (Match metric in Regex.Matches(expression, @"\b(lb_[a-z_]+|process_[a-z_]+|dotnet_[a-z_]+)(\{([^}]*)\})?"))
        {
            var name = metric.Groups[1].Value;
            if (!samples.TryGetValue(name, out var series))
            {
                yield return $"{name}: not on /metrics (in: {expression.Trim()})";
                continue;
            }

            used.Add(name);
            foreach (Match matcher in Regex.Matches(metric.Groups[3].Value, "([a-z_]+)\\s*(=~|!~|!=|=)\\s*\"([^\"]*)\""))
            {
                var (label, op, value) = (matcher.Groups[1].Value, matcher.Groups[2].Value, matcher.Groups[3].Value);
                if (!series.Any(s => s.ContainsKey(label)))
                {
                    yield return $"{name}: has no label '{label}'";
                }
                else if (op == "=" && !series.Any(s => s.GetValueOrDefault(label) == value))
                {
                    yield return $"{name}: no series with {label}=\"{value}\"";
                }
                else if (op == "=~" && !series.Any(s => s.TryGetValue(label, out var v) && Regex.IsMatch(v, $"^(?:{value})$")))
                {
                    yield return $"{name}: no series with {label}=~\"{value}\"";
                }
            }
        }

        foreach (Match grouping in Regex.Matches(expression, @"\b(?:by|without|ignoring|on)\s*\(([^)]*)\)"))
        {
            foreach (var label in grouping.Groups[1].Value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
            {
                if (!used.Any(name => samples[name].Any(s => s.ContainsKey(label))))
                {
                    yield return $"label '{label}' is on none of {string.Join(", ", used)} (in: {expression.Trim()})";
                }
            }
        }
    }

    /// <summary>The expressions of the rules block (each <c>expr:</c>, folded), and the PromQL in backticks after it.</summary>
    private static (List<string> Rules, List<string> Snippets) AlertSection()
    {
        var doc = File.ReadAllText(Path.Combine(RepositoryRoot(), "docs", "operations.md"));
        var start = doc.IndexOf("### Alerting rules", StringComparison.Ordinal);
        Assert.True(start >= 0, "docs/operations.md has no '### Alerting rules' section");
        var end = doc.IndexOf("\n#", start + 4, StringComparison.Ordinal);
        var section = doc[start..(end < 0 ? doc.Length : end)];
        var yamlStart = section.IndexOf("```yaml\n", StringComparison.Ordinal) + "```yaml\n".Length;
        var yaml = section[yamlStart..section.IndexOf("```", yamlStart, StringComparison.Ordinal)];

        var rules = new List<string>();
        var lines = yaml.Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            var expr = Regex.Match(lines[i], "^(\\s*)expr:\\s*(.*)$");
            if (!expr.Success)
            {
                continue;
            }

            if (expr.Groups[2].Value != "|")
            {
                rules.Add(expr.Groups[2].Value);
                continue;
            }

            var indent = expr.Groups[1].Value.Length;
            var body = new List<string>();
            while (i + 1 < lines.Length && (lines[i + 1].Length - lines[i + 1].TrimStart().Length > indent || lines[i + 1].Trim().Length == 0))
            {
                body.Add(lines[++i]);
            }

            rules.Add(string.Join("\n", body));
        }

        // Metric names in the annotations must exist too; the backticked PromQL after the block is an expression.
        var annotations = Regex.Matches(yaml, "(?:summary|description): \"([^\"]*)\"").Select(m => m.Groups[1].Value);
        var after = section[(section.IndexOf("```", yamlStart, StringComparison.Ordinal) + 3)..];
        var snippets = Regex.Matches(after, "`([^`]*lb_[^`]*)`").Select(m => m.Groups[1].Value).Concat(annotations).ToList();
        return (rules, snippets);
    }

    /// <summary>/metrics samples by family: each sample's labels, and its value under "value".</summary>
    private static Dictionary<string, List<Dictionary<string, string>>> Samples(string text)
    {
        var samples = new Dictionary<string, List<Dictionary<string, string>>>(StringComparer.Ordinal);
        foreach (var line in text.Split('\n'))
        {
            var sample = Regex.Match(line, "^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\\{(.*)\\})? (\\S+)$");
            if (!sample.Success)
            {
                continue;
            }

            var labels = Regex.Matches(sample.Groups[2].Value, "([a-zA-Z_][a-zA-Z0-9_]*)=\"((?:[^\"\\\\]|\\\\.)*)\"")
                .ToDictionary(m => m.Groups[1].Value, m => m.Groups[2].Value, StringComparer.Ordinal);
            labels["value"] = sample.Groups[3].Value;
            var name = sample.Groups[1].Value;
            if (!samples.TryGetValue(name, out var list))
            {
                samples[name] = list = [];
            }

            list.Add(labels);
        }

        return samples;
    }

    private static string RepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "docs", "operations.md")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException($"no docs/operations.md above {AppContext.BaseDirectory}");
    }
}
