using System.CommandLine;
using GpuMlp.Cli;
using GpuMlp.Cli.Serve;

var root = new RootCommand("GpuMlp: train the report's MNIST MLP with ILGPU kernels on CUDA, OpenCL or the CPU.")
{
    DevicesCommand.Create(),
    TrainCommand.Create(),
    EvalCommand.Create(),
    PredictCommand.Create(),
    ExportCommand.Create(),
    BenchCommand.Create(),
    TuneCommand.Create(),
    ServeCommand.Create(),
};
root.Options.Add(CommonOptions.Debug);
var parse = root.Parse(args);
if (parse.Errors.Count > 0)
{
    // Unknown flags, missing or non-numeric values: one line each and the usage exit code.
    foreach (var error in parse.Errors)
        Console.Error.WriteLine($"gpumlp: error: {error.Message}");
    Console.Error.WriteLine("see 'gpumlp --help' or 'gpumlp <command> --help'");
    return ExitCodes.Usage;
}
return parse.Invoke();
