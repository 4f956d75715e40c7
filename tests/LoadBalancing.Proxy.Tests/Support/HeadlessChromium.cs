using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace LoadBalancing.Proxy.Tests.Support;

/// <summary>
/// Debian's Chromium, headless, driven over the Chrome DevTools Protocol with the BCL alone: one page target, commands
/// answered by id, and the page's script errors and error-level console and log entries collected. Every wait is
/// bounded by <see cref="CommandTimeout"/> or the caller's token, so a hung browser fails a test rather than hanging
/// the suite. Disposing kills the whole process tree and deletes the profile directory.
/// </summary>
internal sealed class HeadlessChromium : IAsyncDisposable
{
    public const string RequireVariable = "LB_REQUIRE_BROWSER";

    private static readonly string[] Candidates = ["/usr/bin/chromium", "/usr/bin/chromium-browser"];

    private readonly Process _process;
    private readonly string _profile;
    private readonly ConcurrentQueue<string> _stderr = new();
    private readonly ConcurrentDictionary<int, TaskCompletionSource<JsonElement>> _pending = new();
    private readonly CancellationTokenSource _closing = new();
    private ClientWebSocket? _socket;
    private Task? _receiving;
    private int _nextId;

    private HeadlessChromium(Process process, string profile)
    {
        _process = process;
        _profile = profile;
    }

    /// <summary>How long one command (or one wait for the browser to start) may take.</summary>
    public static TimeSpan CommandTimeout { get; } = TimeSpan.FromSeconds(30);

    /// <summary>Script exceptions, and console and log entries at level error, in the order they came.</summary>
    public ConcurrentQueue<string> Errors { get; } = new();

    /// <summary>Names a Chromium (or Chrome) executable elsewhere than Debian's path.</summary>
    public const string PathVariable = "LB_CHROMIUM";

    /// <summary>The Chromium executable (<c>LB_CHROMIUM</c> if set, else Debian's), or null when there is none.</summary>
    public static string? Find() => Environment.GetEnvironmentVariable(PathVariable) is { Length: > 0 } path
        ? (File.Exists(path) ? path : null)
        : Candidates.FirstOrDefault(File.Exists);

    public static async Task<HeadlessChromium> StartAsync(string executable, CancellationToken cancellationToken)
    {
        var profile = Directory.CreateTempSubdirectory("lb-chromium-").FullName;
        var start = new ProcessStartInfo(executable)
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        foreach (var argument in new[]
        {
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage", "--window-size=1600,1000",
            $"--user-data-dir={profile}", "--remote-debugging-port=0", "about:blank",
        })
        {
            start.ArgumentList.Add(argument);
        }

        Process process;
        try
        {
            process = Process.Start(start) ?? throw new InvalidOperationException($"{executable} did not start");
        }
        catch
        {
            Directory.Delete(profile, recursive: true);
            throw;
        }

        var browser = new HeadlessChromium(process, profile);
        try
        {
            await browser.ConnectAsync(cancellationToken);
            return browser;
        }
        catch
        {
            await browser.DisposeAsync();
            throw;
        }
    }

    private async Task ConnectAsync(CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(CommandTimeout);
        _process.OutputDataReceived += (_, _) => { };
        _process.BeginOutputReadLine();

        // Chromium prints "DevTools listening on ws://127.0.0.1:PORT/devtools/browser/ID" once it listens.
        var listening = new TaskCompletionSource<Uri>(TaskCreationOptions.RunContinuationsAsynchronously);
        _process.ErrorDataReceived += (sender, line) =>
        {
            if (line.Data is not { } data)
            {
                listening.TrySetException(new InvalidOperationException("Chromium closed its standard error before listening:\n" + StandardError));
                return;
            }

            _stderr.Enqueue(data);
            while (_stderr.Count > 200 && _stderr.TryDequeue(out _))
            {
            }

            const string Prefix = "DevTools listening on ";
            if (data.StartsWith(Prefix, StringComparison.Ordinal))
            {
                listening.TrySetResult(new Uri(data[Prefix.Length..].Trim()));
            }
        };
        _process.BeginErrorReadLine();
        Uri browserUrl;
        try
        {
            browserUrl = await listening.Task.WaitAsync(timeout.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"Chromium did not say where DevTools listens within {CommandTimeout}:\n{StandardError}");
        }

        // The browser's own socket cannot navigate; the page target (about:blank) can.
        using var http = new HttpClient { Timeout = CommandTimeout };
        var list = JsonNode.Parse(await http.GetStringAsync($"http://{browserUrl.Authority}/json/list", timeout.Token))!.AsArray();
        var page = list.FirstOrDefault(t => (string?)t!["type"] == "page")
            ?? throw new InvalidOperationException("Chromium has no page target: " + list.ToJsonString());
        _socket = new ClientWebSocket();
        await _socket.ConnectAsync(new Uri((string)page["webSocketDebuggerUrl"]!), timeout.Token);
        _receiving = Task.Run(ReceiveAsync, CancellationToken.None);
        await SendAsync("Runtime.enable", null, cancellationToken);
        await SendAsync("Log.enable", null, cancellationToken);
        await SendAsync("Page.enable", null, cancellationToken);
    }

