using System.Buffers;

namespace LoadBalancing.Proxy.Tests.Fuzzing;

/// <summary>Builds a <see cref="ReadOnlySequence{T}"/> over several segments, as bytes arrive from a pipe.</summary>
internal sealed class Segment : ReadOnlySequenceSegment<byte>
{
    private Segment(ReadOnlyMemory<byte> memory, long runningIndex) => (Memory, RunningIndex) = (memory, runningIndex);

    public static ReadOnlySequence<byte> Split(byte[] bytes, IReadOnlyList<int> pieces)
    {
        if (bytes.Length == 0 || pieces.Count <= 1)
        {
            return new ReadOnlySequence<byte>(bytes);
        }

        var first = new Segment(bytes.AsMemory(0, pieces[0]), 0);
        var last = first;
        var offset = pieces[0];
        foreach (var piece in pieces.Skip(1))
        {
            var next = new Segment(bytes.AsMemory(offset, piece), offset);
            last.Next = next;
            last = next;
            offset += piece;
        }

        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }
}
