using LoadBalancing.Proxy.Tests.Support;
using Microsoft.AspNetCore.Http;

namespace LoadBalancing.Yarp.Tests.Support;

/// <summary>Kestrel backends named b0, b1, … on 127.0.0.2, 127.0.0.3, …</summary>
internal sealed class Backends : IAsyncDisposable
{
    private Backends(TestBackend[] all) => All = all;

    public TestBackend[] All { get; }

    /// <summary>Starts <paramref name="count"/> backends; <paramref name="handler"/> may give one its own behaviour by index.</summary>
    public static async Task<Backends> StartAsync(int count, Func<int, RequestDelegate?>? handler = null)
    {
        var all = new TestBackend[count];
        for (var i = 0; i < count; i++)
        {
            all[i] = await TestBackend.StartAsync($"b{i}", $"127.0.0.{i + 2}", handler?.Invoke(i));
        }

        return new Backends(all);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var backend in All)
        {
            await backend.DisposeAsync();
        }
    }
}
