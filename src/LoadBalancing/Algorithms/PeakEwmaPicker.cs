using LoadBalancing.Internal;

namespace LoadBalancing.Algorithms;

/// <summary>
/// Peak-EWMA (Finagle, Linkerd): two distinct random endpoints, the cheaper wins, where cost is
/// the latency estimate (decayed towards zero for the time since its last sample) times
/// (in-flight + 1), divided by weight. An endpoint without samples costs the default RTT, or the
/// penalty RTT while it has requests in flight.
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
            return Cost(second, now) < Cost(first, now) ? second : first;
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

    internal double Cost(int index, uint now)
    {
        var state = States[index];
        var inFlight = state.InFlight;
        var rtt = PeakEwma.Current(Volatile.Read(ref state.CurrentEwma), _clock, now);
        if (rtt < 0)
        {
            rtt = inFlight > 0 ? _penaltyMicros : _defaultMicros;
        }

        var cost = rtt * (inFlight + 1);
        return _weights is null ? cost : cost / _weights[index];
    }
}
