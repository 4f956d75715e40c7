namespace LoadBalancing.Proxy;

/// <summary>The proxy configuration is invalid; <see cref="Exception.Message"/> names every bad key and what is wrong.</summary>
public sealed class ProxyConfigurationException : Exception
{
    /// <summary>Creates the exception from the list of problems.</summary>
    /// <param name="errors">One line per problem, each naming its key.</param>
    public ProxyConfigurationException(IReadOnlyList<string> errors)
        : base("Invalid proxy configuration:" + Environment.NewLine + "  " + string.Join(Environment.NewLine + "  ", errors))
    {
        Errors = errors;
    }

    /// <summary>Creates the exception with a message.</summary>
    public ProxyConfigurationException()
        : this(Array.Empty<string>())
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    /// <param name="message">The message.</param>
    public ProxyConfigurationException(string message)
        : this([message])
    {
    }

    /// <summary>Creates the exception with a message and its cause.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The cause.</param>
    public ProxyConfigurationException(string message, Exception innerException)
        : base(message, innerException)
    {
        Errors = [message];
    }

    /// <summary>One line per problem, each naming its configuration key.</summary>
    public IReadOnlyList<string> Errors { get; } = [];
}
