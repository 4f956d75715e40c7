using System.Buffers;

namespace LoadBalancing.Proxy.Forwarding;

/// <summary>Byte-level rules for HTTP field text, shared by the request and response sides (RFC 9110 §5.5, §5.6.3).</summary>
internal static class FieldText
{
    // RFC 9110 §5.5: the CTLs other than HTAB, and DEL.
    private static readonly SearchValues<byte> ControlBytes = SearchValues.Create(
        [0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x0A, 0x0B, 0x0C, 0x0D, 0x0E, 0x0F,
         0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1A, 0x1B, 0x1C, 0x1D, 0x1E, 0x1F, 0x7F]);

    /// <summary>Whether a field value holds a control character other than HTAB.</summary>
    public static bool HasControl(ReadOnlySpan<byte> value) => value.ContainsAny(ControlBytes);

    /// <summary>
    /// The value without the optional whitespace (SP and HTAB) around it. A plain loop: values are short and rarely
    /// padded, where <c>Trim</c> with a set of bytes costs some two hundred instructions a call.
    /// </summary>
    public static ReadOnlySpan<byte> TrimOws(ReadOnlySpan<byte> value)
    {
        var start = 0;
        while (start < value.Length && value[start] is (byte)' ' or (byte)'\t')
        {
            start++;
        }

        var end = value.Length;
        while (end > start && value[end - 1] is (byte)' ' or (byte)'\t')
        {
            end--;
        }

        return value[start..end];
    }
}
