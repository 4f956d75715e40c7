using LoadBalancing.Proxy.Metrics;
using LoadBalancing.Proxy.Tests.Support;

namespace LoadBalancing.Proxy.Tests.Forwarding;

/// <summary>
/// Framing and hop-by-hop shapes from black-box attack runs, over real sockets: a raw client, the proxy, and a raw
/// upstream that records every byte it receives.
/// </summary>
public sealed class RequestFramingTests
{
    private const string Ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

    public static TheoryData<string, string> NominatingRequests => new()
    {
        { "close and a field", "GET / HTTP/1.1\r\nHost: a\r\nConnection: close, X-Secret\r\nX-Secret: s3cr3t\r\n\r\n" },
        { "keep-alive and a field", "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, X-Secret\r\nX-Secret: s3cr3t\r\n\r\n" },
        { "two Connection lines", "GET / HTTP/1.1\r\nHost: a\r\nConnection: X-Secret\r\nX-Secret: s3cr3t\r\nConnection: close\r\n\r\n" },
        { "a field alone", "GET / HTTP/1.1\r\nHost: a\r\nConnection: X-Secret\r\nX-Secret: s3cr3t\r\n\r\n" },
        { "a WebSocket upgrade and a field", "GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, X-Secret\r\nUpgrade: websocket\r\nX-Secret: s3cr3t\r\n\r\n" },
    };

    [Theory]
    [MemberData(nameof(NominatingRequests))]
    public async Task ConnectionNominatedField_NeverReachesTheUpstream(string why, string request)
    {
        await using var upstream = new RawUpstream(Ok, "127.0.0.2");
        await using var proxy = await TestProxy.StartAsync(TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, upstream.Address));

        // The proxy closes a connection whose Connection field nominated a forwarded field, so the read ends.
        var answer = await proxy.SendRawAsync(request);

