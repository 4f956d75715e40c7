using System.Collections.Concurrent;
using System.Runtime.CompilerServices;

namespace LoadBalancing.Internal;

/// <summary>
/// The peak-EWMA latency estimate of one endpoint, packed into one 64-bit word so that it is
/// updated with a single compare-and-swap: no lock and no dropped samples.
/// High 32 bits: the estimate in microseconds as a float. Low 32 bits: when it was stored, in
/// <see cref="EwmaClock"/> units. Zero means "no sample yet".
/// </summary>
internal static class PeakEwma
{
    public static long Pack(float micros, uint stamp) =>
        ((long)BitConverter.SingleToUInt32Bits(micros) << 32) | stamp;

    public static float Micros(long packed) => BitConverter.UInt32BitsToSingle((uint)((ulong)packed >> 32));

    public static uint Stamp(long packed) => (uint)packed;

    public static TimeSpan? Estimate(long packed) =>
        packed == 0 ? null : TimeSpan.FromMicroseconds(Micros(packed));

    /// <summary>Adds one latency sample (Finagle's peak-EWMA step).</summary>
    public static void Observe(ref long cell, double rttMicros, in EwmaClock clock, uint now)
    {
        // A sample of exactly zero would read back as "no sample": keep it just above.
        var sample = Math.Max(rttMicros, 0.001);
        while (true)
        {
            var old = Volatile.Read(ref cell);
            double estimate;
            if (old == 0)
            {
                estimate = sample;
            }
            else
            {
                var previous = Micros(old);
                if (sample > previous)
                {
                    // The peak step: a slow response counts at once, in full.
                    estimate = sample;
                }
                else
                {
                    var w = clock.Decay(unchecked(now - Stamp(old)));
                    estimate = (previous * w) + (sample * (1 - w));
                }
            }

            var next = Pack((float)estimate, now);
            if (Interlocked.CompareExchange(ref cell, next, old) == old)
            {
                return;
            }
        }
    }

    /// <summary>
    /// The estimate decayed towards zero for the time since it was stored, without storing
    /// anything (picks only read). Returns a negative value when there is no sample yet.
    /// </summary>
    public static double Current(long packed, in EwmaClock clock, uint now)
    {
        if (packed == 0)
        {
            return -1;
        }

        return Micros(packed) * clock.Decay(unchecked(now - Stamp(packed)));
    }
}

/// <summary>
/// A coarse clock for the EWMA: time in units of roughly a millisecond, so a stamp fits in 32 bits
/// (about 49 days before it wraps; the unsigned difference keeps decay right across a wrap).
/// With the system clock it reads <see cref="Environment.TickCount64"/> (exactly 1 ms, and far
/// cheaper than a high-resolution timestamp on every pick); an injected clock is shifted down.
/// Decay factors come from two small tables instead of <see cref="Math.Exp(double)"/>. The tables depend only on the
/// clock and the decay time, so balancers share them (<see cref="For"/>): building them is 25 KB and about 3,000
/// exponentials, which made up half the cost of creating a balancer.
/// </summary>
internal readonly struct EwmaClock
{
    private static readonly ConditionalWeakTable<TimeProvider, ConcurrentDictionary<TimeSpan, EwmaClock>> Shared = new();

    private const int FineBits = 10;
    private const int FineSize = 1 << FineBits;
    private const int CoarseSize = 64;

    private readonly TimeProvider _time;
    private readonly bool _system;
    private readonly int _shift;
    private readonly double _negUnitsPerTau;
    private readonly double[] _fine;   // e^(−k·units/τ) for units = 0 … 1023
    private readonly double[] _coarse; // e^(−k·1024·units/τ) for 0 … 63
    private readonly double[] _relative; // e^(−gap·units/τ) for gap = −1023 … 1023

    public EwmaClock(TimeProvider time, TimeSpan decay)
    {
        _time = time;
        _system = ReferenceEquals(time, TimeProvider.System);
        double unitSeconds;
        if (_system)
        {
            _shift = 0;
            unitSeconds = 0.001;
        }
        else
        {
            var ticksPerMs = Math.Max(1, time.TimestampFrequency / 1000);
            _shift = 63 - (int)long.LeadingZeroCount(ticksPerMs);
            unitSeconds = (double)(1L << _shift) / time.TimestampFrequency;
        }

        _negUnitsPerTau = -unitSeconds / decay.TotalSeconds;
        _fine = new double[FineSize];
        _coarse = new double[CoarseSize];
        for (var i = 0; i < FineSize; i++)
        {
            _fine[i] = Math.Exp(i * _negUnitsPerTau);
        }

        for (var i = 0; i < CoarseSize; i++)
        {
            _coarse[i] = Math.Exp((double)i * FineSize * _negUnitsPerTau);
        }

        _relative = new double[(2 * FineSize) - 1];
        for (var i = 0; i < _relative.Length; i++)
        {
            _relative[i] = Math.Exp((i - (FineSize - 1)) * _negUnitsPerTau);
        }
    }

    /// <summary>The clock for <paramref name="time"/> and <paramref name="decay"/>, built once and shared.</summary>
    public static EwmaClock For(TimeProvider time, TimeSpan decay) =>
        Shared.GetValue(time, static _ => new ConcurrentDictionary<TimeSpan, EwmaClock>())
            .GetOrAdd(decay, static (d, t) => new EwmaClock(t, d), time);

    /// <summary>
    /// e^(−gap/τ): how much more the estimate stamped <paramref name="gap"/> units earlier has decayed
    /// by any later moment than the one stamped later. One table load for gaps within about a second
    /// (every endpoint answering steadily); <see cref="Math.Exp(double)"/> beyond.
    /// </summary>
    public double RelativeDecay(int gap)
    {
        var index = (uint)(gap + (FineSize - 1));
        return index < (uint)_relative.Length ? _relative[index] : Math.Exp(gap * _negUnitsPerTau);
    }

    public uint Now() => _system ? (uint)Environment.TickCount64 : (uint)(_time.GetTimestamp() >> _shift);

    public double Decay(uint elapsedUnits)
    {
        var coarse = elapsedUnits >> FineBits;
        return coarse < CoarseSize
            ? _coarse[coarse] * _fine[elapsedUnits & (FineSize - 1)]
            : Math.Exp(elapsedUnits * _negUnitsPerTau);
    }
}
