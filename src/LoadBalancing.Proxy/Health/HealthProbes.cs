using System.Buffers.Binary;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using LoadBalancing.Proxy.Upstream.Tls;

namespace LoadBalancing.Proxy.Health;

/// <summary>What one probe found: whether it passed, and what an operator reads (<c>HTTP 503</c>, <c>connect refused</c>).</summary>
internal readonly record struct ProbeResult(bool Passed, string Result);

/// <summary>The three probes. Each is bounded by the check's timeout (on the cluster's clock) and never throws.</summary>
internal static class HealthProbes
{
    private const int MaxStatusLineBytes = 1024;
    private const int MaxGrpcResponseBytes = 4096;

    /// <param name="target">What is probed.</param>
    /// <param name="grpc">The HTTP/2 client of gRPC probes (over the target's TLS when it has one).</param>
    /// <param name="tls">The TLS of HTTP probes; null for plaintext.</param>
    /// <param name="time">The clock of the timeout.</param>
    /// <param name="stopping">Cancelled when the prober stops.</param>
    public static async Task<ProbeResult> ProbeAsync(HealthProbeTarget target, HttpMessageInvoker grpc, UpstreamTlsSettings? tls, TimeProvider time, CancellationToken stopping)
    {
        using var timeout = new CancellationTokenSource(target.Settings.Timeout, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, stopping);
        try
        {
            return target.Settings.Protocol switch
            {
                HealthCheckProtocol.Tcp => await TcpAsync(target, linked.Token).ConfigureAwait(false),
                HealthCheckProtocol.Grpc => await GrpcAsync(target, grpc, linked.Token).ConfigureAwait(false),
                _ => await HttpAsync(target, tls, linked.Token).ConfigureAwait(false),
            };
        }
        catch (UpstreamTlsException e) when (!e.TimedOut)
        {
            return new ProbeResult(false, e.Kind + ": " + e.Message);
        }
        catch (HttpRequestException e) when (TlsRefusal(e) is { TimedOut: false } refusal)
        {
            return new ProbeResult(false, refusal.Kind + ": " + refusal.Message);
        }
        catch (Exception e) when (e is UpstreamTlsException or HttpRequestException && timeout.IsCancellationRequested)
        {
            return new ProbeResult(false, "timeout after " + Seconds(target.Settings.Timeout));
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested)
        {
            return new ProbeResult(false, "timeout after " + Seconds(target.Settings.Timeout));
        }
        catch (OperationCanceledException)
        {
            return new ProbeResult(false, "stopped");
        }
        catch (SocketException e)
        {
            return new ProbeResult(false, Describe(e.SocketErrorCode));
        }
        catch (HttpRequestException e) when (e.InnerException is SocketException socket)
        {
            return new ProbeResult(false, Describe(socket.SocketErrorCode));
        }
        catch (HttpRequestException) when (timeout.IsCancellationRequested)
        {
            return new ProbeResult(false, "timeout after " + Seconds(target.Settings.Timeout));
        }
        catch (Exception e) when (e is HttpRequestException or IOException or InvalidDataException)
        {
            return new ProbeResult(false, "bad response: " + e.Message);
        }
    }

    private static UpstreamTlsException? TlsRefusal(Exception e)
    {
        for (var inner = e.InnerException; inner is not null; inner = inner.InnerException)
        {
            if (inner is UpstreamTlsException refusal)
            {
                return refusal;
            }
        }

        return null;
    }

    private static string Describe(SocketError error) => error switch
    {
        SocketError.ConnectionRefused => "connect refused",
        SocketError.HostUnreachable or SocketError.NetworkUnreachable or SocketError.HostNotFound or SocketError.TryAgain => "connect unreachable",
        SocketError.ConnectionReset or SocketError.ConnectionAborted => "connection reset",
        SocketError.TimedOut => "connect timeout",
        _ => "socket error " + error,
    };

