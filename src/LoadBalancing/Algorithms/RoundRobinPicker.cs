using LoadBalancing.Internal;


namespace LoadBalancing.Algorithms;

/// <summary>
/// Smooth weighted round-robin, lock-free. The schedule of one full cycle (sum of weights picks,
/// nginx's smooth order) is computed when the picker is built. Each thread has its own cursor (see
/// <see cref="ThreadSlots"/>), on its own cache line, that only it writes: a pick reads it, moves it
/// one step with a plain write and wraps it at the cycle's end — no interlocked operation, no
/// division, nothing shared between threads. Every cursor walks the same schedule from a different
/// offset, so each endpoint gets exactly its weight per cycle of every cursor (Envoy's per-worker
/// round-robin, per thread). Threads beyond the owned slots share one cursor, advanced interlocked.
/// </summary>
internal sealed class RoundRobinPicker : Picker
{
    /// <summary>The longest schedule kept; heavier weight sums are scaled down to fit.</summary>
    internal const int MaxScheduleLength = 1 << 20;

    // Past this many steps of nginx's O(N) selection, the schedule is built with an earliest-deadline
    // heap instead (O(log N) a step); both give each endpoint exactly its weight per cycle.
    private const long MaxNginxWork = 1L << 26;

    private const int CursorStride = 16; // longs: 128 bytes between cursors

    private readonly int[]? _schedule; // null when weights are equal: the schedule is 0, 1, …, n-1
    private readonly uint _length;
    private readonly long[] _cursors; // slot s at (s + 1) × CursorStride; each in [0, length) unless shared
    private readonly bool _perThread;

    /// <param name="input">The endpoints and options.</param>
    /// <param name="perThread">A cursor per thread (as balancers run it); false for one cursor shared
    /// by every thread, a strict global order (for tests).</param>
    public RoundRobinPicker(in PickerInput input, bool perThread)
        : base(input)
    {
        var weights = IntegerWeights(input.Weights);
        if (!AllEqual(weights))
        {
            _schedule = BuildSchedule(weights);
        }

        _length = (uint)(_schedule?.Length ?? weights.Length);
        _perThread = perThread;
        var cursors = _perThread ? ThreadSlots.Count : 1;
        _cursors = new long[(cursors + 2) * CursorStride];
        for (var c = 0; c < cursors; c++)
        {
            _cursors[(c + 1) * CursorStride] = (long)((ulong)_length * (ulong)c / (ulong)cursors);
        }
    }

    public override int Pick(in PickContext context)
    {
        var index = _perThread ? NextOwnPosition() : NextSharedPosition(0);
        return _schedule is null ? index : _schedule[index];
    }

    private int NextOwnPosition()
    {
        var slot = ThreadSlots.Current;
        if (slot == ThreadSlots.Shared)
        {
            return NextSharedPosition(slot);
        }

        // Only this thread writes its cursor: a plain read and write, wrapped without a division.
        ref var cursor = ref _cursors[(slot + 1) * CursorStride];
        var position = (int)cursor;
        var next = position + 1;
        cursor = next == (int)_length ? 0 : next;
        return position;
    }

    private int NextSharedPosition(int slot) =>
        (int)((ulong)(Interlocked.Increment(ref _cursors[(slot + 1) * CursorStride]) - 1) % _length);

    internal static int[] IntegerWeights(double[] weights)
    {
        var result = new int[weights.Length];
        for (var i = 0; i < weights.Length; i++)
        {
            result[i] = Math.Max(1, (int)Math.Round(weights[i]));
        }

        return result;
    }

    internal static int[] BuildSchedule(int[] weights)
    {
        weights = Reduce(weights);
        long total = 0;
        foreach (var w in weights)
        {
            total += w;
        }

        return total * weights.Length <= MaxNginxWork
            ? BuildNginx(weights, (int)total)
            : BuildEarliestDeadline(weights, (int)total);
    }

    /// <summary>Divides by the common divisor and, past the length cap, scales weights down.</summary>
    private static int[] Reduce(int[] weights)
    {
        var gcd = 0;
        long total = 0;
        foreach (var w in weights)
        {
            gcd = Integers.Gcd(gcd, w);
            total += w;
        }

        var scaled = new int[weights.Length];
        var factor = total / gcd > MaxScheduleLength ? (double)MaxScheduleLength / total : 1.0 / gcd;
        for (var i = 0; i < weights.Length; i++)
        {
            scaled[i] = Math.Max(1, (int)(weights[i] * factor));
        }

        return scaled;
    }

    private static int[] BuildNginx(int[] weights, int total)
    {
        var schedule = new int[total];
        var current = new long[weights.Length];
        for (var step = 0; step < total; step++)
        {
            var best = 0;
            for (var i = 0; i < weights.Length; i++)
            {
                current[i] += weights[i];
                if (current[i] > current[best])
                {
                    best = i;
                }
            }

            current[best] -= total;
            schedule[step] = best;
        }

        return schedule;
    }

    private static int[] BuildEarliestDeadline(int[] weights, int total)
    {
        // Endpoint i's k-th turn is due at (k + 1) / w_i; ties go to the lower index.
        var schedule = new int[total];
        var queue = new PriorityQueue<int, (double Deadline, int Index)>(weights.Length);
        var turns = new int[weights.Length];
        for (var i = 0; i < weights.Length; i++)
        {
            queue.Enqueue(i, (1.0 / weights[i], i));
        }

        for (var step = 0; step < total; step++)
        {
            var i = queue.Dequeue();
            schedule[step] = i;
            turns[i]++;
            if (turns[i] < weights[i])
            {
                queue.Enqueue(i, ((turns[i] + 1.0) / weights[i], i));
            }
        }

        return schedule;
    }

    private static bool AllEqual(int[] weights)
    {
        foreach (var w in weights)
        {
            if (w != weights[0])
            {
                return false;
            }
        }

        return true;
    }
}
