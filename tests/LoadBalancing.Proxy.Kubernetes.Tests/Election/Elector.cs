using System.Threading.Channels;
using LoadBalancing.Kubernetes.Tests.Support;
using LoadBalancing.Proxy.Kubernetes.Election;
using LoadBalancing.Proxy.Kubernetes.Tests.Support;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace LoadBalancing.Proxy.Kubernetes.Tests.Election;

/// <summary>One replica's election running against the test API server, with every attempt's outcome readable in order.</summary>
internal sealed class Elector : IAsyncDisposable
{
    public static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    private readonly Channel<bool> _attempts = Channel.CreateUnbounded<bool>();
    private readonly CancellationTokenSource _stop = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
    private readonly k8s.Kubernetes _client;
    private Task? _run;

    public Elector(FakeApiServer server, FakeTimeProvider time, string identity, bool releaseOnStop = true)
    {
        (_client, Hook) = Intercept.Client(server);
        Election = new LeaseElection(
            _client,
            new LeaseElectionOptions { Namespace = "infra", Name = "lb-leader", Identity = identity, ReleaseOnStop = releaseOnStop },
            time,
            NullLogger<LeaseElection>.Instance);
        Election.AttemptCompleted = acquired => _attempts.Writer.TryWrite(acquired);
        Election.LeadershipChanged += leading => Changes.Add(leading);
    }

    public LeaseElection Election { get; }

    public Intercept Hook { get; }

    /// <summary>Every LeadershipChanged, in order.</summary>
    public List<bool> Changes { get; } = [];

    /// <summary>Starts the loop; its first attempt is immediate.</summary>
    public void Start() => _run = Task.Run(() => Election.RunAsync(_stop.Token));

    /// <summary>The outcome of the next attempt (true: acquired or renewed).</summary>
    public async Task<bool> NextAttemptAsync() =>
        await _attempts.Reader.ReadAsync(TestContext.Current.CancellationToken).AsTask().WaitAsync(Bound, TestContext.Current.CancellationToken);

    /// <summary>Stops the loop (which releases the lease when so configured) and waits for it to end.</summary>
    public async Task StopAsync()
    {
        await _stop.CancelAsync();
        if (_run is not null)
        {
            await _run.WaitAsync(Bound, TestContext.Current.CancellationToken);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _stop.Dispose();
        _client.Dispose();
    }
}
