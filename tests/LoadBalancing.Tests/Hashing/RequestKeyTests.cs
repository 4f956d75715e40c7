using System.Net;
using System.Text;

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
    public void FromString_LongValue_UsesPooledBufferAndStillMatches()
    {
        var value = new string('x', 5000);

        Assert.Equal(RequestKey.FromBytes(Encoding.UTF8.GetBytes(value)), RequestKey.FromString(value));
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
