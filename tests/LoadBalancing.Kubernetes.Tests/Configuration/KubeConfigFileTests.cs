using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using k8s;

namespace LoadBalancing.Kubernetes.Tests.Configuration;

/// <summary>
/// The reflection-free kubeconfig reader NativeAOT uses gives the client configuration KubernetesClient's own reader
/// gives, for the kubeconfig shapes clusters hand out: tokens, certificate files (relative to the file) and inline
/// data, several contexts, TLS options, exec plugins and auth providers.
/// </summary>
public sealed class KubeConfigFileTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("kubeconfig-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private static (string CertificatePem, string KeyPem) Certificate(string subject)
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        return (certificate.ExportCertificatePem(), key.ExportPkcs8PrivateKeyPem());
    }

    private static string Base64(string text) => Convert.ToBase64String(System.Text.Encoding.ASCII.GetBytes(text));

    private string Write(string name, string text)
    {
        var path = Path.Combine(_directory, name);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, text);
        return path;
    }

    private string Kubeconfig()
    {
        var ca = Certificate("CN=cluster-ca");
        var client = Certificate("CN=admin");
        Write("certs/ca.crt", ca.CertificatePem);
        Write("certs/client.crt", client.CertificatePem);
        Write("certs/client.key", client.KeyPem);
        return Write("config", $$"""
            apiVersion: v1
            kind: Config
            current-context: prod
            preferences: {}
            clusters:
            - name: prod-cluster
              cluster:
                server: https://10.0.0.1:6443
                certificate-authority-data: {{Base64(ca.CertificatePem)}}
                tls-server-name: kubernetes.default
            - name: dev-cluster
              cluster:
                server: "https://127.0.0.1:7443"
                certificate-authority: certs/ca.crt
            - name: insecure
              cluster:
                server: https://10.9.9.9
                insecure-skip-tls-verify: true
            users:
            - name: token-user
              user:
                token: abc.def.ghi
            - name: cert-user
              user:
                client-certificate: certs/client.crt
                client-key: certs/client.key
            - name: data-user
              user:
                client-certificate-data: {{Base64(client.CertificatePem)}}
                client-key-data: {{Base64(client.KeyPem)}}
            - name: basic-user
              user:
                username: admin
                password: 's3cret: yes'
            - name: exec-user
              user:
                exec:
                  apiVersion: client.authentication.k8s.io/v1
                  command: /usr/local/bin/credential-helper
                  args: [get-token, --cluster, prod]
                  env:
                  - name: REGION
                    value: eu-west-1
                  provideClusterInfo: true
                  interactiveMode: Never
            contexts:
            - name: prod
              context: { cluster: prod-cluster, user: token-user, namespace: edge }
            - name: dev
              context:
                cluster: dev-cluster
                user: cert-user
            - name: data
              context: { cluster: dev-cluster, user: data-user }
            - name: basic
              context: { cluster: insecure, user: basic-user, namespace: ~ }
            - name: exec
              context: { cluster: prod-cluster, user: exec-user }
            """);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("prod")]
    [InlineData("dev")]
    [InlineData("data")]
    [InlineData("basic")]
    public void Read_GivesTheConfigurationKubernetesClientsOwnReaderGives(string? context)
    {
        var path = Kubeconfig();

        var expected = KubernetesClientConfiguration.BuildConfigFromConfigFile(path, context);
        var actual = KubernetesClientConfiguration.BuildConfigFromConfigObject(KubeConfigFile.Read(path), context);

        Assert.Equal(expected.CurrentContext, actual.CurrentContext);
        Assert.Equal(expected.Host, actual.Host);
        Assert.Equal(expected.Namespace, actual.Namespace);
        Assert.Equal(expected.AccessToken, actual.AccessToken);
        Assert.Equal(expected.Username, actual.Username);
        Assert.Equal(expected.Password, actual.Password);
        Assert.Equal(expected.SkipTlsVerify, actual.SkipTlsVerify);
        Assert.Equal(expected.TlsServerName, actual.TlsServerName);
        Assert.Equal(expected.ClientCertificateFilePath, actual.ClientCertificateFilePath);
        Assert.Equal(expected.ClientKeyFilePath, actual.ClientKeyFilePath);
        Assert.Equal(expected.ClientCertificateData, actual.ClientCertificateData);
        Assert.Equal(expected.ClientCertificateKeyData, actual.ClientCertificateKeyData);
        Assert.Equal(expected.SslCaCerts?.Select(c => c.Thumbprint), actual.SslCaCerts?.Select(c => c.Thumbprint));
        Assert.Equal(expected.TokenProvider?.GetType(), actual.TokenProvider?.GetType());
    }

    [Fact]
    public void Read_ExecPlugin_KeepsCommandArgumentsAndEnvironment()
    {
        var exec = KubeConfigFile.Read(Kubeconfig()).Users.Single(u => u.Name == "exec-user").UserCredentials.ExternalExecution;

        Assert.Equal("client.authentication.k8s.io/v1", exec.ApiVersion);
        Assert.Equal("/usr/local/bin/credential-helper", exec.Command);
        Assert.Equal(["get-token", "--cluster", "prod"], exec.Arguments);
        Assert.Equal("eu-west-1", Assert.Single(exec.EnvironmentVariables)["value"]);
        Assert.True(exec.ProvideClusterInfo);
    }

    [Fact]
    public void Read_NotAMapping_NamesTheFile()
    {
        var path = Write("list", "- a\n- b\n");

        var error = Assert.Throws<InvalidDataException>(() => KubeConfigFile.Read(path));

        Assert.Contains(path, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Read_BrokenYaml_NamesTheFileAndThePlace()
    {
        var path = Write("broken", "clusters:\n  - name: a\n   cluster: [\n");

        var error = Assert.Throws<InvalidDataException>(() => KubeConfigFile.Read(path));

        Assert.Contains("is not valid YAML", error.Message, StringComparison.Ordinal);
    }
}
