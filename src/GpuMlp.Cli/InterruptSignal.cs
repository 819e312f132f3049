using System.Runtime.InteropServices;

namespace GpuMlp.Cli;

/// <summary>Turns Ctrl+C and SIGTERM into a cancellation request instead of killing the process,
/// so training finishes its step and writes a checkpoint. Dispose to restore the defaults.</summary>
public sealed class InterruptSignal : IDisposable
{
    private readonly CancellationTokenSource source = new();
    private readonly PosixSignalRegistration terminate;

    private InterruptSignal()
    {
        Console.CancelKeyPress += OnCancelKeyPress;
        terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context =>
        {
            context.Cancel = true;
            source.Cancel();
        });
    }

    public CancellationToken Token => source.Token;

    public static InterruptSignal Listen() => new();

    private void OnCancelKeyPress(object? sender, ConsoleCancelEventArgs e)
    {
        e.Cancel = true;
        source.Cancel();
    }

    public void Dispose()
    {
        Console.CancelKeyPress -= OnCancelKeyPress;
        terminate.Dispose();
        source.Dispose();
    }
}
