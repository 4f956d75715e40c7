using System.Runtime.InteropServices;

namespace LoadBalancing.Internal;

/// <summary>A counter alone on its cache lines (the cluster's total in-flight, for bounded loads).</summary>
internal sealed class LoadCounter
{
    private Padded _value;

    public long Value => Volatile.Read(ref _value.Value);

    public void Increment() => Interlocked.Increment(ref _value.Value);

    public void Decrement() => Interlocked.Decrement(ref _value.Value);

    [StructLayout(LayoutKind.Explicit, Size = 192)]
    private struct Padded
    {
        [FieldOffset(64)] public long Value;
    }
}
