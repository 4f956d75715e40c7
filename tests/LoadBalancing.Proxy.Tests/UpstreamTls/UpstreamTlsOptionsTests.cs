using System.Text;
using Microsoft.Extensions.Configuration;

namespace LoadBalancing.Proxy.Tests.UpstreamTls;

/// <summary>The <c>Tls</c> section of a cluster: how it binds, and every problem named by its full key path.</summary>
public sealed class UpstreamTlsOptionsTests
{
    private static (ProxyOptions Options, IReadOnlyList<string> Errors) Load(string tlsJson)
    {
        var json = $$"""
            { "Proxy": {
              "Listeners": [ { "Url": "http://127.0.0.1:8080" } ],
              "Routes": [ { "Path": "/", "Cluster": "web" } ],
              "Clusters": { "web": { "Endpoints": [ { "Address": "10.0.0.1:443" } ] {{tlsJson}} } } } }
            """;
        var configuration = new ConfigurationBuilder().AddJsonStream(new MemoryStream(Encoding.UTF8.GetBytes(json))).Build();
        ProxyConfiguration.TryLoad(configuration.GetSection("Proxy"), out var options, out var errors);
        return (options, errors);
    }

    private static string Json(string path) => path.Replace("\\", "\\\\", StringComparison.Ordinal);

    [Fact]
    public void NoSection_IsPlaintext_AnEmptySectionTurnsTlsOn_AndEnabledFalseTurnsItOff()
    {
        Assert.Null(Load("").Options.Clusters["web"].Tls);

        var (empty, errors) = Load(""", "Tls": { }""");
        Assert.Empty(errors);
        var tls = Assert.IsType<UpstreamTlsOptions>(empty.Clusters["web"].Tls);
        Assert.True(tls.Enabled);
        Assert.Equal(UpstreamTlsProtocol.Tls12, tls.MinimumProtocol);
        Assert.False(tls.SkipValidation);
        Assert.Null(tls.ServerName);
        Assert.Null(tls.CaFile);

        Assert.False(Load(""", "Tls": { "Enabled": false }""").Options.Clusters["web"].Tls!.Enabled);

        // The configuration system cannot tell JSON null from { }: both turn TLS on, which fails loudly if unintended.
        Assert.True(Load(""", "Tls": null""").Options.Clusters["web"].Tls!.Enabled);
    }

    [Fact]
    public void EveryKey_Binds()
    {
        using var pki = new TlsPki();
        var ca = pki.WriteCa();
        var (_, crt, key) = pki.Client();
        var (options, errors) = Load($$"""
            , "Tls": { "ServerName": "api.internal", "CaFile": "{{Json(ca)}}", "ClientCertificateFile": "{{Json(crt)}}",
                       "ClientKeyFile": "{{Json(key)}}", "MinimumProtocol": "tls13", "SkipValidation": true }
            """);

        Assert.Empty(errors);
        var tls = options.Clusters["web"].Tls!;
        Assert.Equal("api.internal", tls.ServerName);
        Assert.Equal(ca, tls.CaFile);
        Assert.Equal(crt, tls.ClientCertificateFile);
        Assert.Equal(key, tls.ClientKeyFile);
        Assert.Equal(UpstreamTlsProtocol.Tls13, tls.MinimumProtocol);
        Assert.True(tls.SkipValidation);
    }

    [Fact]
    public void MissingFiles_AndAKeyWithoutItsCertificate_AreNamedByTheirKeyPaths()
    {
        var (_, missing) = Load(""", "Tls": { "CaFile": "/nonexistent/ca.crt" }""");
        Assert.Equal(["Proxy:Clusters:web:Tls:CaFile: file '/nonexistent/ca.crt' does not exist."], missing);

        var (_, keyOnly) = Load(""", "Tls": { "ClientKeyFile": "/nonexistent/tls.key" }""");
        Assert.Equal(["Proxy:Clusters:web:Tls:ClientKeyFile is set but Proxy:Clusters:web:Tls:ClientCertificateFile is not; a client certificate needs both (PEM, as a Kubernetes TLS Secret's tls.crt and tls.key)."], keyOnly);

        var (_, certificateOnly) = Load(""", "Tls": { "ClientCertificateFile": "/nonexistent/tls.crt" }""");
        Assert.Equal(["Proxy:Clusters:web:Tls:ClientCertificateFile is set but Proxy:Clusters:web:Tls:ClientKeyFile is not; a client certificate needs both (PEM, as a Kubernetes TLS Secret's tls.crt and tls.key)."], certificateOnly);
    }