    /// <summary>Chromium's last lines of standard error, for failure messages.</summary>
    public string StandardError => string.Join('\n', _stderr);

    /// <summary>Sends one command and returns its result; a protocol error throws.</summary>
    public async Task<JsonElement> SendAsync(string method, object? parameters, CancellationToken cancellationToken)
    {
        var socket = _socket ?? throw new InvalidOperationException("not connected");
        var id = Interlocked.Increment(ref _nextId);
        var answer = new TaskCompletionSource<JsonElement>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending[id] = answer;
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(CommandTimeout);
            var message = JsonSerializer.SerializeToUtf8Bytes(new { id, method, @params = parameters ?? new { } });
            await socket.SendAsync(message, WebSocketMessageType.Text, true, timeout.Token);
            try
            {
                return await answer.Task.WaitAsync(timeout.Token);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw new TimeoutException($"{method} had no answer within {CommandTimeout}:\n{StandardError}");
            }
        }
        finally
        {
            _pending.TryRemove(id, out _);
        }
    }

    /// <summary>Evaluates an expression in the page (awaiting a promise) and returns its value as JSON.</summary>
    public async Task<JsonElement> EvaluateAsync(string expression, CancellationToken cancellationToken)
    {
        var result = await SendAsync("Runtime.evaluate", new { expression, returnByValue = true, awaitPromise = true }, cancellationToken);
        if (result.TryGetProperty("exceptionDetails", out var exception))
        {
            throw new InvalidOperationException($"evaluating `{expression}` threw: {exception}");
        }

        return result.GetProperty("result").TryGetProperty("value", out var value) ? value.Clone() : default;
    }

    /// <summary>Polls <paramref name="condition"/> (a JavaScript expression) until it is true, for at most <paramref name="timeout"/>.</summary>
    public async Task WaitForAsync(string condition, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var watch = Stopwatch.StartNew();
        string? threw = null;
        while (true)
        {
            // While a navigation is under way the condition may meet a document without a body yet: not true yet.
            try
            {
                if ((await EvaluateAsync($"!!({condition})", cancellationToken)).ValueKind == JsonValueKind.True)
                {
                    return;
                }
            }
            catch (InvalidOperationException e)
            {
                threw = e.Message;
            }

            if (watch.Elapsed > timeout)
            {
                var errors = Errors.IsEmpty ? "none" : string.Join("\n", Errors);
                throw new TimeoutException($"`{condition}` was not true within {timeout}. Last evaluation error: {threw ?? "none"}. Page errors: {errors}");
            }

            await Task.Delay(50, cancellationToken);
        }
    }

    public async Task NavigateAsync(string url, CancellationToken cancellationToken)
    {
        var result = await SendAsync("Page.navigate", new { url }, cancellationToken);
        if (result.TryGetProperty("errorText", out var error))
        {
            throw new InvalidOperationException($"navigating to {url} failed: {error.GetString()}");
        }
    }

    /// <summary>Saves a PNG of the page as rendered, at most <paramref name="height"/> CSS pixels tall.</summary>
    public async Task ScreenshotAsync(string path, CancellationToken cancellationToken, int height = 1600)
    {
        var width = (await EvaluateAsync("window.innerWidth", cancellationToken)).GetInt32();
        var contentHeight = (await EvaluateAsync("document.documentElement.scrollHeight", cancellationToken)).GetInt32();
        var clip = new { x = 0, y = 0, width = Math.Min(width, 2400), height = Math.Min(contentHeight, height), scale = 1 };
        var shot = await SendAsync("Page.captureScreenshot", new { format = "png", clip, captureBeyondViewport = true }, cancellationToken);
        await File.WriteAllBytesAsync(path, Convert.FromBase64String(shot.GetProperty("data").GetString()!), cancellationToken);
    }

    private async Task ReceiveAsync()
    {
        var socket = _socket!;
        var buffer = new byte[64 * 1024];
        using var message = new MemoryStream();
        try
        {
            while (socket.State == WebSocketState.Open)
            {
                var read = await socket.ReceiveAsync(buffer, _closing.Token);
                if (read.MessageType == WebSocketMessageType.Close)
                {
                    break;
                }

                message.Write(buffer, 0, read.Count);
                if (!read.EndOfMessage)
                {
                    continue;
                }

                try
                {
                    Dispatch(message.GetBuffer().AsSpan(0, (int)message.Length));
                }
                catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
                {
                    Errors.Enqueue("unreadable DevTools message: " + e.Message);
                }

                message.SetLength(0);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or WebSocketException)
        {
            // Closing, or the browser went away: whoever waits on an answer is told below.
        }

        foreach (var pending in _pending.Values)
        {
            pending.TrySetException(new InvalidOperationException("Chromium's DevTools connection closed:\n" + StandardError));
        }
    }

    private void Dispatch(ReadOnlySpan<byte> utf8)
    {
        using var document = JsonDocument.Parse(utf8.ToArray());
        var root = document.RootElement;
        if (root.TryGetProperty("id", out var id))
        {
            if (_pending.TryGetValue(id.GetInt32(), out var answer))
            {
                if (root.TryGetProperty("error", out var error))
                {
                    answer.TrySetException(new InvalidOperationException("DevTools error: " + error));
                }
                else
                {
                    answer.TrySetResult(root.GetProperty("result").Clone());
                }
            }

            return;
        }

        var parameters = root.TryGetProperty("params", out var p) ? p : default;
        switch (root.GetProperty("method").GetString())
        {
            case "Runtime.exceptionThrown":
                var details = parameters.GetProperty("exceptionDetails");
                var description = details.TryGetProperty("exception", out var exception) && exception.TryGetProperty("description", out var d)
                    ? d.GetString()
                    : details.GetProperty("text").GetString();
                Errors.Enqueue("exception: " + description);
                break;
            case "Runtime.consoleAPICalled" when parameters.GetProperty("type").GetString() is "error" or "assert":
                Errors.Enqueue("console." + parameters.GetProperty("type").GetString() + ": " + parameters.GetProperty("args"));
                break;
            case "Log.entryAdded" when parameters.GetProperty("entry").GetProperty("level").GetString() == "error":
                var entry = parameters.GetProperty("entry");
                Errors.Enqueue($"log ({entry.GetProperty("source").GetString()}): {entry.GetProperty("text").GetString()}"
                    + (entry.TryGetProperty("url", out var url) ? " at " + url.GetString() : ""));
                break;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_socket is { State: WebSocketState.Open } socket)
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            try
            {
                await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, timeout.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or WebSocketException)
            {
                // Killed below either way.
            }
        }

        await _closing.CancelAsync();
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
            }

            using var exited = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await _process.WaitForExitAsync(exited.Token);
        }
        catch (Exception e) when (e is InvalidOperationException or OperationCanceledException or System.ComponentModel.Win32Exception)
        {
            // Already gone, or it would not die in time: nothing more a test can do.
        }

        if (_receiving is not null)
        {
            await Task.WhenAny(_receiving, Task.Delay(TimeSpan.FromSeconds(2)));
        }

        _socket?.Dispose();
        _process.Dispose();
        _closing.Dispose();

        // Chromium's helpers may still be closing files in the profile for a moment after the kill.
        for (var attempt = 0; attempt < 20 && Directory.Exists(_profile); attempt++)
        {
            try
            {
                Directory.Delete(_profile, recursive: true);
            }
            catch (IOException)
            {
                await Task.Delay(100);
            }
            catch (UnauthorizedAccessException)
            {
                await Task.Delay(100);
            }
        }
    }
}
