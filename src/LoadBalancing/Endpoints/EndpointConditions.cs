namespace LoadBalancing;

/// <summary>
/// The conditions of an endpoint as discovery reports them (Kubernetes EndpointSlice semantics).
/// </summary>
[Flags]
public enum EndpointConditions
{
    /// <summary>No condition holds: the endpoint is known but must not receive traffic.</summary>
    None = 0,

    /// <summary>The endpoint is ready to receive new traffic.</summary>
    Ready = 1,

    /// <summary>The endpoint can serve traffic (it may be terminating).</summary>
    Serving = 2,

    /// <summary>The endpoint is shutting down.</summary>
    Terminating = 4,

    /// <summary>The usual state of a static or healthy endpoint: ready and serving.</summary>
    ReadyAndServing = Ready | Serving,
}
