using System.IO.Pipelines;
using LoadBalancing.Proxy.Upstream;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace LoadBalancing.Proxy.Forwarding;

internal sealed partial class HttpForwarder
{
    /// <summary>
    /// After a 101 from the upstream: switch the client connection too and copy bytes both ways until the
    /// upstream closes, or the client closes and the upstream follows (bounded by the idle timeout).
    /// </summary>
    private static async ValueTask TunnelAsync(HttpContext context, UpstreamConnection connection, Exchange exchange)
    {
        var client = await context.Features.Get<IHttpUpgradeFeature>()!.UpgradeAsync().ConfigureAwait(false);

        // The tunnel may sit idle for as long as its users like; only the client leaving ends it early. A route's
        // request timeout covers the upgrade, not the tunnel's life.
        exchange.Deadline = 0;
        exchange.Arm(Timeout.InfiniteTimeSpan);
        var toClient = CopyToClientAsync(connection.Input, client, exchange.Token);
        var toUpstream = CopyToUpstreamAsync(client, connection.Output, exchange.Token);
        var first = await Task.WhenAny(toClient, toUpstream).ConfigureAwait(false);
        if (first == toUpstream)
        {
            // The client finished sending; give the upstream a bounded time to finish too.
            exchange.Arm(TimeSpan.FromSeconds(30));
            await toClient.ConfigureAwait(false);
        }

        exchange.Cancel();
        await Task.WhenAll(toClient, toUpstream).ConfigureAwait(false);
    }

    private static async Task CopyToClientAsync(PipeReader upstream, Stream client, CancellationToken cancellationToken)
    {
        try
        {
            while (true)
            {
                var result = await upstream.ReadAsync(cancellationToken).ConfigureAwait(false);
                foreach (var segment in result.Buffer)
                {
                    await client.WriteAsync(segment, cancellationToken).ConfigureAwait(false);
                }

                upstream.AdvanceTo(result.Buffer.End);
                await client.FlushAsync(cancellationToken).ConfigureAwait(false);
                if (result.IsCompleted)
                {
                    return;
                }
            }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or ObjectDisposedException or InvalidOperationException)
        {
            // Either side went away; the tunnel is over.
        }
    }

    private static async Task CopyToUpstreamAsync(Stream client, PipeWriter upstream, CancellationToken cancellationToken)
    {
        try
        {
            await client.CopyToAsync(upstream, cancellationToken).ConfigureAwait(false);
            await upstream.CompleteAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or ObjectDisposedException or InvalidOperationException)
        {
            // Either side went away; the tunnel is over.
        }
    }
}
