using System.Buffers;
using Microsoft.AspNetCore.Connections;

namespace FloorServer;

/// <summary>Answers each request head on a Kestrel connection with <see cref="Responses.Whole"/>; no HTTP layer.</summary>
internal sealed class FixedResponseHandler : ConnectionHandler
{
    public override async Task OnConnectedAsync(ConnectionContext connection)
    {
        var input = connection.Transport.Input;
        var output = connection.Transport.Output;
        var matched = 0;
        while (true)
        {
            var result = await input.ReadAsync().ConfigureAwait(false);
            var ends = 0;
            foreach (var segment in result.Buffer)
            {
                ends += Responses.CountRequestEnds(segment.Span, ref matched);
            }

            input.AdvanceTo(result.Buffer.End);
            for (var i = 0; i < ends; i++)
            {
                output.Write(Responses.Whole);
            }

            if (ends > 0)
            {
                await output.FlushAsync().ConfigureAwait(false);
            }

            if (result.IsCompleted)
            {
                return;
            }
        }
    }
}