        Assert.True(answer.StartsWith("HTTP/1.1 200", StringComparison.Ordinal), $"{why}: {answer.Split('\r')[0]}");
        Assert.Contains("X-Forwarded-For: ", upstream.Received, StringComparison.Ordinal);
        Assert.DoesNotContain("s3cr3t", upstream.Received, StringComparison.Ordinal);
        Assert.DoesNotContain("X-Secret", upstream.Received, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task NonAsciiFieldValues_ReachTheUpstreamByteForByte()
    {
        await using var upstream = new RawUpstream(Ok, "127.0.0.2");
        await using var proxy = await TestProxy.StartAsync(TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, upstream.Address));

        // UTF-8 bytes, written here as their Latin-1 view: "café" (é = C3 A9) and "東京" (E6 9D B1 E4 BA AC).
        const string City = "caf\u00C3\u00A9 \u00E6\u009D\u00B1\u00E4\u00BA\u00AC";
        var answer = await proxy.SendRawAsync($"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\nX-City: {City}\r\nCookie: n={City}\r\n\r\n");

        Assert.StartsWith("HTTP/1.1 200", answer, StringComparison.Ordinal);
        Assert.Contains($"\r\nX-City: {City}\r\n", upstream.Received, StringComparison.Ordinal);
        Assert.Contains($"\r\nCookie: n={City}\r\n", upstream.Received, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ConnectionNominatingTheProxysOwnFields_DoesNotSuppressThem()
    {
        await using var upstream = new RawUpstream(Ok, "127.0.0.2");
        await using var proxy = await TestProxy.StartAsync(TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, upstream.Address));

        var answer = await proxy.SendRawAsync(
            "POST /p HTTP/1.1\r\nHost: shop.example\r\nConnection: close, Host, Content-Length, X-Forwarded-For, X-Forwarded-Proto, X-Forwarded-Host\r\n"
            + "X-Forwarded-For: 10.9.8.7\r\nContent-Length: 5\r\n\r\nhello");

        Assert.StartsWith("HTTP/1.1 200", answer, StringComparison.Ordinal);
        var received = upstream.Received;
        Assert.Contains("\r\nHost: shop.example\r\n", received, StringComparison.Ordinal);
        Assert.Contains("\r\nX-Forwarded-For: 127.0.0.1\r\n", received, StringComparison.Ordinal);
        Assert.Contains("\r\nX-Forwarded-Proto: http\r\n", received, StringComparison.Ordinal);
        Assert.Contains("\r\nX-Forwarded-Host: shop.example\r\n", received, StringComparison.Ordinal);
        Assert.Contains("\r\nContent-Length: 5\r\n", received, StringComparison.Ordinal);
    }

    [Fact]
    public async Task H2cUpgrade_IsForwardedAsAPlainRequest_AndWhatFollowsIsNeverTunnelled()
    {
        // An origin that accepts h2c: 101 to any head asking for it, 200 otherwise; it records every byte.
        await using var upstream = new RawUpstream(
            head => System.Text.Encoding.Latin1.GetBytes(head.Contains("Upgrade: h2c", StringComparison.OrdinalIgnoreCase)
                ? "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n"
                : Ok),
            "127.0.0.2",
            closeAfterResponse: false);
        await using var proxy = await TestProxy.StartAsync(TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, upstream.Address));

        var answer = await proxy.SendRawAsync(
            "GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n"
            + "GET /smuggled HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");

        Assert.DoesNotContain("101", answer.Split('\r')[0], StringComparison.Ordinal);
        var heads = upstream.Heads.ToArray();
        Assert.NotEmpty(heads);
        Assert.All(heads, head => Assert.Contains("\r\nX-Forwarded-For: ", head, StringComparison.Ordinal)); // written by the proxy, not tunnelled
        Assert.DoesNotContain("Upgrade", upstream.Received, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("HTTP2-Settings", upstream.Received, StringComparison.OrdinalIgnoreCase);
    }

    [Theory]
    [InlineData("to h2c", "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\nTUNNELLED")]
    [InlineData("without saying to what", "HTTP/1.1 101 Switching Protocols\r\n\r\nTUNNELLED")]
    [InlineData("to websocket and another", "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket, h2c\r\n\r\nTUNNELLED")]
    public async Task WebSocketRequest_SwitchedToAnotherProtocol_Is502_NeverATunnel(string why, string response)
    {
        await using var upstream = new RawUpstream(response, "127.0.0.2", closeAfterResponse: false);
        await using var proxy = await TestProxy.StartAsync(TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, upstream.Address));

        var answer = await proxy.SendRawAsync(
            "GET /chat HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
            + "GET /smuggled HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");

        Assert.True(answer.StartsWith("HTTP/1.1 502", StringComparison.Ordinal), $"{why}: {answer.Split('\r')[0]}");
        Assert.Contains("upstream sent an invalid response: 101 to a protocol other than the websocket the request asked for", answer, StringComparison.Ordinal);
        Assert.DoesNotContain("TUNNELLED", answer, StringComparison.Ordinal);
        Assert.DoesNotContain("101", answer.Split("\r\n\r\n")[0], StringComparison.Ordinal);
        Assert.DoesNotContain(upstream.Heads.ToArray(), head => head.Contains("/smuggled", StringComparison.Ordinal) && !head.Contains("X-Forwarded-For: ", StringComparison.Ordinal));
    }

    public static TheoryData<string> TargetsWithAFragment => new() { "/admin#x", "/admin#", "/private#/a", "/search?q=1#top" };

    [Theory]
    [MemberData(nameof(TargetsWithAFragment))]
    public async Task TargetWithAFragment_Is400_IsCounted_AndNothingReachesTheUpstream(string target)
    {
        await using var upstream = new RawUpstream(Ok, "127.0.0.2");
        await using var proxy = await TestProxy.StartAsync(TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, upstream.Address));

        // An upstream that cuts the fragment off would serve /admin, which a route guarding /admin never saw.
        var answer = await proxy.SendRawAsync($"GET {target} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");

