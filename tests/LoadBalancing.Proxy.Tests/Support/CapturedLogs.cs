using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace LoadBalancing.Proxy.Tests.Support;

/// <summary>A logger provider that keeps every line (category, level, event id, message), for asserting what was logged.</summary>
internal sealed class CapturedLogs : ILoggerProvider
{
    public ConcurrentQueue<(string Category, LogLevel Level, int EventId, string Message)> Lines { get; } = new();

    public IEnumerable<string> Messages(string category, int eventId) =>
        Lines.Where(l => l.Category == category && l.EventId == eventId).Select(l => l.Message);

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose()
    {
    }

    private sealed class Logger(CapturedLogs owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            owner.Lines.Enqueue((category, logLevel, eventId.Id, formatter(state, exception)));
    }
}