    internal static string Seconds(TimeSpan value) =>
        value.Ticks % TimeSpan.TicksPerSecond == 0
            ? ((long)value.TotalSeconds).ToString(CultureInfo.InvariantCulture) + "s"
            : Math.Round(value.TotalMilliseconds).ToString(CultureInfo.InvariantCulture) + "ms";

    private static Socket NewSocket(EndPoint endpoint) => endpoint is IPEndPoint ip
        ? new Socket(ip.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true }
        : new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };

    private static async Task<ProbeResult> TcpAsync(HealthProbeTarget target, CancellationToken cancellationToken)
    {
        using var socket = NewSocket(target.EndPoint);
        await socket.ConnectAsync(target.EndPoint, cancellationToken).ConfigureAwait(false);
        return new ProbeResult(true, "connected");
    }

    /// <summary><c>GET path HTTP/1.1</c> on a new connection (over TLS when given), closed after the status line: no pool, no reuse.</summary>
    private static async Task<ProbeResult> HttpAsync(HealthProbeTarget target, UpstreamTlsSettings? tls, CancellationToken cancellationToken)
    {
        using var socket = NewSocket(target.EndPoint);
        await socket.ConnectAsync(target.EndPoint, cancellationToken).ConfigureAwait(false);
        Stream stream = tls is null
            ? new NetworkStream(socket, ownsSocket: false)
            : await tls.AuthenticateAsync(socket, target.Address, cancellationToken).ConfigureAwait(false);
        await using (stream.ConfigureAwait(false))
        {
            await stream.WriteAsync(target.HttpRequest, cancellationToken).ConfigureAwait(false);
            await stream.FlushAsync(cancellationToken).ConfigureAwait(false);

            var buffer = new byte[MaxStatusLineBytes];
            var filled = 0;
            while (true)
            {
                var read = await stream.ReadAsync(buffer.AsMemory(filled), cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    return new ProbeResult(false, filled == 0 ? "closed without a response" : "bad response: truncated status line");
                }

                filled += read;
                var end = buffer.AsSpan(0, filled).IndexOf((byte)'\n');
                if (end >= 0)
                {
                    return ParseStatusLine(buffer.AsSpan(0, end), target.Settings);
                }

                if (filled == buffer.Length)
                {
                    return new ProbeResult(false, "bad response: status line too long");
                }
            }
        }
    }

    private static ProbeResult ParseStatusLine(ReadOnlySpan<byte> line, HealthCheckSettings settings)
    {
        // HTTP/1.x SP 3DIGIT [SP reason] CR
        if (line.Length < 12 || !line.StartsWith("HTTP/1."u8) || line[8] != (byte)' '
            || !char.IsAsciiDigit((char)line[9]) || !char.IsAsciiDigit((char)line[10]) || !char.IsAsciiDigit((char)line[11]))
        {
            return new ProbeResult(false, "bad response: not an HTTP/1.x status line");
        }

        var status = ((line[9] - '0') * 100) + ((line[10] - '0') * 10) + (line[11] - '0');
        return new ProbeResult(settings.Passes(status), "HTTP " + status.ToString(CultureInfo.InvariantCulture));
    }

    private static readonly string[] ServingStatusNames = ["UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"];

    /// <summary><c>grpc.health.v1.Health/Check</c>: one unary call with HTTP/2 prior knowledge; SERVING and grpc-status 0 pass.</summary>
    private static async Task<ProbeResult> GrpcAsync(HealthProbeTarget target, HttpMessageInvoker client, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, target.GrpcUri)
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = new ByteArrayContent(target.GrpcRequest),
        };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/grpc");
        request.Headers.TE.Add(new TransferCodingWithQualityHeaderValue("trailers"));
        if (target.Settings.Host is { } host)
        {
            request.Headers.Host = host;
        }

        using var response = await client.SendAsync(request, cancellationToken).ConfigureAwait(false);
        if (response.StatusCode != HttpStatusCode.OK)
        {
            return new ProbeResult(false, "HTTP " + ((int)response.StatusCode).ToString(CultureInfo.InvariantCulture));
        }

        var body = await ReadBoundedAsync(response.Content, cancellationToken).ConfigureAwait(false);

        // A trailers-only response carries grpc-status in the headers.
        var grpcStatus = Header(response.TrailingHeaders, "grpc-status") ?? Header(response.Headers, "grpc-status");
        if (grpcStatus is null)
        {
            return new ProbeResult(false, "grpc no grpc-status");
        }

        if (grpcStatus != "0")
        {
            return new ProbeResult(false, "grpc-status " + grpcStatus);
        }

        if (ParseServingStatus(body) is not { } serving)
        {
            return new ProbeResult(false, "bad response: no HealthCheckResponse");
        }

        var name = serving >= 0 && serving < ServingStatusNames.Length ? ServingStatusNames[serving] : serving.ToString(CultureInfo.InvariantCulture);
        return new ProbeResult(serving == 1, "grpc " + name);
    }

    private static string? Header(HttpHeaders headers, string name) =>
        headers.TryGetValues(name, out var values) ? values.FirstOrDefault()?.Trim() : null;

    private static async Task<byte[]> ReadBoundedAsync(HttpContent content, CancellationToken cancellationToken)
    {
        var stream = await content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        await using (stream.ConfigureAwait(false))
        {
            var buffer = new byte[MaxGrpcResponseBytes];
            var filled = 0;
            int read;
            while (filled < buffer.Length && (read = await stream.ReadAsync(buffer.AsMemory(filled), cancellationToken).ConfigureAwait(false)) > 0)
            {
                filled += read;
            }

            return buffer[..filled];
        }
    }

    /// <summary>The HealthCheckRequest frame: uncompressed, big-endian length, then field 1 (service, a string) when not empty.</summary>
    public static byte[] GrpcRequestFrame(string service)
    {
        var name = Encoding.UTF8.GetBytes(service);
        var message = new List<byte>(name.Length + 6);
        if (name.Length > 0)
        {
            message.Add(0x0A); // field 1, wire type 2 (length-delimited)
            for (var length = (uint)name.Length; ; length >>= 7)
            {
                if (length < 0x80)
                {
                    message.Add((byte)length);
                    break;
                }

                message.Add((byte)(length | 0x80));
            }

            message.AddRange(name);
        }

        var frame = new byte[5 + message.Count];
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(1), (uint)message.Count);
        message.CopyTo(frame, 5);
        return frame;
    }

    /// <summary>Field 1 (status, a varint) of the first HealthCheckResponse frame; 0 (UNKNOWN) when absent, null when malformed.</summary>
    internal static int? ParseServingStatus(ReadOnlySpan<byte> body)
    {
        if (body.Length < 5 || body[0] != 0)
        {
            return null;
        }

        var length = BinaryPrimitives.ReadUInt32BigEndian(body[1..]);
        if (length > (uint)(body.Length - 5))
        {
            return null;
        }

        var message = body.Slice(5, (int)length);
        var status = 0;
        while (!message.IsEmpty)
        {
            if (!TryReadVarint(ref message, out var tag))
            {
                return null;
            }

            switch (tag & 7)
            {
                case 0:
                    if (!TryReadVarint(ref message, out var value))
                    {
                        return null;
                    }

                    if (tag >> 3 == 1)
                    {
                        status = (int)Math.Min(value, int.MaxValue);
                    }

                    break;
                case 2:
                    if (!TryReadVarint(ref message, out var size) || size > (ulong)message.Length)
                    {
                        return null;
                    }

                    message = message[(int)size..];
                    break;
                case 1 when message.Length >= 8:
                    message = message[8..];
                    break;
                case 5 when message.Length >= 4:
                    message = message[4..];
                    break;
                default:
                    return null;
            }
        }

        return status;
    }

    private static bool TryReadVarint(ref ReadOnlySpan<byte> data, out ulong value)
    {
        value = 0;
        for (var shift = 0; shift < 64 && !data.IsEmpty; shift += 7)
        {
            var b = data[0];
            data = data[1..];
            value |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80)
            {
                return true;
            }
        }

        return false;
    }
}
