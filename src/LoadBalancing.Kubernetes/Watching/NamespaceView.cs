using LoadBalancing.Kubernetes.Slices;

namespace LoadBalancing.Kubernetes.Watching;

/// <summary>
/// The slices of one namespace's followed Services, as last seen. Written by the namespace's watch and by lists,
/// read by the publisher and the confirmer; every change names the Services it touched.
/// </summary>
/// <remarks>
/// Every list starts a new <see cref="Epoch"/>, and a watch only applies its events while the epoch it started in
/// is current: once a list has replaced the view, a watch that was opened before it (and may still deliver older
/// events) can no longer write over it. The view also remembers the resource version of the latest version of each
/// object it has processed, readable or not, which is what a confirmation compares with the API server's.
/// </remarks>
internal sealed class NamespaceView(Action<string> serviceChanged)
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, Dictionary<string, SliceSnapshot>> _services = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _serviceOfSlice = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _seen = new(StringComparer.Ordinal);
    private int _epoch;
    private string? _resourceVersion;

    public int SliceCount
    {
        get
        {
            lock (_lock)
            {
                return _serviceOfSlice.Count;
            }
        }
    }

    /// <summary>The current epoch (0 before the first list) and the version a watch should start from.</summary>
    public (int Epoch, string? ResourceVersion) Position
    {
        get
        {
            lock (_lock)
            {
                return (_epoch, _resourceVersion);
            }
        }
    }

    public int Epoch
    {
        get
        {
            lock (_lock)
            {
                return _epoch;
            }
        }
    }

    /// <summary>
    /// Adds or replaces a slice seen by a watch of <paramref name="epoch"/>; false when the epoch is over or nothing changed.
    /// A new resourceVersion alone is a change: the published description names the version the endpoints came from.
    /// </summary>
    public bool Upsert(int epoch, SliceSnapshot slice, string? version)
    {
        string? movedFrom = null;
        lock (_lock)
        {
            if (epoch != _epoch)
            {
                return false;
            }

            Advance(slice.Name, version);
            if (_serviceOfSlice.TryGetValue(slice.Name, out var service) && service != slice.Service)
            {
                // The slice now belongs to another Service (its label changed).
                _services[service].Remove(slice.Name);
                movedFrom = service;
            }
            else if (service is not null && _services[service].TryGetValue(slice.Name, out var old) && old.SameContent(slice)
                && old.ResourceVersion == slice.ResourceVersion)
            {
                return false;
            }

            if (!_services.TryGetValue(slice.Service, out var slices))
            {
                _services[slice.Service] = slices = new Dictionary<string, SliceSnapshot>(StringComparer.Ordinal);
            }

            slices[slice.Name] = slice;
            _serviceOfSlice[slice.Name] = slice.Service;
        }

        if (movedFrom is not null)
        {
            serviceChanged(movedFrom);
        }

        serviceChanged(slice.Service);
        return true;
    }

    /// <summary>Records a version of an object that could not be read: its last good content stays.</summary>
    public void SeenUnreadable(int epoch, string name, string? version)
    {
        lock (_lock)
        {
            if (epoch == _epoch)
            {
                Advance(name, version);
            }
        }
    }

    /// <summary>Moves the watch position forward (a bookmark, or any event's version).</summary>
    public void AdvanceTo(int epoch, string? version)
    {
        lock (_lock)
        {
            if (epoch == _epoch && !string.IsNullOrEmpty(version))
            {
                _resourceVersion = version;
            }
        }
    }

    /// <summary>Removes a slice by name; false when the epoch is over or it was not there.</summary>
    public bool Remove(int epoch, string sliceName, string? version)
    {
        string? service;
        lock (_lock)
        {
            if (epoch != _epoch)
            {
                return false;
            }

            _seen.Remove(sliceName);
            if (!string.IsNullOrEmpty(version))
            {
                _resourceVersion = version;
            }

            if (!_serviceOfSlice.Remove(sliceName, out service))
            {
                return false;
            }

            _services[service].Remove(sliceName);
        }

        serviceChanged(service);
        return true;
    }

    /// <summary>
    /// Replaces the whole view with an authoritative list and starts a new epoch; slices missing from it are
    /// removed. Slices named in <paramref name="keep"/> (present in the list but unreadable) keep their previous
    /// good version.
    /// </summary>
    /// <returns>The Services whose slices changed, and a callback that announces them.</returns>
    public (IReadOnlyCollection<string> Changed, Action Announce) ReplaceAll(
        IReadOnlyCollection<SliceSnapshot> slices, IReadOnlyDictionary<string, string?> seen, IReadOnlySet<string> keep, string? resourceVersion)
    {
        var changed = new HashSet<string>(StringComparer.Ordinal);
        lock (_lock)
        {
            _epoch++;
            _resourceVersion = resourceVersion;
            _seen.Clear();
            foreach (var (name, version) in seen)
            {
                if (version is not null)
                {
                    _seen[name] = version;
                }
            }

            var incoming = slices.ToDictionary(s => s.Name, StringComparer.Ordinal);
            foreach (var (name, service) in _serviceOfSlice.ToArray())
            {
                if (keep.Contains(name))
                {
                    continue;
                }

                if (!incoming.TryGetValue(name, out var fresh) || fresh.Service != service || !_services[service][name].SameContent(fresh)
                    || _services[service][name].ResourceVersion != fresh.ResourceVersion)
                {
                    _services[service].Remove(name);
                    _serviceOfSlice.Remove(name);
                    changed.Add(service); // re-added below if it is still listed
                }
            }

            foreach (var slice in slices)
            {
                if (_serviceOfSlice.ContainsKey(slice.Name))
                {
                    continue;
                }

                if (!_services.TryGetValue(slice.Service, out var bucket))
                {
                    _services[slice.Service] = bucket = new Dictionary<string, SliceSnapshot>(StringComparer.Ordinal);
                }

                bucket[slice.Name] = slice;
                _serviceOfSlice[slice.Name] = slice.Service;
                changed.Add(slice.Service);
            }
        }

        return (changed, () =>
        {
            foreach (var service in changed)
            {
                serviceChanged(service);
            }
        });
    }

    /// <summary>
    /// Where the view and a list of (name, resource version) disagree: objects the view lacks, has in another
    /// version, or has although the list does not. Each difference carries the view's version at the time.
    /// </summary>
    public List<SliceDifference> Compare(IReadOnlyDictionary<string, string?> listed)
    {
        var differences = new List<SliceDifference>();
        lock (_lock)
        {
            foreach (var (name, version) in listed)
            {
                if (!_seen.TryGetValue(name, out var ours))
                {
                    differences.Add(new SliceDifference(name, SliceDifferenceKind.Missing, null, version));
                }
                else if (!string.Equals(ours, version, StringComparison.Ordinal))
                {
                    differences.Add(new SliceDifference(name, SliceDifferenceKind.Changed, ours, version));
                }
            }

            foreach (var (name, ours) in _seen)
            {
                if (!listed.ContainsKey(name))
                {
                    differences.Add(new SliceDifference(name, SliceDifferenceKind.Deleted, ours, null));
                }
            }
        }

        return differences;
    }

    /// <summary>
    /// Of earlier differences, those the view has made no progress on: it still holds the very version it held
    /// then. A difference whose object the watch has since touched (to the listed version, or a newer one) is
    /// progress, not a miss.
    /// </summary>
    public List<SliceDifference> StillBehind(IEnumerable<SliceDifference> differences)
    {
        var behind = new List<SliceDifference>();
        lock (_lock)
        {
            foreach (var difference in differences)
            {
                var ours = _seen.GetValueOrDefault(difference.Name);
                if (string.Equals(ours, difference.Ours, StringComparison.Ordinal))
                {
                    behind.Add(difference);
                }
            }
        }

        return behind;
    }

    /// <summary>A copy of a Service's slices.</summary>
    public SliceSnapshot[] Slices(string service)
    {
        lock (_lock)
        {
            return _services.TryGetValue(service, out var slices) ? [.. slices.Values] : [];
        }
    }

    private void Advance(string name, string? version)
    {
        if (!string.IsNullOrEmpty(version))
        {
            _seen[name] = version;
            _resourceVersion = version;
        }
    }
}

internal enum SliceDifferenceKind
{
    /// <summary>The API server has the object; the view does not.</summary>
    Missing,

    /// <summary>Both have it, in different versions.</summary>
    Changed,

    /// <summary>The view has it; the API server no longer does.</summary>
    Deleted,
}

/// <summary>One object on which the view and the API server disagree.</summary>
internal sealed record SliceDifference(string Name, SliceDifferenceKind Kind, string? Ours, string? Theirs)
{
    public override string ToString() => Kind switch
    {
        SliceDifferenceKind.Missing => $"{Name} (added at version {Theirs})",
        SliceDifferenceKind.Changed => $"{Name} (version {Theirs}, ours {Ours})",
        _ => $"{Name} (deleted)",
    };
}
