using LoadBalancing.Kubernetes.Slices;

namespace LoadBalancing.Kubernetes.Watching;

/// <summary>
/// The slices of one namespace's followed Services, as last seen. Written by the namespace's watch loop,
/// read by the publisher; every change names the Services it touched.
/// </summary>
internal sealed class NamespaceView(Action<string> serviceChanged)
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, Dictionary<string, SliceSnapshot>> _services = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _serviceOfSlice = new(StringComparer.Ordinal);

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

    /// <summary>Adds or replaces a slice; false when nothing changed.</summary>
    public bool Upsert(SliceSnapshot slice)
    {
        string? movedFrom = null;
        lock (_lock)
        {
            if (_serviceOfSlice.TryGetValue(slice.Name, out var service) && service != slice.Service)
            {
                // The slice now belongs to another Service (its label changed).
                _services[service].Remove(slice.Name);
                movedFrom = service;
            }
            else if (service is not null && _services[service].TryGetValue(slice.Name, out var old) && old.SameContent(slice))
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

    /// <summary>Removes a slice by name; false when it was not there.</summary>
    public bool Remove(string sliceName)
    {
        string? service;
        lock (_lock)
        {
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
    /// Replaces the whole view with an authoritative list; slices missing from it are removed. Slices named in
    /// <paramref name="keep"/> (present in the list but malformed) keep their previous good version.
    /// </summary>
    /// <returns>
    /// How many slices differed (added, removed or changed), and a callback that announces the changed Services:
    /// the caller records the drift first, so nobody sees the correction before its count.
    /// </returns>
    public (int Differences, Action Announce) ReplaceAll(IReadOnlyCollection<SliceSnapshot> slices, IReadOnlySet<string> keep)
    {
        var changed = new HashSet<string>(StringComparer.Ordinal);
        var differences = 0;
        lock (_lock)
        {
            var incoming = slices.ToDictionary(s => s.Name, StringComparer.Ordinal);
            foreach (var (name, service) in _serviceOfSlice.ToArray())
            {
                if (keep.Contains(name))
                {
                    continue;
                }

                if (!incoming.TryGetValue(name, out var fresh))
                {
                    _services[service].Remove(name);
                    _serviceOfSlice.Remove(name);
                    changed.Add(service);
                    differences++;
                }
                else if (fresh.Service != service || !_services[service][name].SameContent(fresh))
                {
                    _services[service].Remove(name);
                    _serviceOfSlice.Remove(name);
                    changed.Add(service); // re-added, and counted, below with the fresh content
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
                differences++;
            }
        }

        return (differences, () =>
        {
            foreach (var service in changed)
            {
                serviceChanged(service);
            }
        });
    }

    /// <summary>A copy of a Service's slices.</summary>
    public SliceSnapshot[] Slices(string service)
    {
        lock (_lock)
        {
            return _services.TryGetValue(service, out var slices) ? [.. slices.Values] : [];
        }
    }
}
