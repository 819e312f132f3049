using System.CommandLine;
using GpuMlp.Compute;
using GpuMlp.Data;
using GpuMlp.Imaging;
using GpuMlp.Models;
using GpuMlp.Training;
using ILGPU;

namespace GpuMlp.Cli;

/// <summary>Turns every failure into one line on stderr and a documented exit code; a stack
/// trace only with --debug.</summary>
public static class CliErrors
{
    public static int Run(ParseResult parse, Func<int> body)
    {
        ArgumentNullException.ThrowIfNull(parse);
        ArgumentNullException.ThrowIfNull(body);
        try
        {
            return body();
        }
        catch (Exception error)
        {
            var (code, message) = Classify(error);
            Console.Error.WriteLine($"gpumlp: error: {message}");
            if (parse.GetValue(CommonOptions.Debug))
                Console.Error.WriteLine(error.ToString());
            return code;
        }
    }

    private static (int Code, string Message) Classify(Exception error) => error switch
    {
        OperationCanceledException => (ExitCodes.Interrupted, "interrupted"),
        OptionException option => (ExitCodes.Usage, option.Message),
        DataFormatException or DataFetchException or FileNotFoundException or DirectoryNotFoundException => (ExitCodes.Data, error.Message),
        DeviceUnavailableException or DeviceOutOfMemoryException => (ExitCodes.Device, error.Message),
        TrainingDivergedException => (ExitCodes.Diverged, error.Message),
        CheckpointFormatException or ModelFormatException or ImageFormatException => (ExitCodes.Data, error.Message),
        ILGPU.Runtime.AcceleratorException accelerator => (ExitCodes.Device, $"accelerator failure: {accelerator.Message}"),
        InternalCompilerException compiler => (ExitCodes.Device, $"kernel compilation failed: {compiler.Message}"),
        IOException or UnauthorizedAccessException => (ExitCodes.Data, error.Message),
        _ => (ExitCodes.Unexpected, $"{error.GetType().Name}: {error.Message}"),
    };
}
