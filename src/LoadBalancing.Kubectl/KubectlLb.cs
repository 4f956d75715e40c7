using System.Text.Json;
using k8s.Autorest;
using k8s.Exceptions;
using LoadBalancing.Kubectl.Cli;
using LoadBalancing.Kubectl.Commands;
using LoadBalancing.Kubectl.Kube;

namespace LoadBalancing.Kubectl;

/// <summary>
/// The <c>kubectl lb</c> entry point, callable in-process: parses the arguments, reads the proxy pods
/// through the API server, writes to the given writers. Exit codes: 0 done (diff: no differences), 1 diff found a
/// difference, 2 usage or access error.
/// </summary>
internal static class KubectlLb
{
    public const int Ok = 0;
    public const int Differs = 1;
    public const int Error = 2;

    public static async Task<int> RunAsync(string[] args, TextWriter stdout, TextWriter stderr, CancellationToken cancellationToken = default)
    {
        var options = CommandLine.TryParse(args, out var problem);
        if (options is null)
        {
            if (problem.Length == 0)
            {
                await stdout.WriteLineAsync(CommandLine.Usage);
                return Ok;
            }

            await stderr.WriteLineAsync($"error: {problem}\n\n{CommandLine.Usage}");
            return Error;
        }

        try
        {
            using var kube = KubeAccess.Connect(options);
            var pods = await SelectPodsAsync(kube, options, cancellationToken);
            if (pods.Count == 0)
            {
                await stderr.WriteLineAsync($"error: no running pods match -l {options.Selector} in namespace {kube.Namespace}");
                return Error;
            }

            var context = new CommandContext(options, kube, pods, stdout, cancellationToken);
            if (options.Watch is not { } interval)
            {
                return await RunCommandAsync(context);
            }

            // Like kubectl's --watch: draw, wait, draw again (the screen cleared first on a terminal) until interrupted.
            while (true)
            {
                if (ReferenceEquals(stdout, Console.Out) && !Console.IsOutputRedirected)
                {
                    await stdout.WriteAsync("\u001b[H\u001b[2J");
                }

                await stdout.WriteLineAsync(FormattableString.Invariant($"Every {interval.TotalSeconds:0.###} s: {DateTimeOffset.Now:HH:mm:ss}"));
                int code;
                try
                {
                    code = await RunCommandAsync(context);
                }
                catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
                {
                    return Ok; // interrupted while drawing
                }

                if (code != Ok)
                {
                    return code;
                }

                await stdout.FlushAsync(cancellationToken);
                try
                {
                    await Task.Delay(interval, cancellationToken);
                }
                catch (OperationCanceledException)
                {
                    return Ok;
                }
            }
        }
        catch (Exception e) when (e is HttpOperationException or HttpRequestException or JsonException or InvalidDataException or KubeConfigException or IOException)
        {
            await stderr.WriteLineAsync($"error: {Describe(e)}");
            return Error;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            // HttpClient's timeout surfaces as a cancellation nobody asked for.
            await stderr.WriteLineAsync($"error: no answer within --request-timeout ({options.RequestTimeout.TotalSeconds:0.#} s)");
            return Error;
        }
    }

    private static Task<int> RunCommandAsync(CommandContext context) => context.Options.Command switch
    {
        "backends" => BackendsCommand.RunAsync(context),
        "diff" => DiffCommand.RunAsync(context),
        "routes" => RoutesCommand.RunAsync(context),
        _ => FreshnessCommand.RunAsync(context),
    };

    /// <summary>
    /// <c>--pod</c>: that pod; <c>--all-pods</c>, <c>diff</c> and <c>freshness</c>: every matching pod (a difference or a
    /// stale view is per replica); otherwise the first matching pod by name.
    /// </summary>
    private static async Task<IReadOnlyList<string>> SelectPodsAsync(KubeAccess kube, CommandLine options, CancellationToken cancellationToken)
    {
        if (options.Pod is { } pod)
        {
            return [pod];
        }

        var pods = await kube.ProxyPodsAsync(options.Selector, cancellationToken);
        return options.AllPods || options.Command is "diff" or "freshness" ? pods : [.. pods.Take(1)];
    }

    private static string Describe(Exception e) => e is HttpOperationException { Response: { } response } http
        ? $"{http.Request?.Method} {http.Request?.RequestUri?.AbsolutePath}: {(int)response.StatusCode} {response.ReasonPhrase} {Trim(response.Content)}"
        : e.Message;

    private static string Trim(string? content) => content is null ? "" : content.Length > 300 ? content[..300] + "…" : content;
}
