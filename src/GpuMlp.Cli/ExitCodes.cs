namespace GpuMlp.Cli;

/// <summary>Process exit codes; the README's "Errors and exit codes" table lists the same.</summary>
public static class ExitCodes
{
    public const int Success = 0;
    public const int Unexpected = 1;
    public const int Usage = 2;
    public const int Data = 3;
    public const int Device = 4;
    public const int Diverged = 5;
    public const int Interrupted = 130;
}
