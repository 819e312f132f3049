using System.CommandLine;
using GpuMlp.Compute;
using GpuMlp.Data;
using ILGPU;
using Spectre.Console;

namespace GpuMlp.Cli;

/// <summary>Turns every failure into one line on stderr and a documented exit code; a stack
/// trace only with --debug.</summary>
public static class CliErrors
{
    public static Option<bool> DebugOption { get; } = new("--debug")
    {
        Description = "Show a stack trace on errors",
        Recursive = true,
    };

    public static int Run(ParseResult parse, Func<int> body)
    {
        try
        {
            return body();
        }
        catch (Exception error)
        {
            var (code, message) = Classify(error);
            Console.Error.WriteLine($"gpumlp: error: {message}");
            if (parse.GetValue(DebugOption))
                Console.Error.WriteLine(error.ToString());
            return code;
        }
    }

    private static (int Code, string Message) Classify(Exception error) => error switch
    {
        OperationCanceledException => (ExitCodes.Interrupted, "interrupted"),
        UsageException usage => (ExitCodes.Usage, usage.Message),
        ArgumentException argument when argument.Message.StartsWith("--", StringComparison.Ordinal) => (ExitCodes.Usage, argument.Message),
        DataFormatException or DataFetchException or FileNotFoundException or DirectoryNotFoundException => (ExitCodes.Data, error.Message),
        DeviceUnavailableException or DeviceOutOfMemoryException => (ExitCodes.Device, error.Message),
        GpuMlp.Training.TrainingDivergedException => (ExitCodes.Diverged, error.Message),
        GpuMlp.Training.CheckpointFormatException or GpuMlp.Models.ModelFormatException or GpuMlp.Imaging.ImageFormatException => (ExitCodes.Data, error.Message),
        ILGPU.Runtime.AcceleratorException accelerator => (ExitCodes.Device, $"accelerator failure: {accelerator.Message}"),
        InternalCompilerException compiler => (ExitCodes.Device, $"kernel compilation failed: {compiler.Message}"),
        IOException or UnauthorizedAccessException => (ExitCodes.Data, error.Message),
        _ => (ExitCodes.Unexpected, $"{error.GetType().Name}: {error.Message}"),
    };

    public static void Info(string line) => AnsiConsole.MarkupLineInterpolated($"[grey]{line}[/]");
}

/// <summary>A flag value that parsed but makes no sense (reported as exit code 2).</summary>
public sealed class UsageException : Exception
{
    public UsageException(string message) : base(message) { }
}
