using System.Diagnostics;
using System.Text;
using static LoadBalancing.Proxy.Admin.PrometheusText;

namespace LoadBalancing.Proxy.Admin;

/// <summary>
/// Writes <c>/metrics</c> in the Prometheus text format (version 0.0.4): the instruments of the proxy's meter and of the
/// other LoadBalancing meters, read through <see cref="MeterExporter"/>, and the process and GC figures the runtime
/// keeps. The proxy's instruments observe interlocked fields at collection time, so a scrape costs requests nothing.
/// </summary>
internal static class PrometheusWriter
{
    public static string Write(ProxyRuntime runtime)
    {
        var text = new StringBuilder(4096);
        var scrape = runtime.Meters.Collect();
        scrape.WriteProxy(text);
        Header(text, "process_start_time_seconds", "gauge", "When the proxy started (Unix time).");
        Line(text, "process_start_time_seconds", "", runtime.Started.ToUnixTimeMilliseconds() / 1000.0);
        Header(text, "process_uptime_seconds", "gauge", "Seconds since the proxy started.");
        Line(text, "process_uptime_seconds", "", (runtime.Time.GetUtcNow() - runtime.Started).TotalSeconds);
        WriteRuntime(text);
        scrape.WriteOthers(text);
        return text.ToString();
    }

    // Process and GC figures: an OpenTelemetry user has them from the runtime's own System.Runtime meter.
    private static void WriteRuntime(StringBuilder text)
    {
        using var process = Process.GetCurrentProcess();
        Header(text, "process_resident_memory_bytes", "gauge", "Resident set size.");
        Line(text, "process_resident_memory_bytes", "", process.WorkingSet64);
        Header(text, "process_cpu_seconds_total", "counter", "CPU time used by the process.");
        Line(text, "process_cpu_seconds_total", "", process.TotalProcessorTime.TotalSeconds);
        Header(text, "dotnet_gc_allocated_bytes_total", "counter", "Bytes allocated on the managed heap since start.");
        Line(text, "dotnet_gc_allocated_bytes_total", "", GC.GetTotalAllocatedBytes(precise: false));
        var memory = GC.GetGCMemoryInfo();
        Header(text, "dotnet_gc_heap_size_bytes", "gauge", "Managed heap size after the last collection.");
        Line(text, "dotnet_gc_heap_size_bytes", "", memory.HeapSizeBytes);
        Header(text, "dotnet_gc_memory_limit_bytes", "gauge", "Memory the GC may use (a container limit or DOTNET_GCHeapHardLimit).");
        Line(text, "dotnet_gc_memory_limit_bytes", "", memory.TotalAvailableMemoryBytes);
        Header(text, "dotnet_gc_collections_total", "counter", "Garbage collections by generation.");
        for (var gen = 0; gen <= GC.MaxGeneration; gen++)
        {
            Line(text, "dotnet_gc_collections_total", $"{{generation=\"{gen}\"}}", GC.CollectionCount(gen));
        }
    }
}
