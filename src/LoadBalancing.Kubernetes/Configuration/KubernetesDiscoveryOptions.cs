namespace LoadBalancing.Kubernetes;

/// <summary>
/// Where the API server is, which Services to follow, and the timings that keep the view fresh.
/// Bound from the <c>Kubernetes</c> configuration section; see <c>docs/kubernetes.md</c>.
/// </summary>
public sealed class KubernetesDiscoveryOptions
{
    /// <summary>
    /// An explicit API server URL (for example <c>http://127.0.0.1:8001</c> behind <c>kubectl proxy</c>).
    /// When neither this nor <see cref="KubeConfigPath"/> is set, the in-cluster service account is used.
    /// </summary>
    public string? ApiServer { get; set; }

    /// <summary>A bearer token for <see cref="ApiServer"/>, if it needs one.</summary>
    public string? AccessToken { get; set; }

    /// <summary>A kubeconfig file to read the server and credentials from.</summary>
    public string? KubeConfigPath { get; set; }

    /// <summary>The kubeconfig context to use; its current context by default.</summary>
    public string? KubeConfigContext { get; set; }

    /// <summary>The Services to follow.</summary>
    public IList<ServiceReference> Services { get; } = new List<ServiceReference>();

    /// <summary>Namespaces in which every Service is followed.</summary>
    public IList<string> Namespaces { get; } = new List<string>();

    /// <summary>The shortest server-side watch timeout asked for (randomised between this and <see cref="WatchTimeoutMax"/>). Default 5 min.</summary>
    public TimeSpan WatchTimeoutMin { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>The longest server-side watch timeout asked for. Default 10 min.</summary>
    public TimeSpan WatchTimeoutMax { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>
    /// How long a watch may go without delivering a line (event or bookmark) before it is torn down and
    /// re-established. API servers send a bookmark about every minute. Default 90 s.
    /// </summary>
    public TimeSpan WatchIdleTimeout { get; set; } = TimeSpan.FromSeconds(90);

    /// <summary>How long a list request may take. Default 30 s.</summary>
    public TimeSpan ListTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How often the view is confirmed against the API server (a consistent, metadata-only list compared with the
    /// view), whatever the watch is doing. Default 10 s.
    /// </summary>
    public TimeSpan ConfirmInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// How long the watch has to deliver a change a confirmation already sees before the change is applied from a
    /// list and, if the watch was open all along, counted as drift. Default 3 s.
    /// </summary>
    public TimeSpan ConfirmGrace { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary>The first reconnect delay after a failure; doubles (with jitter) up to <see cref="BackoffMax"/>. Default 0.8 s.</summary>
    public TimeSpan BackoffInitial { get; set; } = TimeSpan.FromMilliseconds(800);

    /// <summary>The longest reconnect delay. Default 30 s.</summary>
    public TimeSpan BackoffMax { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long the connection must stay healthy before the backoff starts again from the beginning. Default 60 s.</summary>
    public TimeSpan BackoffResetAfter { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>The shortest time between two publications of one Service (changes in between are coalesced); zero publishes at once. Default 100 ms.</summary>
    public TimeSpan MinPublishInterval { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>
    /// How long the view may go unconfirmed before it counts as stale. Stale because the API server cannot be
    /// reached: Degraded, and the proxy stays ready (every replica is in the same position). Stale although the API
    /// server answers: Unhealthy, and the proxy turns unready. Default 60 s.
    /// </summary>
    public TimeSpan StaleAfter { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// How long discovery's loops may go without any attempt (a list, a watch line, a confirmation) before they count
    /// as wedged: the liveness check fails and the kubelet restarts the process. Default 2 min.
    /// </summary>
    public TimeSpan WedgedAfter { get; set; } = TimeSpan.FromMinutes(2);
}

/// <summary>A Service port to follow.</summary>
public sealed class ServiceReference
{
    /// <summary>The Service's namespace. Default <c>default</c>.</summary>
    public string Namespace { get; set; } = "default";

    /// <summary>The Service's name.</summary>
    public string Name { get; set; } = "";

    /// <summary>
    /// The port, by name or endpoint port number, as it appears in the EndpointSlices. Empty: the Service's
    /// only port.
    /// </summary>
    public string? Port { get; set; }

    /// <inheritdoc />
    public override string ToString() => string.IsNullOrEmpty(Port) ? $"{Namespace}/{Name}" : $"{Namespace}/{Name}:{Port}";
}
