using Microsoft.AspNetCore.Http;

namespace LoadBalancing.Proxy;

/// <summary>
/// Session affinity by cookie (<c>Clusters:&lt;name&gt;:SessionAffinity</c>): the first response to a client carries a
/// cookie naming the endpoint that served it, and the client's later requests go back to that endpoint while it is
/// usable (in the set, ready, not ejected, passing its health check), whatever the algorithm. When it is not, the
/// request is balanced as usual and the response names its new endpoint. Present in the configuration means on:
/// <c>"SessionAffinity": { }</c> uses the defaults below. For applications that keep state per server (SignalR without
/// a backplane, Blazor Server, in-memory sessions).
/// </summary>
public sealed class SessionAffinityOptions
{
    /// <summary>The default <see cref="CookieName"/>.</summary>
    public const string DefaultCookieName = "lb-affinity";

    /// <summary>Whether affinity applies. Default <c>true</c> (the section's presence turns it on).</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>
    /// The cookie's name. Default <see cref="DefaultCookieName"/>. Its value is the endpoint's
    /// <see cref="BackendEndpoint.AffinityKey"/> in hexadecimal: the same on every replica, not the endpoint's address.
    /// </summary>
    public string CookieName { get; set; } = DefaultCookieName;

    /// <summary>The cookie's <c>Path</c>. Default <c>/</c>.</summary>
    public string Path { get; set; } = "/";

    /// <summary>The cookie's <c>Domain</c>; null (the default) sends it back to the host that set it only.</summary>
    public string? Domain { get; set; }

    /// <summary>The cookie's <c>Max-Age</c>, in whole seconds; null (the default) makes it a session cookie, gone when the browser closes.</summary>
    public TimeSpan? MaxAge { get; set; }

    /// <summary>
    /// When the cookie is marked <c>Secure</c>. Default <see cref="CookieSecurePolicy.SameAsRequest"/>: when the client's
    /// request came over HTTPS.
    /// </summary>
    public CookieSecurePolicy Secure { get; set; } = CookieSecurePolicy.SameAsRequest;

    /// <summary>The cookie's <c>SameSite</c>. Default <see cref="SameSiteMode.Lax"/>; <see cref="SameSiteMode.None"/> needs <see cref="Secure"/> <see cref="CookieSecurePolicy.Always"/>.</summary>
    public SameSiteMode SameSite { get; set; } = SameSiteMode.Lax;

    /// <summary>Whether the cookie is <c>HttpOnly</c> (hidden from scripts). Default <c>true</c>.</summary>
    public bool HttpOnly { get; set; } = true;
}
