namespace ProxyHost;

/// <summary>
/// Runtime settings the host chooses for itself before anything opens a socket, so that the proxy as shipped runs as it
/// was measured, without an environment variable an operator has to know about.
/// </summary>
internal static class SocketDefaults
{
    /// <summary>The runtime reads this once, when the first socket is created.</summary>
    internal const string InlineCompletions = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";

    /// <summary>
    /// Socket completions run on the runtime's epoll threads instead of being queued to the thread pool: a thread hop
    /// saved per receive and per send. Safe here because nothing the host runs blocks on a socket continuation (the
    /// forwarder, Kestrel and discovery only await). An operator's own value, <c>0</c> included, is kept.
    /// </summary>
    public static void Apply()
    {
        if (Environment.GetEnvironmentVariable(InlineCompletions) is null)
        {
            Environment.SetEnvironmentVariable(InlineCompletions, "1");
        }
    }
}
