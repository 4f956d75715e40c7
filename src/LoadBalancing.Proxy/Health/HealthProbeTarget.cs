using System.Globalization;
using System.Net;
using System.Text;

namespace LoadBalancing.Proxy.Health;

/// <summary>Where and how one prober probes: the socket address, the TLS it probes over, and the request bytes built once.</summary>
internal sealed class HealthProbeTarget
{
    /// <param name="address">The endpoint's address: an IP, or a host name resolved at each connect.</param>
    /// <param name="port">The port probed.</param>
    /// <param name="settings">The check.</param>
    /// <param name="tls">The TLS HTTP and gRPC probes go over; null for plaintext.</param>
    /// <param name="cluster">The cluster that asked first, named in TLS messages.</param>
    public HealthProbeTarget(string address, int port, HealthCheckSettings settings, UpstreamTlsOptions? tls = null, string cluster = "")
    {
        Address = address;
        Port = port;
        Settings = settings;
        Tls = settings.Protocol == HealthCheckProtocol.Tcp ? null : tls;
        Cluster = cluster;
        EndPoint = IPAddress.TryParse(address, out var ip) ? new IPEndPoint(ip, port) : new DnsEndPoint(address, port);
        var scheme = Tls is null ? "http" : "https";
        var authority = (address.Contains(':', StringComparison.Ordinal) ? "[" + address + "]" : address)
            + (port == (Tls is null ? 80 : 443) ? "" : ":" + port.ToString(CultureInfo.InvariantCulture));
        var host = settings.Host ?? authority;
        HttpRequest = Encoding.ASCII.GetBytes(
            $"GET {settings.Path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: LoadBalancing-HealthCheck\r\nConnection: close\r\n\r\n");
        GrpcUri = new Uri(scheme + "://" + authority + "/grpc.health.v1.Health/Check");
        GrpcRequest = HealthProbes.GrpcRequestFrame(settings.ServiceName);
        Fingerprint = Tls is null
            ? settings.Fingerprint
            : string.Create(CultureInfo.InvariantCulture,
                $"{settings.Fingerprint}|tls|{Tls.ServerName}|{Tls.CaFile}|{Tls.ClientCertificateFile}|{Tls.ClientKeyFile}|{Tls.MinimumProtocol}|{Tls.SkipValidation}");
    }

    public string Address { get; }

    public int Port { get; }

    public HealthCheckSettings Settings { get; }

    /// <summary>The cluster's TLS options when probes use TLS; null for plaintext (and always for TCP probes).</summary>
    public UpstreamTlsOptions? Tls { get; }

    public string Cluster { get; }

    public EndPoint EndPoint { get; }

    public byte[] HttpRequest { get; }

    public Uri GrpcUri { get; }

    public byte[] GrpcRequest { get; }

    /// <summary>The check's settings and the TLS it goes over: targets with the same address, port and fingerprint share a prober.</summary>
    public string Fingerprint { get; }
}
