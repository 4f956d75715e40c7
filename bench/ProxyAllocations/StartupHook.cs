using System.Collections.Concurrent;
using System.Diagnostics.Tracing;
using System.Globalization;

/// <summary>
/// Loaded into the proxy process with DOTNET_STARTUP_HOOKS when the harness runs with --profile: samples
/// allocations by type (the runtime's allocation ticks, about one per 100 KB) and writes the table to the file
/// named by LB_ALLOCATION_PROFILE every second.
/// </summary>
internal static class StartupHook
{
    private static AllocationSampler? s_sampler;

    public static void Initialize()
    {
        var file = Environment.GetEnvironmentVariable("LB_ALLOCATION_PROFILE");
        if (file is null)
        {
            return;
        }

        s_sampler = new AllocationSampler();
        var timer = new Thread(() =>
        {
            while (true)
            {
                Thread.Sleep(1000);
                File.WriteAllLines(file, s_sampler.ByType.OrderByDescending(p => p.Value).Take(40)
                    .Select(p => string.Create(CultureInfo.InvariantCulture, $"{p.Value,8} {p.Key}")));
            }
        })
        { IsBackground = true };
        timer.Start();
    }

    private sealed class AllocationSampler : EventListener
    {
        public ConcurrentDictionary<string, long> ByType { get; } = new();

        protected override void OnEventSourceCreated(EventSource source)
        {
            if (source.Name == "Microsoft-Windows-DotNETRuntime")
            {
                EnableEvents(source, EventLevel.Verbose, (EventKeywords)0x1);
            }
        }

        protected override void OnEventWritten(EventWrittenEventArgs e)
        {
            if (e.EventName?.StartsWith("GCAllocationTick", StringComparison.Ordinal) == true && e.PayloadNames is { } names)
            {
                var i = names.IndexOf("TypeName");
                ByType.AddOrUpdate(i >= 0 ? e.Payload![i]?.ToString() ?? "?" : "?", 1, (_, v) => v + 1);
            }
        }
    }
}
