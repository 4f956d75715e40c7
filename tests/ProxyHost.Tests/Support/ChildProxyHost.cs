using System.Diagnostics;
using System.Text.RegularExpressions;
using System.Threading.Channels;

namespace ProxyHost.Tests.Support;

/// <summary>
/// The built ProxyHost (or the one <c>PROXYHOST_UNDER_TEST</c> names) as a child process with a configuration file,
/// started and waited for until it says where it listens; its output kept and readable line by line; killed (tree)
/// when disposed.
/// </summary>
internal sealed partial class ChildProxyHost : IAsyncDisposable
{
    private static readonly TimeSpan StartBound = TimeSpan.FromSeconds(30);

    private readonly Process _process;
    private readonly System.Text.StringBuilder _output = new();
    private readonly Channel<string> _lines = Channel.CreateUnbounded<string>();

    private ChildProxyHost(Process process) => _process = process;

    /// <summary>The proxy's first listener, as <c>host:port</c>.</summary>
    public string ProxyEndPoint { get; private set; } = "";

    public Uri Proxy => new($"http://{ProxyEndPoint}/");

    public Uri Admin { get; private set; } = null!;

    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    /// <summary>Everything the host wrote, standard output and error interleaved.</summary>
    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    /// <param name="configFile">Passed as <c>--config</c>.</param>
    /// <param name="environment">Changes to the environment the host inherits from the test.</param>
    public static async Task<ChildProxyHost> StartAsync(string configFile, Action<IDictionary<string, string?>>? environment = null)
    {
        var path = Environment.GetEnvironmentVariable("PROXYHOST_UNDER_TEST") is { Length: > 0 } other
            ? other
            : Path.Combine(AppContext.BaseDirectory, OperatingSystem.IsWindows() ? "ProxyHost.exe" : "ProxyHost");
        var start = new ProcessStartInfo(path) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add("--config");
        start.ArgumentList.Add(configFile);
        environment?.Invoke(start.Environment);

        var host = new ChildProxyHost(Process.Start(start)!);
        var listening = new TaskCompletionSource<Match>(TaskCreationOptions.RunContinuationsAsynchronously);
        host._process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                host._lines.Writer.TryComplete();
                listening.TrySetException(new InvalidOperationException("the host ended before listening: " + host.Output));
                return;
            }

            host.Append(e.Data);
            host._lines.Writer.TryWrite(e.Data);
            if (Listening().Match(e.Data) is { Success: true } match)
            {
                listening.TrySetResult(match);
            }
        };
        host._process.ErrorDataReceived += (_, e) => host.Append(e.Data);
        host._process.BeginOutputReadLine();
        host._process.BeginErrorReadLine();
        try
        {
            var match = await listening.Task.WaitAsync(StartBound, TestContext.Current.CancellationToken);
            host.ProxyEndPoint = match.Groups[1].Value;
            host.Admin = new Uri($"http://{match.Groups[2].Value}/");
            return host;
        }
        catch
        {
            await host.DisposeAsync();
            throw;
        }
    }

    /// <summary>The next line of standard output that <paramref name="match"/> accepts (lines before it are passed over).</summary>
    public async Task<string> NextLineAsync(Func<string, bool> match, CancellationToken ct)
    {
        while (true)
        {
            var line = await _lines.Reader.ReadAsync(ct);
            if (match(line))
            {
                return line;
            }
        }
    }

    /// <summary>Sends a Unix signal (<c>HUP</c>, <c>USR1</c>) and waits for <c>kill</c> to have delivered it.</summary>
    public void Signal(string signal)
    {
        using var kill = Process.Start("kill", ["-" + signal, _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        kill.WaitForExit(10_000);
    }

    /// <summary>How many of the host's threads have a name (Linux's <c>comm</c>, 15 bytes) starting with <paramref name="prefix"/>.</summary>
    public int ThreadsNamed(string prefix) =>
        Directory.GetDirectories($"/proc/{_process.Id}/task").Count(task => ThreadName(task).StartsWith(prefix, StringComparison.Ordinal));

    private static string ThreadName(string task)
    {
        try
        {
            return File.ReadAllText(Path.Combine(task, "comm")).Trim();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return ""; // the thread ended between listing and reading
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }

        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await _process.WaitForExitAsync(deadline.Token);
        _process.Dispose();
    }

    private void Append(string? line)
    {
        lock (_output)
        {
            _output.AppendLine(line);
        }
    }

    [GeneratedRegex(@"^Proxy listening on http://(\S+); admin on http://(\S+) ")]
    private static partial Regex Listening();
}
