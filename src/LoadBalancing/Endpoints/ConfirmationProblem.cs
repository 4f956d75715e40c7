namespace LoadBalancing;

/// <summary>
/// Why discovery could not confirm an endpoint list at its latest attempt. The right response differs by cause: a
/// source of truth that cannot be reached is the same for every replica (keep serving the last good list), while a
/// replica that reaches it and still cannot converge is alone in its trouble (let traffic move to the others).
/// </summary>
public enum ConfirmationProblem
{
    /// <summary>The latest attempt confirmed the list, or none has been reported.</summary>
    None = 0,

    /// <summary>The source of truth (the Kubernetes API server) could not be reached or answered with an error.</summary>
    SourceUnreachable = 1,

    /// <summary>The source of truth answered, but this replica's list could not be brought in line with it.</summary>
    NotConverging = 2,
}
