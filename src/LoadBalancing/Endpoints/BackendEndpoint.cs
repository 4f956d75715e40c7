using System.Globalization;
using System.IO.Hashing;
using System.Net;
using System.Text;

namespace LoadBalancing;

/// <summary>
/// The immutable identity of one backend: address and port, plus the attributes balancers read
/// (weight, zone, conditions and the key consistent-hash tables place it by).
/// Two endpoints are equal when their address and port are equal.
/// </summary>
public sealed class BackendEndpoint : IEquatable<BackendEndpoint>
{
    /// <summary>The largest weight accepted; keeps weight sums of large sets inside 32 bits, as Envoy does.</summary>
    public const int MaxWeight = 1_000_000;

    private readonly byte[] _hashKeyUtf8;

    /// <summary>Creates an endpoint.</summary>
    /// <param name="address">An IP address (normalised to its canonical text) or a host name.</param>
    /// <param name="port">The port, 1 to 65535.</param>
    /// <param name="weight">The relative weight, 1 to <see cref="MaxWeight"/>.</param>
    /// <param name="zone">The zone the endpoint runs in, if known.</param>
    /// <param name="conditions">Its conditions; static endpoints are ready and serving.</param>
    /// <param name="hashKey">
    /// The key hash tables place the endpoint by. Defaults to <c>"ip:port"</c> (IPv6 in brackets).
    /// Set it to a stable name (for example a StatefulSet pod name) so the endpoint keeps its place
    /// on the ring when its address changes.
    /// </param>
    /// <param name="forZones">Zones this endpoint should serve (topology hints), if any.</param>
    /// <exception cref="ArgumentException">A field is out of range; the message names it and its value.</exception>
    public BackendEndpoint(
        string address,
        int port,
        int weight = 1,
        string? zone = null,
        EndpointConditions conditions = EndpointConditions.ReadyAndServing,
        string? hashKey = null,
        IReadOnlyList<string>? forZones = null)
    {
        if (string.IsNullOrWhiteSpace(address))
        {
            throw new ArgumentException("Endpoint address must not be empty.", nameof(address));
        }

        if (port is < 1 or > 65535)
        {
            throw new ArgumentOutOfRangeException(nameof(port), port, $"Endpoint port must be between 1 and 65535; got {port} for '{address}'.");
        }

        if (weight is < 1 or > MaxWeight)
        {
            throw new ArgumentOutOfRangeException(nameof(weight), weight, $"Endpoint weight must be between 1 and {MaxWeight}; got {weight} for '{address}:{port}'.");
        }

        if (hashKey is not null && hashKey.Length == 0)
        {
            throw new ArgumentException($"Endpoint hashKey must not be empty when given (endpoint '{address}:{port}').", nameof(hashKey));
        }

        IsIPAddress = IPAddress.TryParse(address, out var ip);
        Address = IsIPAddress ? ip!.ToString() : address.ToLowerInvariant();
        Port = port;
        Weight = weight;
        Zone = zone;
        Conditions = conditions;
        ForZones = forZones ?? [];
        IsHashKeyExplicit = hashKey is not null;
        HashKey = hashKey ?? FormatHostPort(Address, port, IsIPAddress && ip!.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6);
        _hashKeyUtf8 = Encoding.UTF8.GetBytes(HashKey);
        AffinityKey = XxHash64.HashToUInt64(_hashKeyUtf8);
    }

    /// <summary>The IP address in canonical form, or the lower-cased host name.</summary>
    public string Address { get; }

    /// <summary>Whether <see cref="Address"/> is an IP address rather than a host name.</summary>
    public bool IsIPAddress { get; }

    /// <summary>The port.</summary>
    public int Port { get; }

    /// <summary>The relative weight (1 or more).</summary>
    public int Weight { get; }

    /// <summary>The zone the endpoint runs in, if known.</summary>
    public string? Zone { get; }

    /// <summary>Zones this endpoint is hinted to serve (Kubernetes <c>hints.forZones</c>).</summary>
    public IReadOnlyList<string> ForZones { get; }

    /// <summary>The endpoint's conditions.</summary>
    public EndpointConditions Conditions { get; }

    /// <summary>The key that consistent-hash tables place this endpoint by.</summary>
    public string HashKey { get; }

    /// <summary>Whether <see cref="HashKey"/> was given explicitly rather than derived from the address.</summary>
    public bool IsHashKeyExplicit { get; }

    /// <summary>
    /// The endpoint's identity for session affinity: xxHash64 (seed 0) of <see cref="HashKey"/>'s UTF-8 bytes. Every
    /// replica computes the same value for the same endpoint, and it follows the endpoint's <see cref="HashKey"/>, so an
    /// explicit key (a StatefulSet pod's name) keeps a session's endpoint across an address change. See
    /// <see cref="Balancer.PickAffinity(ulong)"/>.
    /// </summary>
    public ulong AffinityKey { get; }

    /// <summary>The hash key as UTF-8 bytes, which is what the tables hash and sort by.</summary>
    internal ReadOnlySpan<byte> HashKeyUtf8 => _hashKeyUtf8;

    /// <summary>Returns a copy with other conditions, keeping everything else.</summary>
    /// <param name="conditions">The new conditions.</param>
    /// <returns>The new endpoint.</returns>
    public BackendEndpoint WithConditions(EndpointConditions conditions) =>
        new(Address, Port, Weight, Zone, conditions, IsHashKeyExplicit ? HashKey : null, ForZones);

    /// <summary>Returns a copy with another weight, keeping everything else.</summary>
    /// <param name="weight">The new weight.</param>
    /// <returns>The new endpoint.</returns>
    public BackendEndpoint WithWeight(int weight) =>
        new(Address, Port, weight, Zone, Conditions, IsHashKeyExplicit ? HashKey : null, ForZones);

    /// <inheritdoc />
    public bool Equals(BackendEndpoint? other) =>
        other is not null && Port == other.Port && string.Equals(Address, other.Address, StringComparison.Ordinal);

    /// <inheritdoc />
    public override bool Equals(object? obj) => Equals(obj as BackendEndpoint);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(StringComparer.Ordinal.GetHashCode(Address), Port);

    /// <summary>Whether every attribute (not only identity) is the same.</summary>
    internal bool SameAttributes(BackendEndpoint other) =>
        Equals(other)
        && Weight == other.Weight
        && Conditions == other.Conditions
        && string.Equals(Zone, other.Zone, StringComparison.Ordinal)
        && string.Equals(HashKey, other.HashKey, StringComparison.Ordinal)
        && ForZones.SequenceEqual(other.ForZones, StringComparer.Ordinal);

    /// <summary>The endpoint as <c>address:port</c> (IPv6 in brackets).</summary>
    /// <returns>The text form.</returns>
    public override string ToString() => FormatHostPort(Address, Port, Address.Contains(':', StringComparison.Ordinal));

    private static string FormatHostPort(string address, int port, bool bracket) =>
        bracket
            ? string.Create(CultureInfo.InvariantCulture, $"[{address}]:{port}")
            : string.Create(CultureInfo.InvariantCulture, $"{address}:{port}");

    /// <summary>Orders endpoints by identity (address, then port) so every replica sees the same order.</summary>
    internal static int CompareIdentity(BackendEndpoint a, BackendEndpoint b)
    {
        var c = string.CompareOrdinal(a.Address, b.Address);
        return c != 0 ? c : a.Port.CompareTo(b.Port);
    }
}
