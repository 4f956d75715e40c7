using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;

namespace LoadBalancing.Proxy.Kubernetes.Api;

/// <summary>
/// One object read, or one <c>/status</c> written, as raw JSON: one path serves core, networking and Gateway API
/// kinds alike, and fields a typed model does not know (a newer CRD's) survive the round trip. Errors are answers,
/// not exceptions: a conflict or a missing object is an expected outcome for the status writer.
/// </summary>
internal sealed partial class ObjectApi
{
    /// <summary>GET the object at <paramref name="path"/>: 200 with the object, or the error code with the Status's message.</summary>
    public Task<ApiAnswer> GetAsync(string path, CancellationToken cancellationToken) =>
        AnswerAsync(new HttpRequestMessage(HttpMethod.Get, new Uri(client.BaseUri, path)), cancellationToken);

    /// <summary>PUT <paramref name="body"/> to <paramref name="path"/>.</summary>
    public Task<ApiAnswer> PutAsync(string path, JsonObject body, CancellationToken cancellationToken) =>
        AnswerAsync(
            new HttpRequestMessage(HttpMethod.Put, new Uri(client.BaseUri, path))
            {
                Content = new StringContent(body.ToJsonString(), Encoding.UTF8, new MediaTypeHeaderValue("application/json")),
            },
            cancellationToken);

    private async Task<ApiAnswer> AnswerAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        using (request)
        {
            request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
            using var response = await SendRawAsync(request, HttpCompletionOption.ResponseContentRead, cancellationToken).ConfigureAwait(false);
            var body = ParseObject(await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false));
            if (response.IsSuccessStatusCode)
            {
                return body is null
                    ? new ApiAnswer(HttpStatusCode.BadGateway, null, "the API server's answer is not a JSON object")
                    : new ApiAnswer(response.StatusCode, body, "");
            }

            return new ApiAnswer(response.StatusCode, null, StatusMessage(body, response));
        }
    }
}

/// <summary>An API server answer: the status code, the object on success, the Status message otherwise.</summary>
internal readonly record struct ApiAnswer(HttpStatusCode Code, JsonObject? Body, string Message);
