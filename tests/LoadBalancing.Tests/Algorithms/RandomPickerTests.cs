using LoadBalancing.Tests.Support;

namespace LoadBalancing.Tests.Algorithms;

public sealed class RandomPickerTests
{
    [Theory]
    [InlineData(new[] { 1, 1, 1, 1 })]
    [InlineData(new[] { 1, 2, 3, 4 })]
    [InlineData(new[] { 10, 1, 1, 100, 5 })]
    public void Pick_ManyTimes_FollowsTheWeights(int[] weights)
    {
        var endpoints = TestEndpoints.Make(weights.Length, i => weights[i]);
        using var balancer = TestEndpoints.Balancer(endpoints, TestEndpoints.Options(LoadBalancingAlgorithm.Random), random: new Random(42));
        const int picks = 200_000;

        var counts = endpoints.ToDictionary(e => e, _ => 0);
        for (var i = 0; i < picks; i++)
        {
            counts[balancer.PickAndComplete(PickContext.None)]++;
        }

        // Within 1.5 percentage points of each weight share (far beyond 5 standard deviations here).
        foreach (var e in endpoints)
        {
            var expected = (double)e.Weight / weights.Sum();
            Assert.InRange((double)counts[e] / picks, expected - 0.015, expected + 0.015);
        }
    }
}
