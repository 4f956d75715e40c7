using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace LoadBalancing;

/// <summary>
/// xxHash64 (seed 0) of ASCII text, read straight from its UTF-16 characters: each 8-byte lane is
/// narrowed from 8 characters as it is consumed, so the value is never copied to bytes first. The
/// result equals <see cref="System.IO.Hashing.XxHash64"/> over the text's ASCII bytes.
/// </summary>
/// <remarks>
/// Why not narrow and then call <see cref="System.IO.Hashing.XxHash64"/>: for a 32-character header
/// the narrowing pass and the general-purpose hash (state set-up, span slicing, finalisation calls)
/// together cost about twice this fused loop (measured in docs/benchmarks.md). Request keys are short
/// and hashed on every request; endpoint keys, hashed when a table is built, still use the package.
/// </remarks>
internal static class AsciiXxHash64
{
    private const ulong Prime1 = 0x9E3779B185EBCA87UL;
    private const ulong Prime2 = 0xC2B2AE3D27D4EB4FUL;
    private const ulong Prime3 = 0x165667B19E3779F9UL;
    private const ulong Prime4 = 0x85EBCA77C2B2AE63UL;
    private const ulong Prime5 = 0x27D4EB2F165667C5UL;

    private const ulong NonAsciiChars = 0xFF80_FF80_FF80_FF80UL;

    /// <summary>
    /// Hashes <paramref name="text"/> as ASCII bytes; returns <c>false</c> (and the caller encodes it
    /// as UTF-8 instead) when any character is outside ASCII.
    /// </summary>
    public static bool TryHash(ReadOnlySpan<char> text, out ulong hash)
    {
        var chars = MemoryMarshal.Cast<char, ushort>(text);
        var length = (ulong)chars.Length;
        var outside = Vector128<ushort>.Zero;
        ulong outsideScalar = 0;
        ulong h;

        if (chars.Length >= 32)
        {
            var v1 = unchecked(Prime1 + Prime2);
            var v2 = Prime2;
            var v3 = 0UL;
            var v4 = unchecked(0UL - Prime1);
            do
            {
                var a = Vector128.Create(chars[..8]);
                var b = Vector128.Create(chars.Slice(8, 8));
                var c = Vector128.Create(chars.Slice(16, 8));
                var d = Vector128.Create(chars.Slice(24, 8));
                outside |= a | b | c | d;
                var ab = Vector128.Narrow(a, b).AsUInt64();
                var cd = Vector128.Narrow(c, d).AsUInt64();
                v1 = Round(v1, ab.GetElement(0));
                v2 = Round(v2, ab.GetElement(1));
                v3 = Round(v3, cd.GetElement(0));
                v4 = Round(v4, cd.GetElement(1));
                chars = chars[32..];
            }
            while (chars.Length >= 32);

            h = BitOperations.RotateLeft(v1, 1) + BitOperations.RotateLeft(v2, 7)
                + BitOperations.RotateLeft(v3, 12) + BitOperations.RotateLeft(v4, 18);
            h = Merge(h, v1);
            h = Merge(h, v2);
            h = Merge(h, v3);
            h = Merge(h, v4);
        }
        else
        {
            h = Prime5;
        }

        h += length;
        while (chars.Length >= 8)
        {
            var lane = Vector128.Create(chars[..8]);
            outside |= lane;
            h ^= Round(0, Vector128.Narrow(lane, lane).AsUInt64().GetElement(0));
            h = (BitOperations.RotateLeft(h, 27) * Prime1) + Prime4;
            chars = chars[8..];
        }

        if (chars.Length >= 4)
        {
            var four = BinaryPrimitives.ReadUInt64LittleEndian(MemoryMarshal.AsBytes(chars[..4]));
            outsideScalar |= four;
            h ^= Pack4(four) * Prime1;
            h = (BitOperations.RotateLeft(h, 23) * Prime2) + Prime3;
            chars = chars[4..];
        }

        foreach (var ch in chars)
        {
            outsideScalar |= ch;
            h ^= (ch & 0xFFUL) * Prime5;
            h = BitOperations.RotateLeft(h, 11) * Prime1;
        }

        h ^= h >> 33;
        h *= Prime2;
        h ^= h >> 29;
        h *= Prime3;
        h ^= h >> 32;

        hash = h;
        var anyOutside = ((outside.AsUInt64().GetElement(0) | outside.AsUInt64().GetElement(1) | outsideScalar) & NonAsciiChars) != 0;
        return !anyOutside;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Round(ulong accumulator, ulong input) =>
        BitOperations.RotateLeft(accumulator + (input * Prime2), 31) * Prime1;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Merge(ulong accumulator, ulong value) =>
        ((accumulator ^ Round(0, value)) * Prime1) + Prime4;

    /// <summary>Four UTF-16 code units (read as one little-endian word) narrowed to four bytes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Pack4(ulong chars) =>
        (chars & 0xFF) | ((chars >> 8) & 0xFF00) | ((chars >> 16) & 0xFF_0000) | ((chars >> 24) & 0xFF00_0000);
}
