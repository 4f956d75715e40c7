using k8s.Models;

namespace LoadBalancing.Proxy.Kubernetes.Ingress;

/// <summary>
/// Which Ingresses are ours: those naming an IngressClass whose controller is ours (in <c>spec.ingressClassName</c>,
/// or in the older <c>kubernetes.io/ingress.class</c> annotation), and those naming none when one of our classes is
/// marked the cluster's default.
/// </summary>
internal sealed class IngressClassSelector
{
    public const string DefaultClassAnnotation = "ingressclass.kubernetes.io/is-default-class";
    public const string LegacyClassAnnotation = "kubernetes.io/ingress.class";

    private readonly HashSet<string> _ours;
    private readonly bool _oursIsDefault;

    public IngressClassSelector(IEnumerable<V1IngressClass> classes, string controllerName)
    {
        var ours = classes.Where(c => string.Equals(c.Spec?.Controller, controllerName, StringComparison.Ordinal)).ToArray();
        _ours = new HashSet<string>(ours.Select(c => c.Metadata?.Name ?? "").Where(n => n.Length > 0), StringComparer.Ordinal);
        _oursIsDefault = ours.Any(c => c.Metadata?.Annotations?.TryGetValue(DefaultClassAnnotation, out var value) == true
            && string.Equals(value, "true", StringComparison.OrdinalIgnoreCase));
    }

    public bool IsOurs(V1Ingress ingress)
    {
        if (ingress.Spec?.IngressClassName is { Length: > 0 } className)
        {
            return _ours.Contains(className);
        }

        if (ingress.Metadata?.Annotations?.TryGetValue(LegacyClassAnnotation, out var annotated) == true && !string.IsNullOrEmpty(annotated))
        {
            return _ours.Contains(annotated);
        }

        return _oursIsDefault;
    }
}
