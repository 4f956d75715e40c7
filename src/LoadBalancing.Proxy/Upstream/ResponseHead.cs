namespace LoadBalancing.Proxy.Upstream;

/// <summary>How an upstream response body is delimited.</summary>
internal enum BodyFraming
{
    /// <summary>No body (HEAD, 1xx, 204, 304).</summary>
    None,

    /// <summary>Exactly <see cref="ResponseHead.ContentLength"/> bytes.</summary>
    ContentLength,

    /// <summary>Chunked transfer coding.</summary>
    Chunked,

    /// <summary>Until the upstream closes the connection.</summary>
    UntilClose,
}

/// <summary>What the proxy needs to know about an upstream response head.</summary>
internal struct ResponseHead
{
    public int StatusCode;
    public BodyFraming Framing;
    public long ContentLength;
    public bool KeepAlive;

    /// <summary>Header names the upstream listed in <c>Connection</c>, to remove (rare; null when none).</summary>
    public List<string>? ConnectionTokens;
}
