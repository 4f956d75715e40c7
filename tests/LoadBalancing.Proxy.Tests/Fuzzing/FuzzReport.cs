using System.Text;

namespace LoadBalancing.Proxy.Tests.Fuzzing;

/// <summary>One distinct finding: the first case that showed it, shrunk, as bytes ready for <see cref="RegressionCases"/>.</summary>
internal sealed record Finding(Violation Violation, int CaseId, IReadOnlyList<byte[]> Wire, int Hits)
{
    public string Describe()
    {
        var text = new StringBuilder().Append(Violation).Append(" [case ").Append(CaseId).Append(", seen ").Append(Hits).AppendLine(" times]");
        foreach (var part in Wire)
        {
            text.Append("    ").Append(Fuzzing.Wire.Literal(part)).AppendLine(",");
        }

        return text.ToString();
    }
}

/// <summary>What a fuzz run did and found; printed in full so a failure can be replayed and pasted.</summary>
internal sealed class FuzzReport(string side, int seed)
{
    private readonly Dictionary<string, Finding> _findings = [];

    public string Side { get; } = side;

    public int Seed { get; } = seed;

    public int Cases { get; set; }

    public int Stalls { get; set; }

    public TimeSpan Elapsed { get; set; }

    public IReadOnlyCollection<Finding> Findings => _findings.Values;

    /// <summary>Whether this violation is new (and so worth shrinking).</summary>
    public bool IsNew(Violation violation) => !_findings.ContainsKey(violation.Signature);

    public void Add(Finding finding)
    {
        var key = finding.Violation.Signature;
        _findings[key] = _findings.TryGetValue(key, out var known) ? known with { Hits = known.Hits + 1 } : finding;
    }

    public override string ToString()
    {
        var text = new StringBuilder()
            .Append(Side).Append(" fuzz: seed ").Append(Seed).Append(", ").Append(Cases).Append(" cases in ")
            .Append(Elapsed.TotalSeconds.ToString("F1", System.Globalization.CultureInfo.InvariantCulture)).Append(" s (")
            .Append((Cases / Math.Max(Elapsed.TotalSeconds, 0.001)).ToString("F0", System.Globalization.CultureInfo.InvariantCulture)).Append(" cases/s), ")
            .Append(Stalls).Append(" stalls, ").Append(_findings.Count).AppendLine(" distinct findings");
        foreach (var finding in _findings.Values.OrderBy(f => f.Violation.Invariant, StringComparer.Ordinal))
        {
            text.Append(finding.Describe());
        }

        return text.ToString();
    }
}