    [Fact]
    public void UnknownProtocol_AndAnIpAsServerName_AreRefused()
    {
        var (_, protocol) = Load(""", "Tls": { "MinimumProtocol": "Tls11" }""");
        Assert.StartsWith("Proxy:Clusters:web:Tls:MinimumProtocol: 'Tls11' is not a TLS version;", Assert.Single(protocol), StringComparison.Ordinal);
        Assert.Contains("accepted: Tls12, Tls13", protocol[0], StringComparison.Ordinal);

        var (_, serverName) = Load(""", "Tls": { "ServerName": "10.0.0.1" }""");
        Assert.StartsWith("Proxy:Clusters:web:Tls:ServerName: '10.0.0.1' is not a host name;", Assert.Single(serverName), StringComparison.Ordinal);
    }

    [Fact]
    public void FilesThatAreNotPem_OrAKeyOfAnotherCertificate_AreRefused()
    {
        using var pki = new TlsPki();
        var garbage = pki.Write("garbage.pem", "not a certificate");
        var (_, ca) = Load($$""", "Tls": { "CaFile": "{{Json(garbage)}}" }""");
        Assert.Equal([$"Proxy:Clusters:web:Tls:CaFile: '{garbage}' holds no PEM certificate (-----BEGIN CERTIFICATE-----)."], ca);

        var (_, crt, _) = pki.Client();
        using var other = new TlsPki();
        var (_, _, otherKey) = other.Client();
        var (_, pair) = Load($$""", "Tls": { "ClientCertificateFile": "{{Json(crt)}}", "ClientKeyFile": "{{Json(otherKey)}}" }""");
        Assert.StartsWith($"Proxy:Clusters:web:Tls:ClientKeyFile: '{otherKey}' is not the PEM private key of the certificate in '{crt}'", Assert.Single(pair), StringComparison.Ordinal);
    }

    [Fact]
    public void TheDocsExamples_Load_MissingOnlyTheirCertificateFiles()
    {
        var markdown = ReadDoc("docs/proxy.md");
        var at = markdown.IndexOf("## Upstream TLS\n", StringComparison.Ordinal);
        Assert.True(at >= 0, "no '## Upstream TLS' section");
        var examples = new List<ProxyOptions>();
        for (var start = markdown.IndexOf("```json\n", at, StringComparison.Ordinal); start >= 0 && markdown.IndexOf("\n## ", at + 1, StringComparison.Ordinal) > start;
             start = markdown.IndexOf("```json\n", start + 1, StringComparison.Ordinal))
        {
            var from = start + "```json\n".Length;
            var json = markdown[from..markdown.IndexOf("\n```", from, StringComparison.Ordinal)];
            var configuration = new ConfigurationBuilder().AddJsonStream(new MemoryStream(Encoding.UTF8.GetBytes(json))).Build();
            ProxyConfiguration.TryLoad(configuration.GetSection("Proxy"), out var options, out var errors);

            // The files exist only on the reader's machine.
            Assert.Equal(3, errors.Count);
            Assert.All(errors, e => Assert.Matches(@"^Proxy:Clusters:\w+:Tls:(CaFile|ClientCertificateFile|ClientKeyFile): file '/[^']+' does not exist\.$", e));
            examples.Add(options);
        }

        Assert.Equal(2, examples.Count);
        Assert.Contains(examples, o => o.Clusters.Values.Single().Kubernetes is not null && o.Clusters.Values.Single().Tls!.ServerName is not null);
    }

    private static string ReadDoc(string relative)
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            var candidate = Path.Combine(directory.FullName, relative);
            if (File.Exists(candidate))
            {
                return File.ReadAllText(candidate);
            }
        }

        throw new FileNotFoundException($"{relative} not found above {AppContext.BaseDirectory}");
    }

    [Fact]
    public void ADisabledSection_IsNotChecked()
    {
        var (_, errors) = Load(""", "Tls": { "Enabled": false, "CaFile": "/nonexistent/ca.crt" }""");
        Assert.Empty(errors);
    }
}
