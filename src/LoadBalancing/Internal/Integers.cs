namespace LoadBalancing.Internal;

internal static class Integers
{
    public static int Gcd(int a, int b)
    {
        while (b != 0)
        {
            (a, b) = (b, a % b);
        }

        return a;
    }
}
