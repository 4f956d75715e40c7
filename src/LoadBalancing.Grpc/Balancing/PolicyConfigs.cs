using Grpc.Net.Client.Configuration;
using LoadBalancing.Grpc.Internal;

namespace LoadBalancing.Grpc;

/// <summary>Selects <see cref="LoadBalancingPolicies.PeakEwma"/> in a channel's <see cref="ServiceConfig"/>.</summary>
public sealed class PeakEwmaConfig : LoadBalancingConfig
{
    /// <summary>Creates the configuration.</summary>
    public PeakEwmaConfig()
        : base(LoadBalancingPolicies.PeakEwma)
    {
    }
}

/// <summary>Selects <see cref="LoadBalancingPolicies.LeastRequest"/> in a channel's <see cref="ServiceConfig"/>.</summary>
public sealed class LeastRequestConfig : LoadBalancingConfig
{
    /// <summary>Creates the configuration.</summary>
    public LeastRequestConfig()
        : base(LoadBalancingPolicies.LeastRequest)
    {
    }

    /// <summary>How many endpoints are drawn per pick (<c>choiceCount</c>, 2 to 64); 2 when unset.</summary>
    public int? ChoiceCount
    {
        get => PolicySettings.GetInt(this, PolicySettings.ChoiceCount);
        set => PolicySettings.Set(this, PolicySettings.ChoiceCount, value);
    }
}

/// <summary>Selects <see cref="LoadBalancingPolicies.Maglev"/> in a channel's <see cref="ServiceConfig"/>.</summary>
public sealed class MaglevConfig : LoadBalancingConfig
{
    /// <summary>Creates the configuration.</summary>
    public MaglevConfig()
        : base(LoadBalancingPolicies.Maglev)
    {
    }

    /// <summary>The request header (gRPC metadata key) whose value is hashed (<c>hashKey</c>); calls without it go to a random endpoint.</summary>
    public string? HashKey
    {
        get => PolicySettings.GetString(this, PolicySettings.HashKey);
        set => PolicySettings.Set(this, PolicySettings.HashKey, value);
    }
}

/// <summary>Selects <see cref="LoadBalancingPolicies.RingHash"/> in a channel's <see cref="ServiceConfig"/>.</summary>
public sealed class RingHashConfig : LoadBalancingConfig
{
    /// <summary>Creates the configuration.</summary>
    public RingHashConfig()
        : base(LoadBalancingPolicies.RingHash)
    {
    }

    /// <summary>The request header (gRPC metadata key) whose value is hashed (<c>hashKey</c>); calls without it go to a random endpoint.</summary>
    public string? HashKey
    {
        get => PolicySettings.GetString(this, PolicySettings.HashKey);
        set => PolicySettings.Set(this, PolicySettings.HashKey, value);
    }
}
