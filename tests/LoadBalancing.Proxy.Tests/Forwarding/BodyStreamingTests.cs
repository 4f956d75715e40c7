using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using LoadBalancing.Proxy.Tests.Support;
using Microsoft.AspNetCore.Http;

namespace LoadBalancing.Proxy.Tests.Forwarding;

/// <summary>
/// Large and chunked bodies both ways. The 100 MB tests run alone: they measure allocations of the whole
/// process (client, proxy and backend) and would see other tests' garbage. The bound, 16 MB for a 100 MB body,
/// fails a proxy that holds a body whole and one that churns garbage in proportion to it (as unbounded
/// multi-segment flushes did: 24 to 57 MB per upload before flushes were bounded, now by MaxBytesPerFlush).
/// </summary>
[Collection(nameof(LargeBodies))]
public sealed class BodyStreamingTests
{
    private const long HundredMegabytes = 100L * 1024 * 1024;

    [Fact]
    public async Task Upload100MB_IsStreamed_NotBuffered()
    {
        await using var backend = await TestBackend.StartAsync("a", "127.0.0.2", async context =>
        {
            var buffer = new byte[64 * 1024];
            long total = 0;
            int read;
            while ((read = await context.Request.Body.ReadAsync(buffer)) > 0)
            {
                total += read;
            }

            await context.Response.WriteAsync(total.ToString(System.Globalization.CultureInfo.InvariantCulture));
        });
        await using var proxy = await TestProxy.StartAsync(TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, backend.Address));

        var allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
        using var content = new GeneratedContent(HundredMegabytes, knownLength: true);
        using var response = await proxy.Client.PostAsync("/upload", content, TestContext.Current.CancellationToken);
        var answer = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore;

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(HundredMegabytes.ToString(System.Globalization.CultureInfo.InvariantCulture), answer);
        Assert.True(allocated < 16 * 1024 * 1024, $"100 MB upload allocated {allocated / (1024 * 1024)} MB in the process: a body is being buffered");
    }

    [Fact]
    public async Task Download100MB_IsStreamed_NotBuffered()
    {
        await using var backend = await TestBackend.StartAsync("a", "127.0.0.2", async context =>
        {
            context.Response.ContentLength = HundredMegabytes;
            var buffer = new byte[64 * 1024];
            for (long sent = 0; sent < HundredMegabytes; sent += buffer.Length)
            {
                await context.Response.Body.WriteAsync(buffer);
            }
        });
        await using var proxy = await TestProxy.StartAsync(TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, backend.Address));

        var allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
        using var response = await proxy.Client.GetAsync("/download", HttpCompletionOption.ResponseHeadersRead, TestContext.Current.CancellationToken);
        await using var body = await response.Content.ReadAsStreamAsync(TestContext.Current.CancellationToken);
        var buffer = new byte[64 * 1024];
        long total = 0;
        int read;
        while ((read = await body.ReadAsync(buffer, TestContext.Current.CancellationToken)) > 0)
        {
            total += read;
        }

        var allocated = GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore;
        Assert.Equal(HundredMegabytes, total);
        Assert.True(allocated < 16 * 1024 * 1024, $"100 MB download allocated {allocated / (1024 * 1024)} MB in the process: a body is being buffered");
    }

    [Fact]
    public async Task ChunkedBothWays_BodyArrivesIntact()
    {
        await using var backend = await TestBackend.StartAsync("a", "127.0.0.2", async context =>
        {
            // Echo without a length: Kestrel answers chunked.
            var buffer = new byte[8192];
            int read;
            while ((read = await context.Request.Body.ReadAsync(buffer)) > 0)
            {
                await context.Response.Body.WriteAsync(buffer.AsMemory(0, read));
                await context.Response.Body.FlushAsync();
            }
        });
        await using var proxy = await TestProxy.StartAsync(TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, backend.Address));
        var payload = RandomNumberGenerator.GetBytes(3 * 1024 * 1024 + 17);

        using var content = new GeneratedContent(payload, knownLength: false);
        using var response = await proxy.Client.PostAsync("/echo", content, TestContext.Current.CancellationToken);
        var echoed = await response.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken);

        Assert.True(response.Headers.TransferEncodingChunked);
        Assert.Equal(payload, echoed);
        var seen = Assert.Single(backend.Requests);
        Assert.Equal("chunked", seen.Headers["Transfer-Encoding"]);
        Assert.False(seen.Headers.ContainsKey("Content-Length"));
    }

    [Fact]
    public async Task ContentLengthBody_IsForwardedWithItsLength()
    {
        await using var backend = await TestBackend.StartAsync("a", "127.0.0.2", async context =>
        {
            using var reader = new StreamReader(context.Request.Body, Encoding.UTF8);
            await context.Response.WriteAsync($"{context.Request.ContentLength}:{await reader.ReadToEndAsync()}");
        });
        await using var proxy = await TestProxy.StartAsync(TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, backend.Address));

        using var response = await proxy.Client.PostAsync("/", new StringContent("hello"), TestContext.Current.CancellationToken);
        Assert.Equal("5:hello", await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));

        using var empty = await proxy.Client.PostAsync("/", new ByteArrayContent([]), TestContext.Current.CancellationToken);
        Assert.Equal("0:", await empty.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
    }

    /// <summary>A request body generated as it is sent (never held whole), with or without a declared length.</summary>
    private sealed class GeneratedContent : HttpContent
    {
        private readonly long _length;
        private readonly bool _knownLength;
        private readonly byte[]? _payload;

        public GeneratedContent(long length, bool knownLength)
        {
            _length = length;
            _knownLength = knownLength;
            if (knownLength)
            {
                Headers.ContentLength = length;
            }

            Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        }

        public GeneratedContent(byte[] payload, bool knownLength)
            : this(payload.Length, knownLength)
        {
            _payload = payload;
        }

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            if (_payload is not null)
            {
                for (var offset = 0; offset < _payload.Length; offset += 100_000)
                {
                    await stream.WriteAsync(_payload.AsMemory(offset, Math.Min(100_000, _payload.Length - offset)));
                }

                return;
            }

            var buffer = new byte[64 * 1024];
            for (long sent = 0; sent < _length; sent += buffer.Length)
            {
                await stream.WriteAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, _length - sent)));
            }
        }

        protected override bool TryComputeLength(out long length)
        {
            length = _length;
            return _knownLength;
        }
    }
}

[CollectionDefinition(nameof(LargeBodies), DisableParallelization = true)]
public sealed class LargeBodies;
