using System.Text.RegularExpressions;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using LoadBalancing.Proxy.Routing;

namespace LoadBalancing.Proxy.Tests.Routing;

public sealed class RegexPrefixTests
{
    private static readonly string[] Tokens = ["/", "a", "b", "1", "A", ".", "*", "+", "?", "|", "(", ")", "[ab]", "[^/]", "\\d", "\\/", "{0,2}", "{1}", "(?i)", "(?x)", "#", " ", "^", "$", "[]a]", "[a-[b]]"];

    // Every path of up to four characters over the patterns' alphabet.
    private static readonly string[] Paths = [.. Enumerable.Range(0, 5).SelectMany(n => Strings(n, "/ab1A "))];

    [Theory]
    [InlineData("/items/[0-9]+", "/items/")]
    [InlineData("/users/[^/]+/orders", "/users/")]
    [InlineData("/files/.+\\.(png|jpg)", "/files/")]
    [InlineData("/items?", "/item")] // the quantifier takes the 's'
    [InlineData("/a{2}", "/")]
    [InlineData("/api/v1|/api/v2", "")] // an alternation at the top level
    [InlineData("/api/(v1|v2)", "/api/")] // inside a group
    [InlineData("/api/[|]x|/y", "")]
    [InlineData("/api/\\|x|/y", "")]
    [InlineData("(?i)/api", "")]
    [InlineData("/api(?x) # (\n|/b", "")] // a free-spacing comment could hide the alternation
    [InlineData("^/api", "")]
    [InlineData("/api/\\d+", "/api/")]
    public void Literal_IsThePlainTextEveryMatchStartsWith(string pattern, string expected) =>
        Assert.Equal(expected, RegexPrefix.Literal(pattern));

    [Property(MaxTest = 300)]
    public Property EveryMatch_StartsWithTheLiteral(PositiveInt[] tokens)
    {
        var pattern = string.Concat(tokens.Take(8).Select(t => Tokens[t.Get % Tokens.Length]));
        Regex regex;
        try
        {
            regex = RouteConditions.Anchored(pattern);
        }
        catch (ArgumentException)
        {
            return true.ToProperty(); // not a pattern validation would accept
        }

        // The production timeout guards requests; here a busy machine must not turn a slow backtracking pattern into a
        // failure, so the same regex gets a generous one.
        regex = new Regex(regex.ToString(), regex.Options, TimeSpan.FromSeconds(10));
        var prefix = RegexPrefix.Literal(pattern);
        var missed = Paths.FirstOrDefault(p => regex.IsMatch(p) && !p.StartsWith(prefix, StringComparison.Ordinal));
        return (missed is null).Label($"'{pattern}' (prefix '{prefix}') matches '{missed}'");
    }

    private static IEnumerable<string> Strings(int length, string alphabet) =>
        length == 0 ? [""] : Strings(length - 1, alphabet).SelectMany(s => alphabet.Select(c => s + c));
}
