namespace LoadBalancing.Proxy.Tests.Fuzzing;

/// <summary>One broken invariant. <see cref="Kind"/> is stable across cases, so findings group by it; <see cref="Detail"/> is this case's.</summary>
internal sealed record Violation(string Invariant, string Kind, string Detail)
{
    public string Signature => $"({Invariant}) {Kind}";

    public override string ToString() => $"({Invariant}) {Kind}: {Detail}";
}
