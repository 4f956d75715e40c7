namespace LoadBalancing.Proxy.Routing;

/// <summary>
/// The literal text every match of a route's path expression starts with, so that a request whose path does not start
/// with it skips the expression: on a host with many expression routes, running each one costs far more than the rest
/// of the look-up. Conservative: whenever the pattern's start is not plain text, the prefix is shorter or empty.
/// </summary>
internal static class RegexPrefix
{
    /// <summary>
    /// The characters before the first regular-expression metacharacter, less the last one when a quantifier follows it;
    /// empty when the pattern has an alternation at its top level (or a <c>#</c>, which in free-spacing mode starts a
    /// comment that could hide one).
    /// </summary>
    public static string Literal(string pattern)
    {
        var end = 0;
        while (end < pattern.Length && !IsMeta(pattern[end]))
        {
            end++;
        }

        if (end < pattern.Length && pattern[end] is '*' or '+' or '?' or '{')
        {
            end = Math.Max(0, end - 1); // the quantifier makes the character before it optional or repeated
        }

        return end == 0 || !HasNoTopLevelAlternation(pattern) ? "" : pattern[..end];
    }

    private static bool IsMeta(char c) => c is '\\' or '*' or '+' or '?' or '|' or '{' or '[' or '(' or ')' or '^' or '$' or '.' or '#' || char.IsWhiteSpace(c);

    /// <summary>Whether every <c>|</c> of the pattern is inside a group; false when that cannot be told for sure.</summary>
    private static bool HasNoTopLevelAlternation(string pattern)
    {
        var depth = 0;
        for (var i = 0; i < pattern.Length; i++)
        {
            switch (pattern[i])
            {
                case '\\':
                    i++; // the escaped character is literal
                    break;
                case '#':
                    return false;
                case '(':
                    depth++;
                    break;
                case ')':
                    depth--;
                    break;
                case '|' when depth <= 0:
                    return false;
                case '[':
                    // A character class: its ']' closes it unless first (after an optional '^'); a nested '[' (class
                    // subtraction) is not followed, the answer is just "cannot tell".
                    i++;
                    if (i < pattern.Length && pattern[i] == '^')
                    {
                        i++;
                    }

                    for (var first = true; ; first = false, i++)
                    {
                        if (i >= pattern.Length || pattern[i] == '[')
                        {
                            return false;
                        }

                        if (pattern[i] == '\\')
                        {
                            i++;
                        }
                        else if (pattern[i] == ']' && !first)
                        {
                            break;
                        }
                    }

                    break;
            }
        }

        return true;
    }
}
