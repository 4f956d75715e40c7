using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace LoadBalancing.Proxy.Kubernetes.Status;

/// <summary>
/// Reads objects and writes their <c>/status</c> as raw JSON through KubernetesClient's configured
/// <see cref="HttpClient"/> and credentials. Raw JSON, not typed models: one path serves core, networking and Gateway
/// API kinds alike, and fields a typed model does not know (a newer CRD's) survive the round trip.
/// </summary>
internal sealed class StatusApi(k8s.Kubernetes client)
{
    /// <summary>GET the object at <paramref name="path"/>: 200 with the object, or the error code with the Status's message.</summary>
    public Task<ApiAnswer> GetAsync(string path, CancellationToken cancellationToken)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, new Uri(client.BaseUri, path));
        return SendAsync(request, cancellationToken);
    }

    /// <summary>PUT <paramref name="body"/> to <paramref name="path"/>.</summary>
    public Task<ApiAnswer> PutAsync(string path, JsonObject body, CancellationToken cancellationToken)
    {
        var request = new HttpRequestMessage(HttpMethod.Put, new Uri(client.BaseUri, path))
        {
            Content = new StringContent(body.ToJsonString(), Encoding.UTF8, new MediaTypeHeaderValue("application/json")),
        };
        return SendAsync(request, cancellationToken);
    }

    private async Task<ApiAnswer> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        using (request)
        {
            request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
            if (client.Credentials is { } credentials)
            {
                await credentials.ProcessHttpRequestAsync(request, cancellationToken).ConfigureAwait(false);
            }

            using var response = await client.HttpClient.SendAsync(request, HttpCompletionOption.ResponseContentRead, cancellationToken).ConfigureAwait(false);
            var text = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
            JsonObject? body;
            try
            {
                body = text.Length > 0 ? JsonNode.Parse(text) as JsonObject : null;
            }
            catch (JsonException)
            {
                body = null;
            }

            if (response.IsSuccessStatusCode)
            {
                return body is null
                    ? new ApiAnswer(HttpStatusCode.BadGateway, null, "the API server's answer is not a JSON object")
                    : new ApiAnswer(response.StatusCode, body, "");
            }

            var message = body?["message"] is JsonValue value && value.TryGetValue<string>(out var m) ? m : response.ReasonPhrase ?? "";
            return new ApiAnswer(response.StatusCode, null, message);
        }
    }
}

/// <summary>An API server answer: the status code, the object on success, the Status message otherwise.</summary>
internal readonly record struct ApiAnswer(HttpStatusCode Code, JsonObject? Body, string Message);
