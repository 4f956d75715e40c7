using System.Net.Sockets;
using ProxyHost.Tests.Support;

namespace ProxyHost.Tests;

/// <summary>
/// The built ProxyHost runs socket completions inline unless its environment says otherwise (on Kestrel's socket
/// transport, which Linux hosts choose with Proxy:Transport: Sockets; TLS upstreams use sockets on either). Seen from outside: with
/// inline completions the runtime starts one socket engine thread per processor (".NET Sockets"), without them one
/// per 30 processors.
/// </summary>
public sealed class SocketDefaultsTests
{
    private const string Variable = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task NothingSet_InlineCompletions_OneEnginePerProcessor()
    {
        SkipUnlessObservable();
        await AssertEnginesAsync(value: null, expected: Environment.ProcessorCount);
    }

    [Fact]
    public async Task OperatorSetsZero_IsKept_CompletionsGoToTheThreadPool()
    {
        SkipUnlessObservable();
        await AssertEnginesAsync(value: "0", expected: Math.Max(1, (int)Math.Round(Environment.ProcessorCount / 30.0)));
    }

    private static void SkipUnlessObservable()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "Thread names are read from /proc.");
        Assert.SkipWhen(Environment.ProcessorCount < 2, "With one processor both settings start one socket engine.");
    }

    /// <summary>Starts the host with <paramref name="value"/> (or without the variable), opens a socket on every engine there can be, and counts the engines.</summary>
    private static async Task AssertEnginesAsync(string? value, int expected)
    {
        var ct = TestContext.Current.CancellationToken;
        var directory = Directory.CreateTempSubdirectory("proxyhost-sockets-").FullName;
        var config = Path.Combine(directory, "proxy.json");
        await File.WriteAllTextAsync(config, """
            { "DemoBackends": { "Count": 0 }, "Proxy": { "Transport": "Sockets",
                "Listeners": [ { "Url": "http://127.0.0.1:0" } ], "Admin": { "Url": "http://127.0.0.1:0" },
                "Routes": [ { "Path": "/", "Cluster": "web" } ],
                "Clusters": { "web": { "Endpoints": [ { "Address": "127.0.0.1:9" } ] } } } }
            """, ct);
        await using var host = await ChildProxyHost.StartAsync(config, environment =>
        {
            environment.Remove(Variable);
            environment.Remove("DOTNET_SYSTEM_NET_SOCKETS_THREAD_COUNT");
            if (value is not null)
            {
                environment[Variable] = value;
            }
        });
        var connections = new List<Socket>();
        try
        {
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
            deadline.CancelAfter(Bound);
            var proxy = System.Net.IPEndPoint.Parse(host.ProxyEndPoint);

            // The runtime creates an engine when a socket is first given to it, round-robin, as Kestrel accepts it: one
            // connection per processor (beside the two listeners) reaches every engine there can be. Kestrel accepts in
            // order, so once the last connection's request is answered, every earlier one has been given its engine.
            for (var i = 0; i < Environment.ProcessorCount + 2; i++)
            {
                var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
                connections.Add(socket);
                await socket.ConnectAsync(proxy, deadline.Token);
            }

            using (var client = new HttpClient { BaseAddress = new Uri($"http://{proxy}/"), Timeout = Bound })
            {
                // A 502 (nothing listens on port 9) is answer enough.
                await client.GetAsync("/", deadline.Token);
            }

            // An engine's thread names itself as it starts, a moment after the engine is created.
            using (var settle = CancellationTokenSource.CreateLinkedTokenSource(deadline.Token))
            using (var poll = new PeriodicTimer(TimeSpan.FromMilliseconds(20)))
            {
                settle.CancelAfter(TimeSpan.FromSeconds(10));
                try
                {
                    while (host.ThreadsNamed(".NET Sockets") != expected)
                    {
                        await poll.WaitForNextTickAsync(settle.Token);
                    }
                }
                catch (OperationCanceledException) when (!ct.IsCancellationRequested)
                {
                    // The assertion below says how many there are.
                }
            }

            // And no more come: another connection goes to the next engine, an existing one when all exist.
            using (var client = new HttpClient { BaseAddress = new Uri($"http://{proxy}/"), Timeout = Bound })
            {
                await client.GetAsync("/", deadline.Token);
            }

            Assert.Equal(expected, host.ThreadsNamed(".NET Sockets"));
        }
        finally
        {
            foreach (var socket in connections)
            {
                socket.Dispose();
            }

            Directory.Delete(directory, recursive: true);
        }
    }
}
