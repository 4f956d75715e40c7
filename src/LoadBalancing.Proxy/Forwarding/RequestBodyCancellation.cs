using System.IO.Pipelines;

namespace LoadBalancing.Proxy.Forwarding;

/// <summary>
/// Ends a read of the client's request body with <see cref="PipeReader.CancelPendingRead"/> when a token is cancelled,
/// for reads that take no token: Kestrel's body reader stays "reading" after a read its own token cancelled, and then
/// cannot drain the rest of the body, so the client's connection is closed with an error logged (an upstream that
/// answers before reading an upload). The read then returns a canceled result, which the reader must advance past.
/// A token cancelled before the read starts cancels it at once; one cancelled after it ended leaves a canceled result
/// for the next read, which Kestrel's drain and parser take in their stride.
/// </summary>
internal static class RequestBodyCancellation
{
    public static CancellationTokenRegistration Register(PipeReader body, CancellationToken cancellationToken) =>
        cancellationToken.UnsafeRegister(static state => ((PipeReader)state!).CancelPendingRead(), body);
}
