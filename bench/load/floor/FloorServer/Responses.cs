using System.Text;

namespace FloorServer;

internal static class Responses
{
    public static readonly byte[] Body = "Hello, World!"u8.ToArray();

    /// <summary>About the size of the head Kestrel writes for the same body.</summary>
    public static readonly byte[] Whole = Encoding.ASCII.GetBytes(
        "HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\nDate: Wed, 02 Dec 2026 03:00:00 GMT\r\n\r\nHello, World!");

    /// <summary>Counts the request heads that end in <paramref name="data"/>; <paramref name="matched"/> carries a terminator split across reads.</summary>
    public static int CountRequestEnds(ReadOnlySpan<byte> data, ref int matched)
    {
        var ends = 0;
        foreach (var b in data)
        {
            matched = (matched, b) switch
            {
                (0 or 2, (byte)'\r') => matched + 1,
                (1 or 3, (byte)'\n') => matched + 1,
                (_, (byte)'\r') => 1,
                _ => 0,
            };
            if (matched == 4)
            {
                ends++;
                matched = 0;
            }
        }

        return ends;
    }
}
