using Grpc.Core;
using Grpc.Net.Client.Balancer;
using GrpcPickContext = Grpc.Net.Client.Balancer.PickContext;
using GrpcPickResult = Grpc.Net.Client.Balancer.PickResult;

namespace LoadBalancing.Grpc.Internal;

/// <summary>
/// Picks with the core <see cref="Balancer"/> and maps the endpoint back to its subchannel. Immutable; built by
/// <see cref="CoreSubchannelsBalancer"/> for each set of ready subchannels.
/// </summary>
internal sealed class CorePicker : SubchannelPicker
{
    private static readonly Status NoEndpoint = new(StatusCode.Unavailable, "No usable endpoint: every ready subchannel is ejected or excluded.");

    private readonly Balancer _balancer;
    private readonly Dictionary<EndpointState, Subchannel> _subchannels;
    private readonly string? _hashHeader;
    private readonly TimeProvider _time;

    public CorePicker(Balancer balancer, Dictionary<EndpointState, Subchannel> subchannels, string? hashHeader, TimeProvider time)
    {
        _balancer = balancer;
        _subchannels = subchannels;
        _hashHeader = hashHeader;
        _time = time;
    }

    public override GrpcPickResult Pick(GrpcPickContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var request = context.Request;
        if (request is not null && request.Options.TryGetValue(CallTracker.Key, out var earlier))
        {
            // The same call picked before and grpc-dotnet did not use that pick (the subchannel was no longer ready).
            earlier.ReleaseIfUnused();
        }

        var key = _hashHeader is null ? PickContext.None : KeyOf(request, _hashHeader);
        var pick = _balancer.Pick(in key);
        if (pick.State is null)
        {
            return GrpcPickResult.ForFailure(NoEndpoint);
        }

        if (!_subchannels.TryGetValue(pick.State, out var subchannel))
        {
            // The core already follows a newer set of ready subchannels than this picker knows; its successor is
            // being built, and grpc-dotnet waits for it.
            pick.Release();
            return GrpcPickResult.ForQueue();
        }

        var tracker = new CallTracker(pick, _time);
        request?.Options.Set(CallTracker.Key, tracker);
        return GrpcPickResult.ForSubchannel(subchannel, tracker);
    }

    private static PickContext KeyOf(HttpRequestMessage? request, string header)
    {
        // gRPC metadata travel as request headers, already on the message when the call is picked.
        if (request is not null && request.Headers.NonValidated.TryGetValues(header, out var values))
        {
            foreach (var value in values)
            {
                return PickContext.ForHash(RequestKey.FromString(value));
            }
        }

        return PickContext.None;
    }

    public override string ToString() => string.Join(", ", _subchannels.Values);
}
