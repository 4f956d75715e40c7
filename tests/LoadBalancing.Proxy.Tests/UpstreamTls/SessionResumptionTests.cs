using System.Diagnostics;
using LoadBalancing.Proxy.Tests.Support;

namespace LoadBalancing.Proxy.Tests.UpstreamTls;

/// <summary>
/// A new connection to an endpoint resumes the TLS session of an earlier one (an abbreviated handshake). Checked against <c>openssl s_server -www</c>, whose status page says whether the
/// session was new or reused (Kestrel has no such view); skipped where the openssl tool is missing.
/// </summary>
public sealed class SessionResumptionTests
{
    private const string Name = "api.internal";

    [Fact(Timeout = 30_000)]
    public async Task SecondNewConnection_ResumesTheSession()
    {
        var ct = TestContext.Current.CancellationToken;
        using var pki = new TlsPki();
        var (crt, key) = pki.ServerFiles(Name);
        var address = Loopback.DeadEndpoint("127.0.0.4");
        Process server;
        try
        {
            server = Process.Start(new ProcessStartInfo("openssl", ["s_server", "-accept", address, "-cert", crt, "-key", key, "-www", "-naccept", "2"])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            })!;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            Assert.Skip("the openssl tool is not installed");
            return;
        }

        using (server)
        {
            try
            {
                // s_server says ACCEPT once it listens.
                while (await server.StandardOutput.ReadLineAsync(ct) is { } line && !line.StartsWith("ACCEPT", StringComparison.Ordinal))
                {
                }

                var options = TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, address);
                options.Clusters["web"].Tls = new UpstreamTlsOptions { ServerName = Name, CaFile = pki.WriteCa() };
                options.Clusters["web"].MaxIdleConnectionsPerEndpoint = 0; // a new connection per request
                await using var proxy = await TestProxy.StartAsync(options);

                var first = await proxy.Client.GetStringAsync("/", ct);
                var second = await proxy.Client.GetStringAsync("/", ct);

                Assert.Contains("\nNew, TLSv1.3", first, StringComparison.Ordinal);
                Assert.Contains("\nReused, TLSv1.3", second, StringComparison.Ordinal);
            }
            finally
            {
                if (!server.HasExited)
                {
                    server.Kill();
                }
            }
        }
    }
}
