namespace GpuMlp.Cli.Serve;

/// <summary>A request `serve` refuses: the HTTP status (4xx, or 503 when busy) and a one-line reason
/// answered as <c>{"error": "..."}</c>.</summary>
public sealed class RequestRefusedException(int status, string message) : Exception(message)
{
    public int Status { get; } = status;
}