        Assert.True(answer.StartsWith("HTTP/1.1 400", StringComparison.Ordinal), $"{target}: {answer.Split('\r')[0]}");
        Assert.Contains("the request target has a fragment ('#'), which requests never carry", answer, StringComparison.Ordinal);
        Assert.Equal("", upstream.Received);
        Assert.Equal(1, proxy.Runtime.Rejections.Count(RequestRejection.Fragment));
    }

    [Fact]
    public async Task EmptyHost_OnHttp11_Is400_WhileHttp10WithoutHost_IsForwarded()
    {
        await using var upstream = new RawUpstream(Ok, "127.0.0.2");
        await using var proxy = await TestProxy.StartAsync(TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, upstream.Address));

        var empty = await proxy.SendRawAsync("GET /a HTTP/1.1\r\nHost: \r\nConnection: close\r\n\r\n");
        Assert.True(empty.StartsWith("HTTP/1.1 400", StringComparison.Ordinal), empty.Split('\r')[0]);
        Assert.Contains("the request's Host is empty", empty, StringComparison.Ordinal);
        Assert.Equal("", upstream.Received);
        Assert.Equal(1, proxy.Runtime.Rejections.Count(RequestRejection.EmptyHost));

        var http10 = await proxy.SendRawAsync("GET /b HTTP/1.0\r\n\r\n");
        Assert.StartsWith("HTTP/1.1 200", http10, StringComparison.Ordinal);
        Assert.StartsWith("GET /b HTTP/1.1\r\n", upstream.Received, StringComparison.Ordinal);
    }

    [Fact]
    public async Task EscapedHash_InThePathOrTheQuery_IsData_AndForwardedAsSent()
    {
        await using var upstream = new RawUpstream(Ok, "127.0.0.2");
        await using var proxy = await TestProxy.StartAsync(TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, upstream.Address));

        var answer = await proxy.SendRawAsync("GET /tags/c%23?q=%23dotnet HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");

        Assert.StartsWith("HTTP/1.1 200", answer, StringComparison.Ordinal);
        Assert.StartsWith("GET /tags/c%23?q=%23dotnet HTTP/1.1\r\n", upstream.Received, StringComparison.Ordinal);
        Assert.Equal(0, proxy.Runtime.Rejections.Count(RequestRejection.Fragment));
    }

    [Fact]
    public async Task TrailerWithAControlByte_InTheSamePacketAsTheBody_Is400_NotA500()
    {
        await using var upstream = new RawUpstream(Ok, "127.0.0.2");
        await using var proxy = await TestProxy.StartAsync(TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, upstream.Address));

        var answer = await proxy.SendRawAsync("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-T: a\u0001\r\n\r\n");

        Assert.True(answer.StartsWith("HTTP/1.1 400", StringComparison.Ordinal), answer.Split('\r')[0]);
        Assert.Equal("", upstream.Received);
        Assert.Equal(1, proxy.Runtime.Rejections.Count(RequestRejection.HeaderValue));
    }

    [Theory]
    [InlineData("x-forwarded-for")]
    [InlineData("X-FORWARDED-FOR")]
    public async Task ForwardedFor_NamedInAnyCase_StartsTheChain_WhenTrusted(string name)
    {
        await using var upstream = new RawUpstream(Ok, "127.0.0.2");
        var options = TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, upstream.Address);
        options.TrustForwardedHeaders = true;
        await using var proxy = await TestProxy.StartAsync(options);

        var answer = await proxy.SendRawAsync($"GET / HTTP/1.1\r\nHost: a\r\n{name}: 10.1.2.3\r\n{name}: 10.4.5.6\r\nConnection: close\r\n\r\n");

        Assert.StartsWith("HTTP/1.1 200", answer, StringComparison.Ordinal);
        Assert.Contains("\r\nX-Forwarded-For: 10.1.2.3, 10.4.5.6, 127.0.0.1\r\n", upstream.Received, StringComparison.Ordinal);
        Assert.Single(upstream.Received.Split("\r\n"), line => line.StartsWith("X-Forwarded-For", StringComparison.OrdinalIgnoreCase));
    }

    [Fact]
    public async Task ForwardedFor_FromAnIPv6Client_IsItsAddress()
    {
        await using var upstream = new RawUpstream(Ok, "127.0.0.2");
        var options = TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, upstream.Address);
        options.Listeners[0].Url = "http://[::1]:0";
        await using var proxy = await TestProxy.StartAsync(options);

        var answer = await proxy.SendRawAsync("GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 2001:db8::7\r\nConnection: close\r\n\r\n");

        Assert.StartsWith("HTTP/1.1 200", answer, StringComparison.Ordinal);
        Assert.Contains("\r\nX-Forwarded-For: ::1\r\n", upstream.Received, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ForwardingFields_SpeltWithUnderscores_NeverReachTheUpstream()
    {
        await using var upstream = new RawUpstream(Ok, "127.0.0.2");
        await using var proxy = await TestProxy.StartAsync(TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, upstream.Address));

        // CGI, WSGI and Rack read each of these as the field the proxy writes (HTTP_X_FORWARDED_FOR ...).
        var answer = await proxy.SendRawAsync(
            "GET / HTTP/1.1\r\nHost: a\r\nX_Forwarded_For: 6.6.6.6\r\nx-forwarded_host: evil.example\r\nX_FORWARDED_PROTO: https\r\nX_Request_Id: kept\r\nConnection: close\r\n\r\n");

        Assert.StartsWith("HTTP/1.1 200", answer, StringComparison.Ordinal);
        Assert.DoesNotContain("6.6.6.6", upstream.Received, StringComparison.Ordinal);
        Assert.DoesNotContain("evil.example", upstream.Received, StringComparison.Ordinal);
        Assert.Contains("\r\nX-Forwarded-Proto: http\r\n", upstream.Received, StringComparison.Ordinal);
        Assert.DoesNotContain("_forwarded", upstream.Received, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("\r\nX_Request_Id: kept\r\n", upstream.Received, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SwitchingProtocolsToAPlainRequest_Is502_NeverATunnel()
    {
        await using var upstream = new RawUpstream("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n", "127.0.0.2", closeAfterResponse: false);
        await using var proxy = await TestProxy.StartAsync(TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, upstream.Address));

        var answer = await proxy.SendRawAsync(
            "GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n"
            + "GET /smuggled HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");

        Assert.StartsWith("HTTP/1.1 502", answer, StringComparison.Ordinal);
        Assert.Contains("upstream sent an invalid response: 101", answer, StringComparison.Ordinal);
        Assert.All(upstream.Heads.ToArray(), head => Assert.Contains("\r\nX-Forwarded-For: ", head, StringComparison.Ordinal));
        Assert.Equal(2, proxy.Cluster().Metrics.Errors(UpstreamError.BadResponse));
    }

    public static TheoryData<string, string> BadContentLengths => new()
    {
        { "a plus sign", "+5" },
        { "leading zeros", "005" },
        { "a list of equal values", "5, 5" },
        { "a list without a space", "5,5" },
        { "a negative number", "-5" },
        { "hexadecimal", "0x5" },
        { "a space inside", "0 5" },
        { "a decimal point", "5.0" },
        { "an overflow", "99999999999999999999999" },
        { "nineteen nines", "9999999999999999999" },
        { "a non-ASCII digit", "\u0665" },
    };

    [Theory]
    [MemberData(nameof(BadContentLengths))]
    public async Task ContentLengthThatIsNotPlainDigits_Is400_ClosesTheConnection_AndNothingReachesTheUpstream(string why, string value)
    {
        await using var upstream = new RawUpstream(Ok, "127.0.0.2");
        await using var proxy = await TestProxy.StartAsync(TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, upstream.Address));

        // No Connection: close: the read only ends because the proxy closes the connection.
        var answer = await proxy.SendRawAsync($"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: {value}\r\n\r\nhello");

        Assert.True(answer.StartsWith("HTTP/1.1 400", StringComparison.Ordinal), $"{why}: {answer.Split('\r')[0]}");
        Assert.Equal("", upstream.Received);
    }

    [Fact]
    public async Task ContentLengthThatIsNotPlainDigits_IsCounted()
    {
        await using var upstream = new RawUpstream(Ok, "127.0.0.2");
        await using var proxy = await TestProxy.StartAsync(TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, upstream.Address));

        await proxy.SendRawAsync("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\nhello");

        Assert.Equal(1, proxy.Runtime.Rejections.Count(RequestRejection.ContentLength));
        var metrics = await proxy.Admin.GetStringAsync("/metrics", TestContext.Current.CancellationToken);
        Assert.Contains("lb_proxy_requests_rejected_total{reason=\"content_length\"} 1\n", metrics, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("0")]
    [InlineData("5")]
    public async Task PlainContentLength_IsForwarded(string value)
    {
        await using var upstream = new RawUpstream(Ok, "127.0.0.2");
        await using var proxy = await TestProxy.StartAsync(TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, upstream.Address));

        var body = value == "0" ? "" : "hello";
        var answer = await proxy.SendRawAsync($"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: {value}\r\nConnection: close\r\n\r\n{body}");

        Assert.StartsWith("HTTP/1.1 200", answer, StringComparison.Ordinal);
        Assert.Contains($"\r\nContent-Length: {value}\r\n", upstream.Received, StringComparison.Ordinal);
    }

    public static TheoryData<string, string, string, string> BadTransferEncodings => new()
    {
        { "a coding before chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", "not exactly 'chunked'", "transfer_encoding" },
        { "chunked twice in one line", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", "not exactly 'chunked'", "transfer_encoding" },
        { "chunked on two lines", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", "not exactly 'chunked'", "transfer_encoding" },
        { "an empty list element", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ,chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", "not exactly 'chunked'", "transfer_encoding" },
        { "HTTP/1.0", "POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", "HTTP/1.0", "http10_transfer_encoding" },
        { "Content-Length too", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", "both Content-Length and Transfer-Encoding", "content_length_and_transfer_encoding" },
    };

    [Theory]
    [MemberData(nameof(BadTransferEncodings))]
    public async Task TransferEncodingOtherThanOneChunked_Is400_ClosesTheConnection_AndNothingReachesTheUpstream(string why, string request, string message, string reason)
    {
        await using var upstream = new RawUpstream(Ok, "127.0.0.2");
        await using var proxy = await TestProxy.StartAsync(TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, upstream.Address));

        var answer = await proxy.SendRawAsync(request);

        Assert.True(answer.StartsWith("HTTP/1.1 400", StringComparison.Ordinal), $"{why}: {answer.Split('\r')[0]}");
        Assert.Contains("\r\nConnection: close\r\n", answer, StringComparison.OrdinalIgnoreCase);
        Assert.Contains(message, answer, StringComparison.Ordinal);
        Assert.Equal("", upstream.Received);
        Assert.Equal(1, proxy.Runtime.Rejections.Count((RequestRejection)Array.IndexOf(RequestRejections.ReasonNames, reason)));
    }

    [Fact]
    public async Task ChunkedInAnyCase_IsForwardedChunked()
    {
        await using var upstream = new RawUpstream(Ok, "127.0.0.2");
        await using var proxy = await TestProxy.StartAsync(TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, upstream.Address));

        var answer = await proxy.SendRawAsync("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n");

        Assert.StartsWith("HTTP/1.1 200", answer, StringComparison.Ordinal);
        Assert.Contains("\r\nTransfer-Encoding: chunked\r\n", upstream.Received, StringComparison.Ordinal);
        Assert.DoesNotContain("X-Content-Length", upstream.Received, StringComparison.OrdinalIgnoreCase);
    }

    public static TheoryData<string, string, string> BadFields => new()
    {
        { "a control byte inside Content-Length's name", "POST / HTTP/1.1\r\nHost: a\r\nC\u0001ontent-Length: 38\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n", "header_name" },
        { "a vertical tab inside Connection's name", "GET / HTTP/1.1\r\nC\u000Bonnection: close\r\nHost: a\r\n\r\n", "header_name" },
        { "DEL in a name", "GET / HTTP/1.1\r\nHost: a\r\nX-\u007FA: 1\r\n\r\n", "header_name" },
        { "a separator in a name", "GET / HTTP/1.1\r\nHost: a\r\nX(A): 1\r\n\r\n", "header_name" },
        { "a control byte in a value", "POST / HTTP/1.1\r\nX-F0: a\u0001b\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello", "header_value" },
        { "NUL in a value", "GET / HTTP/1.1\r\nHost: a\r\nX-A: a\u0000b\r\n\r\n", "header_value" },
        { "DEL in Connection", "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\u007Fx\r\n\r\n", "header_value" },
        { "a control byte in Host", "GET / HTTP/1.1\r\nHost: a\u001B\r\n\r\n", "header_value" },
    };

    [Theory]
    [MemberData(nameof(BadFields))]
    public async Task FieldWithAControlByteOrANameThatIsNotAToken_Is400_ClosesTheConnection_IsCounted_AndNothingReachesTheUpstream(string why, string request, string reason)
    {
        await using var upstream = new RawUpstream(Ok, "127.0.0.2");
        await using var proxy = await TestProxy.StartAsync(TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, upstream.Address));

        // No Connection: close: the read only ends because the proxy closes the connection.
        var answer = await proxy.SendRawAsync(request);

        Assert.True(answer.StartsWith("HTTP/1.1 400", StringComparison.Ordinal), $"{why}: {answer.Split('\r')[0]}");
        Assert.Contains("\r\nConnection: close\r\n", answer, StringComparison.OrdinalIgnoreCase);
        Assert.Equal(1, answer.Split("HTTP/1.1 ").Length - 1);
        Assert.Equal("", upstream.Received);
        Assert.Equal(1, proxy.Runtime.Rejections.Count((RequestRejection)Array.IndexOf(RequestRejections.ReasonNames, reason)));
    }

    [Fact]
    public async Task HorizontalTabAndObsText_InAValue_AreForwarded()
    {
        await using var upstream = new RawUpstream(Ok, "127.0.0.2");
        await using var proxy = await TestProxy.StartAsync(TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, upstream.Address));

        var answer = await proxy.SendRawAsync("GET / HTTP/1.1\r\nHost: a\r\nX-A: a\tb\r\nX-B: caf\u00C3\u00A9\r\nConnection: close\r\n\r\n");

        Assert.StartsWith("HTTP/1.1 200", answer, StringComparison.Ordinal);
        Assert.Contains("\r\nX-A: a\tb\r\n", upstream.Received, StringComparison.Ordinal);
        Assert.Contains("\r\nX-B: caf", upstream.Received, StringComparison.Ordinal);
        Assert.Equal(0, proxy.Runtime.Rejections.Count(RequestRejection.HeaderValue));
    }

    [Fact]
    public async Task TrailerHeader_IsNotForwarded()
    {
        await using var upstream = new RawUpstream(Ok, "127.0.0.2");
        await using var proxy = await TestProxy.StartAsync(TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, upstream.Address));

        var answer = await proxy.SendRawAsync("POST / HTTP/1.1\r\nHost: a\r\nTrailer: X-T\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\nX-T: 1\r\n\r\n");

        Assert.StartsWith("HTTP/1.1 200", answer, StringComparison.Ordinal);
        Assert.DoesNotContain("Trailer", upstream.Received, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("X-T", upstream.Received, StringComparison.OrdinalIgnoreCase);
    }
}
