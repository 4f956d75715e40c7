using System.Net;
using LoadBalancing.Yarp.Configuration;
using Microsoft.AspNetCore.Http;

namespace LoadBalancing.Yarp.Tests.Configuration;

public sealed class HashKeySelectorTests
{
    [Theory]
    [InlineData("header:X-User", "Header", "X-User")]
    [InlineData(" Header : X-User ", "Header", "X-User")]
    [InlineData("cookie:session", "Cookie", "session")]
    [InlineData("query:tenant", "Query", "tenant")]
    [InlineData("route:id", "Route", "id")]
    [InlineData("path", "Path", "")]
    [InlineData("client-ip", "ClientIp", "")]
    public void TryParse_EachForm_IsUnderstood(string value, string source, string name)
    {
        Assert.True(HashKeySelector.TryParse("c", value, out var selector, out var error), error);
        Assert.Equal(Enum.Parse<HashKeySource>(source), selector.Source);
        Assert.Equal(name, selector.Name);
    }

    [Theory]
    [InlineData("bogus:x", "not a hash key")]
    [InlineData("headers:X-User", "not a hash key")]
    [InlineData("", "not a hash key")]
    [InlineData("header", "names no header")]
    [InlineData("cookie:", "names no cookie")]
    public void TryParse_BadValue_NamesClusterKeyAndValue(string value, string problem)
    {
        Assert.False(HashKeySelector.TryParse("shop", value, out _, out var error));
        Assert.Contains("Cluster 'shop'", error, StringComparison.Ordinal);
        Assert.Contains("'LoadBalancing.HashKey'", error, StringComparison.Ordinal);
        Assert.Contains($"'{value}'", error, StringComparison.Ordinal);
        Assert.Contains(problem, error, StringComparison.Ordinal);
    }

    [Fact]
    public void GetContext_EachSource_HashesTheValueAsTheCoreDoes()
    {
        var context = new DefaultHttpContext();
        context.Request.Headers["X-User"] = "alice";
        context.Request.Headers.Cookie = "a=1; session=s-42";
        context.Request.QueryString = new QueryString("?x=1&tenant=acme");
        context.Request.RouteValues["id"] = "item-7";
        context.Request.Path = "/orders/9";
        context.Connection.RemoteIpAddress = IPAddress.Parse("::ffff:10.1.2.3");

        Assert.Equal(RequestKey.FromString("alice"), Key("header:x-user", context));
        Assert.Equal(RequestKey.FromString("s-42"), Key("cookie:session", context));
        Assert.Equal(RequestKey.FromString("acme"), Key("query:tenant", context));
        Assert.Equal(RequestKey.FromString("item-7"), Key("route:id", context));
        Assert.Equal(RequestKey.FromString("/orders/9"), Key("path", context));
        Assert.Equal(RequestKey.FromString("10.1.2.3"), Key("client-ip", context));
    }

    [Theory]
    [InlineData("header:X-Missing")]
    [InlineData("cookie:missing")]
    [InlineData("query:missing")]
    [InlineData("route:missing")]
    public void GetContext_KeyAbsent_GivesNoKey(string value)
    {
        var context = new DefaultHttpContext();
        context.Request.Headers.Cookie = "a=1";
        context.Request.QueryString = new QueryString("?missingx=1");
        Assert.True(HashKeySelector.TryParse("c", value, out var selector, out _));
        Assert.False(selector.GetContext(context).HasHash);
    }

    private static ulong Key(string value, HttpContext context)
    {
        Assert.True(HashKeySelector.TryParse("c", value, out var selector, out _));
        var pick = selector.GetContext(context);
        Assert.True(pick.HasHash, value);
        return pick.Hash;
    }
}
