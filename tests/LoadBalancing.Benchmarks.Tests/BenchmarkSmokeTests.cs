using System.Reflection;
using BenchmarkDotNet.Attributes;
using LoadBalancing.Benchmarks;

namespace LoadBalancing.Benchmarks.Tests;

/// <summary>
/// Every benchmark's setup and body run once with its smallest parameters (every enum value), so a
/// broken benchmark fails here rather than in a long run. Nothing is timed.
/// </summary>
public sealed class BenchmarkSmokeTests
{
    public static TheoryData<string> BenchmarkTypes() =>
        new(typeof(Clusters).Assembly.GetTypes()
            .Where(t => t.GetMethods().Any(m => m.GetCustomAttribute<BenchmarkAttribute>() is not null))
            .Select(t => t.FullName!)
            .Order(StringComparer.Ordinal));

    [Theory]
    [MemberData(nameof(BenchmarkTypes))]
    public void Benchmark_SetupAndEveryMethod_RunOnce(string typeName)
    {
        var type = typeof(Clusters).Assembly.GetType(typeName)!;
        var runs = 0;
        foreach (var parameters in ParameterSets(type))
        {
            var instance = Activator.CreateInstance(type)!;
            foreach (var (property, value) in parameters)
            {
                property.SetValue(instance, value);
            }

            Invoke<GlobalSetupAttribute>(instance);
            foreach (var method in type.GetMethods().Where(m => m.GetCustomAttribute<BenchmarkAttribute>() is not null))
            {
                method.Invoke(instance, null);
                runs++;
            }

            Invoke<GlobalCleanupAttribute>(instance);
        }

        Assert.True(runs > 0, $"{typeName} ran no benchmark method");
    }

    [Fact]
    public void HashQuality_Print_WritesARowPerTable()
    {
        using var output = new StringWriter();

        HashQuality.Print(output);

        var rows = output.ToString().Split('\n').Where(l => l.StartsWith("| maglev", StringComparison.Ordinal) || l.StartsWith("| ring", StringComparison.Ordinal)).ToArray();
        Assert.Equal(4, rows.Length);
        Assert.All(rows, r => Assert.Equal(10, r.Count(c => c == '|'))); // nine cells
    }

    [Theory]
    [InlineData(10)]
    [InlineData(1_000)]
    public void RouteFixtures_RequestsHitWhatTheirKindSays(int routes)
    {
        Assert.All(RouteFixtures.Describe(RouteRequest.Miss, routes), d => Assert.EndsWith("→ none", d, StringComparison.Ordinal));
        Assert.All(RouteFixtures.Describe(RouteRequest.AnyHost, routes), d => Assert.Contains("→ r", d, StringComparison.Ordinal));
        Assert.All(RouteFixtures.Describe(RouteRequest.AnyHost, routes), d => Assert.Contains("(* ", d, StringComparison.Ordinal));
        Assert.All(RouteFixtures.Describe(RouteRequest.DeepPrefix, routes), d => Assert.Contains("Prefix /api/v1/users", d, StringComparison.Ordinal));
        Assert.Contains(RouteFixtures.Describe(RouteRequest.Regex, routes), d => d.Contains("RegularExpression", StringComparison.Ordinal));
        Assert.Contains(RouteFixtures.Describe(RouteRequest.SuffixHost, routes), d => d.Contains("(*.tenant", StringComparison.Ordinal));
        Assert.Contains(RouteFixtures.Describe(RouteRequest.Conditions, routes), d => d.Contains("+conditions", StringComparison.Ordinal));
    }

    private static void Invoke<TAttribute>(object instance)
        where TAttribute : Attribute
    {
        foreach (var method in instance.GetType().GetMethods().Where(m => m.GetCustomAttribute<TAttribute>() is not null))
        {
            method.Invoke(instance, null);
        }
    }

    /// <summary>The first value of each numeric [Params]; every value of each enum parameter.</summary>
    private static IEnumerable<List<(PropertyInfo, object?)>> ParameterSets(Type type)
    {
        IEnumerable<List<(PropertyInfo, object?)>> sets = [[]];
        foreach (var property in type.GetProperties())
        {
            object?[] values;
            if (property.GetCustomAttribute<ParamsAttribute>() is { } p)
            {
                values = property.PropertyType.IsEnum ? p.Values : [p.Values[0]];
            }
            else if (property.GetCustomAttribute<ParamsAllValuesAttribute>() is not null)
            {
                values = Enum.GetValues(property.PropertyType).Cast<object?>().ToArray();
            }
            else
            {
                continue;
            }

            sets = sets.SelectMany(s => values.Select(v => new List<(PropertyInfo, object?)>(s) { (property, v) })).ToList();
        }

        return sets;
    }
}
