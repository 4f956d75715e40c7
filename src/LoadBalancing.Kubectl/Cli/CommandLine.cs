namespace LoadBalancing.Kubectl.Cli;

/// <summary>The parsed command line: the command, its optional cluster, and kubectl's connection flags.</summary>
internal sealed record CommandLine(
    string Command,
    string? Cluster,
    string? KubeConfig,
    string? Context,
    string? Namespace,
    string? ApiServer,
    string Selector,
    int AdminPort,
    string? Pod,
    bool AllPods,
    bool Json,
    TimeSpan RequestTimeout,
    TimeSpan? Watch = null,
    bool Yaml = false)
{
    public static readonly TimeSpan DefaultWatchInterval = TimeSpan.FromSeconds(2);

    public const string DefaultSelector = "app=lb-proxy";
    public const int DefaultAdminPort = 9901;
    public static readonly TimeSpan DefaultRequestTimeout = TimeSpan.FromSeconds(30);

    public static readonly string[] Commands = ["backends", "diff", "routes", "freshness"];

    public const string Usage = """
        Usage: kubectl lb <command> [CLUSTER] [flags]

        Commands:
          backends [CLUSTER]   clusters and endpoints as each proxy sees them
          diff [CLUSTER]       each proxy's endpoints against the Service's EndpointSlices (exit 1 when any differ)
          routes               routes, their origin and their clusters' freshness
          freshness            per replica and cluster: freshness, staleness, last confirmed; route-source feeds

        Flags:
          -n, --namespace NS      namespace of the proxy pods (default: the context's, else "default")
          -l, --selector SEL      label selector of the proxy pods (default: app=lb-proxy)
              --admin-port PORT   the proxy's admin port (default: 9901)
              --pod NAME          ask this pod only
              --all-pods          ask every pod (diff and freshness always do)
          -o, --output FORMAT     table (default), json or yaml
          -w, --watch             draw again every --interval until interrupted (backends, routes, freshness)
              --interval T        how often --watch draws: 2s (default), 500ms, 1m
              --kubeconfig PATH   kubeconfig file (default: $KUBECONFIG, else ~/.kube/config)
              --context NAME      kubeconfig context (default: the current one)
              --api-server URL    talk to this API server, without credentials (tests, kubectl proxy)
              --request-timeout T longest wait for one request: 30s (default), 1m, or seconds
        """;

    /// <summary>Reads <paramref name="args"/>; on failure returns null and says why in <paramref name="error"/>.</summary>
    public static CommandLine? TryParse(IReadOnlyList<string> args, out string error)
    {
        string? command = null, cluster = null, kubeConfig = null, context = null, ns = null, apiServer = null, pod = null;
        var selector = DefaultSelector;
        var adminPort = DefaultAdminPort;
        var allPods = false;
        var json = false;
        var requestTimeout = DefaultRequestTimeout;
        var watch = false;
        var yaml = false;
        var interval = DefaultWatchInterval;
        string? missing = null;
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            string? inline = null;
            if (arg.StartsWith("--", StringComparison.Ordinal) && arg.IndexOf('=', StringComparison.Ordinal) is var eq and > 0)
            {
                inline = arg[(eq + 1)..];
                arg = arg[..eq];
            }

            switch (arg)
            {
                case "-n" or "--namespace":
                    ns = Value(ref i);
                    break;
                case "-l" or "--selector":
                    selector = Value(ref i) ?? selector;
                    break;
                case "--admin-port":
                    var port = Value(ref i);
                    if (!int.TryParse(port, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out adminPort) || adminPort is < 1 or > 65535)
                    {
                        error = $"--admin-port: '{port}' is not a port number (1 to 65535)";
                        return null;
                    }

                    break;
                case "--pod":
                    pod = Value(ref i);
                    break;
                case "--all-pods":
                    allPods = true;
                    break;
                case "-o" or "--output":
                    var format = Value(ref i);
                    if (format is not ("table" or "json" or "yaml"))
                    {
                        error = $"--output: '{format}' is not table, json or yaml";
                        return null;
                    }

                    json = format is "json" or "yaml";
                    yaml = format == "yaml";
                    break;
                case "--kubeconfig":
                    kubeConfig = Value(ref i);
                    break;
                case "--context":
                    context = Value(ref i);
                    break;
                case "--api-server":
                    apiServer = Value(ref i);
                    break;
                case "--request-timeout":
                    var timeout = Value(ref i);
                    if (timeout is not null)
                    {
                        if (ParseTimeout(timeout) is not { } parsed)
                        {
                            error = $"--request-timeout: '{timeout}' is not a duration such as 30s, 1m or 10 (seconds), above zero";
                            return null;
                        }

                        requestTimeout = parsed;
                    }

                    break;
                case "-w" or "--watch":
                    watch = true;
                    break;
                case "--interval":
                    var every = Value(ref i);
                    if (every is not null)
                    {
                        if (ParseTimeout(every) is not { } parsed)
                        {
                            error = $"--interval: '{every}' is not a duration such as 2s, 500ms or 1m, above zero";
                            return null;
                        }

                        interval = parsed;
                    }

                    break;
                case "-h" or "--help":
                    error = "";
                    return null;
                default:
                    if (arg.StartsWith('-'))
                    {
                        error = $"unknown flag '{arg}'";
                        return null;
                    }

                    if (command is null)
                    {
                        command = arg;
                    }
                    else if (cluster is null)
                    {
                        cluster = arg;
                    }
                    else
                    {
                        error = $"unexpected argument '{arg}'";
                        return null;
                    }

                    break;
            }

            if (missing is { } flag)
            {
                error = $"{flag} needs a value";
                return null;
            }

            string? Value(ref int index)
            {
                if (inline is not null)
                {
                    return inline;
                }

                if (index + 1 < args.Count)
                {
                    return args[++index];
                }

                missing = arg;
                return null;
            }
        }

        if (command is null || !Commands.Contains(command))
        {
            error = command is null ? "no command given" : $"unknown command '{command}'";
            return null;
        }

        if (pod is not null && allPods)
        {
            error = "--pod and --all-pods exclude each other";
            return null;
        }

        if (cluster is not null && command is "routes" or "freshness")
        {
            error = $"{command} takes no CLUSTER argument";
            return null;
        }

        error = "";
        if (watch && command == "diff")
        {
            error = "--watch is for backends, routes and freshness; diff answers once, with its exit code";
            return null;
        }

        return new CommandLine(command, cluster, kubeConfig, context, ns, apiServer, selector, adminPort, pod, allPods, json, requestTimeout, watch ? interval : null, yaml);
    }

    /// <summary>kubectl's forms: <c>30s</c>, <c>1m</c>, <c>1h</c>, or a bare number of seconds.</summary>
    private static TimeSpan? ParseTimeout(string text)
    {
        if (text.EndsWith("ms", StringComparison.Ordinal))
        {
            return int.TryParse(text[..^2], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var ms) && ms > 0
                ? TimeSpan.FromMilliseconds(ms)
                : null;
        }

        var (digits, unit) = text.Length > 0 && char.IsLetter(text[^1]) ? (text[..^1], text[^1]) : (text, 's');
        if (!int.TryParse(digits, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var value) || value <= 0)
        {
            return null;
        }

        return unit switch
        {
            's' => TimeSpan.FromSeconds(value),
            'm' => TimeSpan.FromMinutes(value),
            'h' => TimeSpan.FromHours(value),
            _ => null,
        };
    }
}
