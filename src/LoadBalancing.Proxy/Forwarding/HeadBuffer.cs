using System.Buffers;
using System.Globalization;
using System.IO.Pipelines;
using System.Net;
using System.Text;

namespace LoadBalancing.Proxy.Forwarding;

/// <summary>
/// Writes a message head into a <see cref="PipeWriter"/>'s memory and hands it to the pipe once, at
/// <see cref="Commit"/>. A pipe's <c>GetSpan</c> and <c>Advance</c> each take the pipe's lock; written field by field, a
/// request head called them some forty times, and the lock showed in the proxy's profile (bench/load/run.sh --profile).
/// </summary>
internal ref struct HeadBuffer
{
    // INET6_ADDRSTRLEN (46) plus a scope id.
    private const int MaxAddressLength = 64;

    private readonly PipeWriter _output;
    private Span<byte> _span;
    private int _buffered;

    public HeadBuffer(PipeWriter output)
    {
        _output = output;
        _span = output.GetSpan();
        _buffered = 0;
    }

    public void Write(scoped ReadOnlySpan<byte> bytes)
    {
        bytes.CopyTo(Reserve(bytes.Length));
        _buffered += bytes.Length;
    }

    /// <summary>
    /// Methods, targets, names and the proxy's own values: one byte per char (Latin-1). ASCII, nearly always, takes
    /// the narrowing loop alone, without the encoder's checks and virtual calls.
    /// </summary>
    public void Ascii(scoped ReadOnlySpan<char> text)
    {
        if (text.IsEmpty)
        {
            return;
        }

        var destination = Reserve(text.Length);
        if (System.Text.Ascii.FromUtf16(text, destination, out var written) != OperationStatus.Done)
        {
            written += Encoding.Latin1.GetBytes(text[written..], destination[written..]);
        }

        _buffered += written;
    }

    /// <summary>
    /// A field value, as the bytes it arrived as: Kestrel decodes values as UTF-8 (ASCII being the common case), so
    /// a value with anything beyond ASCII is encoded back as UTF-8, not narrowed to Latin-1.
    /// </summary>
    public void Value(scoped ReadOnlySpan<char> text)
    {
        if (text.IsEmpty)
        {
            return;
        }

        if (System.Text.Ascii.FromUtf16(text, Reserve(text.Length), out var written) == OperationStatus.Done)
        {
            _buffered += written;
            return;
        }

        // What was narrowed so far lies beyond what is buffered: the UTF-8 encoding writes over it.
        _buffered += Encoding.UTF8.GetBytes(text, Reserve(Encoding.UTF8.GetMaxByteCount(text.Length)));
    }

    /// <summary>An IP address as text (an IPv6 address with a scope id fits in <see cref="MaxAddressLength"/> bytes).</summary>
    public void Address(IPAddress address)
    {
        if (address.TryFormat(Reserve(MaxAddressLength), out var written))
        {
            _buffered += written;
        }
    }

    /// <summary>
    /// One <c>name: value</c> line. Names are tokens (ASCII) and values nearly always ASCII: both are narrowed into one
    /// reservation; a value beyond ASCII goes the way <see cref="Value"/> takes it.
    /// </summary>
    public void Field(scoped ReadOnlySpan<char> name, scoped ReadOnlySpan<char> value)
    {
        var length = name.Length + value.Length + 4;
        var line = Reserve(length);
        if (System.Text.Ascii.FromUtf16(name, line, out _) == OperationStatus.Done
            && System.Text.Ascii.FromUtf16(value, line[(name.Length + 2)..], out _) == OperationStatus.Done)
        {
            line[name.Length] = (byte)':';
            line[name.Length + 1] = (byte)' ';
            line[length - 2] = (byte)'\r';
            line[length - 1] = (byte)'\n';
            _buffered += length;
            return;
        }

        Ascii(name);
        Write(": "u8);
        Value(value);
        Write("\r\n"u8);
    }

    public void Number(long value)
    {
        value.TryFormat(Reserve(20), out var written, default, CultureInfo.InvariantCulture);
        _buffered += written;
    }

    /// <summary>Hands what was written to the pipe (not flushed).</summary>
    public void Commit()
    {
        if (_buffered > 0)
        {
            _output.Advance(_buffered);
            _buffered = 0;
        }

        _span = default;
    }

    /// <summary>At least <paramref name="length"/> bytes of room after what is buffered, from a new span if need be.</summary>
    private Span<byte> Reserve(int length)
    {
        if (_span.Length - _buffered < length)
        {
            _output.Advance(_buffered);
            _buffered = 0;
            _span = _output.GetSpan(length);
        }

        return _span[_buffered..];
    }
}
