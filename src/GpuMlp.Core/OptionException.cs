namespace GpuMlp;

/// <summary>A setting the user chose (a flag, or a file or saved state standing for flags) is out of
/// range or malformed. The message is one line that starts with the flag (or the file) and says
/// what is expected; the CLI reports it as a usage error (exit code 2).</summary>
public sealed class OptionException : ArgumentException
{
    public OptionException(string message) : base(message) { }

    public OptionException(string message, Exception inner) : base(message, inner) { }
}
