using System.IO.Hashing;
using System.Net;
using System.Text;
using FsCheck;
using FsCheck.Xunit;

namespace LoadBalancing.Tests.Hashing;

public sealed class RequestKeyTests
{
    [Fact]
    public void FromBytes_IsXxHash64SeedZero_AsEnvoyRingEntriesShow()
    {
        // Envoy's ring-hash test puts 127.0.0.1:94's two entries ("127.0.0.1:94_0" and "_1") at these positions.
        var positions = new[] { "127.0.0.1:94_0", "127.0.0.1:94_1" }.Select(s => RequestKey.FromBytes(Encoding.ASCII.GetBytes(s))).Order();

        Assert.Equal([833437586790550860UL, 15516499411664133160UL], positions);
    }

    [Theory]
    [InlineData("user-42")]
    [InlineData("ünïcødé-väłue")]
    [InlineData("")]
    public void FromString_EqualsFromBytesOfUtf8(string value)
    {
        Assert.Equal(RequestKey.FromBytes(Encoding.UTF8.GetBytes(value)), RequestKey.FromString(value));
    }

    [Fact]
    public void FromString_LongValue_StillMatches()
    {
        var value = new string('x', 5000);

        Assert.Equal(RequestKey.FromBytes(Encoding.UTF8.GetBytes(value)), RequestKey.FromString(value));
    }

    [Property(MaxTest = 500)]
    public bool FromString_AnyAsciiText_IsXxHash64OfItsBytes(PositiveInt length, int seed)
    {
        // Every length from 0 to 300 crosses each branch of the fused hash: 32-character stripes,
        // 8- and 4-character lanes and single characters.
        var random = new Random(seed);
        var text = new string(Enumerable.Range(0, length.Get % 301).Select(_ => (char)random.Next(0, 128)).ToArray());

        return RequestKey.FromString(text) == XxHash64.HashToUInt64(Encoding.ASCII.GetBytes(text));
    }

    [Property(MaxTest = 300)]
    public bool FromString_OneCharacterOutsideAscii_IsXxHash64OfUtf8(PositiveInt length, PositiveInt position, char outside, int seed)
    {
        // Latin-1 characters narrow to a single byte but encode as two in UTF-8: the fused path must
        // notice any of them, wherever it sits, and fall back.
        var random = new Random(seed);
        var chars = Enumerable.Range(0, 1 + (length.Get % 300)).Select(_ => (char)random.Next(32, 127)).ToArray();
        chars[position.Get % chars.Length] = (char)Math.Max((int)outside, 0x80);
        var text = new string(chars);
        if (char.IsSurrogate(text, position.Get % chars.Length))
        {
            return true; // a lone surrogate has no UTF-8 form to compare with
        }

        return RequestKey.FromString(text) == XxHash64.HashToUInt64(Encoding.UTF8.GetBytes(text));
    }

    [Theory]
    [InlineData("10.1.2.3")]
    [InlineData("2001:db8::7")]
    public void FromAddress_HashesTheTextForm(string address)
    {
        Assert.Equal(RequestKey.FromString(address), RequestKey.FromAddress(IPAddress.Parse(address)));
    }

    [Theory]
    [InlineData("a=1; session=abc; b=2", "abc")]
    [InlineData("session=\"quoted\"", "quoted")]
    [InlineData(" session = spaced ;x=y", "spaced")]
    public void TryFromCookie_Present_HashesItsValue(string header, string value)
    {
        Assert.True(RequestKey.TryFromCookie(header, "session", out var key));
        Assert.Equal(RequestKey.FromString(value), key);
    }

    [Theory]
    [InlineData("")]
    [InlineData("sessionx=1; xsession=2")]
    [InlineData("other=session")]
    public void TryFromCookie_Absent_ReturnsFalse(string header)
    {
        Assert.False(RequestKey.TryFromCookie(header, "session", out _));
    }
}
