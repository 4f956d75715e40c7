using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace LoadBalancing.Proxy.Tests.Support;

/// <summary>A logger provider that keeps every line (category, level, event id, message), for asserting what was logged.</summary>
internal sealed class CapturedLogs : ILoggerProvider
{
    public ConcurrentQueue<(string Category, LogLevel Level, int EventId, string Message)> Lines { get; } = new();

    private readonly List<(Func<string, int, string, bool> Match, TaskCompletionSource<string> Found)> _waiters = [];

    public IEnumerable<string> Messages(string category, int eventId) =>
        Lines.Where(l => l.Category == category && l.EventId == eventId).Select(l => l.Message);

    /// <summary>The first message (logged already or later) that <paramref name="match"/> takes (category, event id, message): no polling.</summary>
    public Task<string> FirstAsync(Func<string, int, string, bool> match)
    {
        var found = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_waiters)
        {
            if (Lines.FirstOrDefault(l => match(l.Category, l.EventId, l.Message)) is { Message: { } message })
            {
                found.SetResult(message);
            }
            else
            {
                _waiters.Add((match, found));
            }
        }

        return found.Task;
    }

    private void Add(string category, LogLevel level, int eventId, string message)
    {
        lock (_waiters)
        {
            Lines.Enqueue((category, level, eventId, message));
            foreach (var waiter in _waiters.Where(w => w.Match(category, eventId, message)).ToList())
            {
                waiter.Found.TrySetResult(message);
                _waiters.Remove(waiter);
            }
        }
    }

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose()
    {
    }

    private sealed class Logger(CapturedLogs owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            owner.Add(category, logLevel, eventId.Id, formatter(state, exception));
    }
}
