using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using LoadBalancing.Proxy.Forwarding;

namespace LoadBalancing.Proxy.Tests.Forwarding;

/// <summary>The hand-written field-text helpers agree with the plain definitions they replace, on any bytes.</summary>
public sealed class FieldTextProperties
{
    // Bytes drawn mostly from the ones that matter here: whitespace, controls, DEL and ordinary text.
    private static readonly byte[] Interesting = [0x00, 0x09, 0x0A, 0x0D, 0x1F, 0x20, 0x7F, 0x80, 0xFF, (byte)'a', (byte)',', (byte)':'];

    [Property(MaxTest = 500)]
    public Property TrimOws_IsTrimOfSpaceAndTab(PositiveInt[] picks) =>
        Check(Bytes(picks), bytes => FieldText.TrimOws(bytes).SequenceEqual(bytes.AsSpan().Trim(" \t"u8)));

    [Property(MaxTest = 500)]
    public Property HasControl_IsAnyCtlButTab_OrDel(PositiveInt[] picks) =>
        Check(Bytes(picks), bytes => FieldText.HasControl(bytes) == bytes.Any(b => (b < 0x20 && b != 0x09) || b == 0x7F));

    private static byte[] Bytes(PositiveInt[] picks) =>
        [.. picks.Take(80).Select(p => p.Get % 3 == 0 ? (byte)(p.Get % 256) : Interesting[p.Get % Interesting.Length])];

    private static Property Check(byte[] bytes, Func<byte[], bool> holds) =>
        holds(bytes).Label(Convert.ToHexString(bytes));
}
