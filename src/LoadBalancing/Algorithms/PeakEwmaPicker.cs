using LoadBalancing.Internal;

namespace LoadBalancing.Algorithms;

/// <summary>
/// Peak-EWMA (Finagle, Linkerd): two distinct random endpoints, the cheaper wins, where cost is
/// the latency estimate (decayed towards zero for the time since its last sample) times
/// (in-flight + 1), divided by weight. An endpoint without samples is assumed as fast as the rival it
/// is drawn against (never slower than the default RTT), so a new endpoint is tried at once; while
/// it has a request in flight and still no sample it costs the penalty RTT, so it is tried one
/// request at a time until it first answers.
/// </summary>
internal sealed class PeakEwmaPicker : Picker
{
    private readonly PickRandom _random;
    private readonly int _count;
    private readonly EwmaClock _clock;
    private readonly double[]? _weights;
    private readonly double _defaultMicros;
    private readonly double _penaltyMicros;

    public PeakEwmaPicker(in PickerInput input)
        : base(input)
    {
        _random = new PickRandom(input.Random);
        _count = input.Count;
        _clock = input.Clock;
        _weights = input.EqualWeights ? null : input.Weights;
        _defaultMicros = input.Options.PeakEwma.DefaultRtt.TotalMicroseconds;
        _penaltyMicros = input.Options.PeakEwma.PenaltyRtt.TotalMicroseconds;
    }

    public override int Pick(in PickContext context)
    {
        if (_count <= 1)
        {
            return _count - 1;
        }

        var (first, second) = _random.NextDistinctPair(_count);
        var a = States[first];
        var b = States[second];
        var ewmaA = Volatile.Read(ref a.CurrentEwma);
        var ewmaB = Volatile.Read(ref b.CurrentEwma);
        if (ewmaA == 0 || ewmaB == 0)
        {
            var now = _clock.Now();
            return Cost(second, first, now) < Cost(first, second, now) ? second : first;
        }

        // Both estimates decay towards zero at the same rate from their own stamps, so the current
        // time cancels out of the comparison: B is cheaper now exactly when
        //   costB · e^(−(now − stampB)/τ) < costA · e^(−(now − stampA)/τ),
        // that is when costB < costA · e^(−(stampB − stampA)/τ). One factor, looked up from the gap
        // between the stamps, and no clock read.
        double costA = PeakEwma.Micros(ewmaA) * (a.InFlight + 1);
        double costB = PeakEwma.Micros(ewmaB) * (b.InFlight + 1);
        costA *= _clock.RelativeDecay(unchecked((int)(PeakEwma.Stamp(ewmaB) - PeakEwma.Stamp(ewmaA))));

        if (_weights is not null)
        {
            costA /= _weights[first];
            costB /= _weights[second];
        }

        // Which cost is lower is a coin toss, so a branch here mispredicts every other pick: select
        // arithmetically instead (the comparison becomes a flag, not a jump).
        var secondWins = costB < costA ? 1 : 0;
        return first ^ ((first ^ second) & -secondWins);
    }

    /// <summary>The cost of <paramref name="index"/> now, when drawn against <paramref name="rival"/>.</summary>
    internal double Cost(int index, int rival, uint now)
    {
        var state = States[index];
        var inFlight = state.InFlight;
        var rtt = PeakEwma.Current(Volatile.Read(ref state.CurrentEwma), _clock, now);
        if (rtt < 0)
        {
            rtt = inFlight > 0 ? _penaltyMicros : UntriedRtt(rival, now);
        }

        var cost = rtt * (inFlight + 1);
        return _weights is null ? cost : cost / _weights[index];
    }

    // A fixed guess for an endpoint never tried loses every draw against endpoints answering faster
    // than the guess, so a new endpoint would wait for the others' estimates to decay below it (tens
    // of seconds with the defaults) before its first request. Assuming it as fast as its rival
    // tries it at once; the penalty RTT then holds it to one request until it answers.
    private double UntriedRtt(int rival, uint now)
    {
        var rivalRtt = PeakEwma.Current(Volatile.Read(ref States[rival].CurrentEwma), _clock, now);
        return rivalRtt < 0 ? _defaultMicros : Math.Min(rivalRtt, _defaultMicros);
    }
}
