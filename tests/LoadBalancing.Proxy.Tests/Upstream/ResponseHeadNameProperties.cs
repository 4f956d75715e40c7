using System.Text;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using LoadBalancing.Proxy.Upstream;

namespace LoadBalancing.Proxy.Tests.Upstream;

/// <summary>
/// The response parser's name comparison (a fold in 0x20) against <see cref="Ascii.EqualsIgnoreCase(ReadOnlySpan{byte}, ReadOnlySpan{byte})"/>,
/// over every token a name can hold: each byte of a candidate is the known name's own in either case, or any token byte.
/// </summary>
public sealed class ResponseHeadNameProperties
{
    private const string TokenBytes = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

    private static readonly string[] Known = ["TE", "Trailer", "Upgrade", "Connection", "Keep-Alive", "Content-Length", "Proxy-Connection", "Transfer-Encoding"];

    private static readonly Arbitrary<(string Known, string Candidate)> Case =
        (from known in Gen.Elements(Known)
         from picks in Gen.ArrayOf(Gen.Choose(0, 3), known.Length)
         from others in Gen.ArrayOf(Gen.Elements(TokenBytes.ToCharArray()), known.Length)
         select (known, new string([.. known.Select((c, i) => picks[i] switch
         {
             0 => char.ToLowerInvariant(c),
             1 => char.ToUpperInvariant(c),
             2 => c,
             _ => others[i],
         })]))).ToArbitrary();

    [Property(MaxTest = 2000)]
    public Property KnownName_AgreesWithAsciiEqualsIgnoreCase_ForEveryToken() =>
        Prop.ForAll(Case, c =>
        {
            var known = Encoding.ASCII.GetBytes(c.Known);
            var candidate = Encoding.ASCII.GetBytes(c.Candidate);
            var expected = Ascii.EqualsIgnoreCase(candidate, known);
            return (ResponseHeadParser.IsKnownName(candidate, known) == expected).Label($"{c.Candidate} against {c.Known}: expected {expected}");
        });

    [Fact]
    public void KnownName_TakesNoOtherTokenByteForItsOwn()
    {
        // '~' and '_' are token bytes beside '-' and the letters; a fold must not take either for '-'.
        Assert.False(ResponseHeadParser.IsKnownName("Content~Length"u8, "Content-Length"u8));
        Assert.False(ResponseHeadParser.IsKnownName("Content_Length"u8, "Content-Length"u8));
        Assert.True(ResponseHeadParser.IsKnownName("cONTENT-lENGTH"u8, "Content-Length"u8));
        Assert.False(ResponseHeadParser.IsKnownName("Connectiom"u8, "Connection"u8));
        Assert.False(ResponseHeadParser.IsKnownName("Connection-X"u8, "Connection"u8));
        Assert.False(ResponseHeadParser.IsKnownName("Connect"u8, "Connection"u8));
    }
}
