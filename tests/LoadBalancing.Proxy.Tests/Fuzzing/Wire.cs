using System.Text;

namespace LoadBalancing.Proxy.Tests.Fuzzing;

/// <summary>Byte helpers shared by the fuzzers; Latin-1 throughout so every byte survives a round trip through a string.</summary>
internal static class Wire
{
    public static byte[] Bytes(string text) => Encoding.Latin1.GetBytes(text);

    public static string Text(ReadOnlySpan<byte> bytes) => Encoding.Latin1.GetString(bytes);

    public static byte[] Concat(IEnumerable<byte[]> parts)
    {
        var all = new List<byte>();
        foreach (var part in parts)
        {
            all.AddRange(part);
        }

        return [.. all];
    }

    /// <summary>A C# string literal of <paramref name="bytes"/>, ready to paste into <see cref="RegressionCases"/> (read back with Latin-1).</summary>
    public static string Literal(ReadOnlySpan<byte> bytes)
    {
        var text = new StringBuilder("\"");
        foreach (var b in bytes)
        {
            _ = b switch
            {
                (byte)'\r' => text.Append("\\r"),
                (byte)'\n' => text.Append("\\n"),
                (byte)'\t' => text.Append("\\t"),
                (byte)'"' => text.Append("\\\""),
                (byte)'\\' => text.Append("\\\\"),
                < 0x20 or >= 0x7F => text.Append("\\u00").Append(b.ToString("X2", System.Globalization.CultureInfo.InvariantCulture)),
                _ => text.Append((char)b),
            };
        }

        return text.Append('"').ToString();
    }

    public static bool IsControl(byte b) => (b < 0x20 && b != (byte)'\t') || b == 0x7F;

    public static bool IsTokenChar(byte b) =>
        b is >= (byte)'a' and <= (byte)'z' or >= (byte)'A' and <= (byte)'Z' or >= (byte)'0' and <= (byte)'9'
        || "!#$%&'*+-.^_`|~"u8.Contains(b);

    public static bool IsToken(ReadOnlySpan<byte> name)
    {
        if (name.IsEmpty)
        {
            return false;
        }

        foreach (var b in name)
        {
            if (!IsTokenChar(b))
            {
                return false;
            }
        }

        return true;
    }

    public static bool IsDigits(string value) => value.Length > 0 && value.All(char.IsAsciiDigit);

    /// <summary>Comma-separated list elements, trimmed, empty ones dropped (RFC 9110 §5.6.1).</summary>
    public static IEnumerable<string> ListElements(string value) =>
        value.Split(',').Select(e => e.Trim(' ', '\t')).Where(e => e.Length > 0);
}

/// <summary>Seeded choices; one instance per fuzz run so a seed replays the same cases.</summary>
internal sealed class Dice(int seed)
{
    private readonly Random _random = new(seed);

    public int Next(int max) => _random.Next(max);

    public int Between(int min, int maxExclusive) => _random.Next(min, maxExclusive);

    public bool Chance(double p) => _random.NextDouble() < p;

    public T Pick<T>(IReadOnlyList<T> items) => items[_random.Next(items.Count)];

    public byte[] Printable(int length)
    {
        var bytes = new byte[length];
        for (var i = 0; i < length; i++)
        {
            bytes[i] = (byte)_random.Next(0x21, 0x7F);
        }

        return bytes;
    }

    /// <summary>Splits <paramref name="length"/> into 1..<paramref name="maxParts"/> positive pieces.</summary>
    public int[] Split(int length, int maxParts)
    {
        if (length <= 1)
        {
            return [length];
        }

        var cuts = new SortedSet<int>();
        var parts = Between(1, maxParts + 1);
        for (var i = 1; i < parts; i++)
        {
            cuts.Add(Between(1, length));
        }

        var pieces = new List<int>();
        var previous = 0;
        foreach (var cut in cuts)
        {
            pieces.Add(cut - previous);
            previous = cut;
        }

        pieces.Add(length - previous);
        return [.. pieces];
    }
}
