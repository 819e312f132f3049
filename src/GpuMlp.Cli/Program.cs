using System.CommandLine;
using GpuMlp.Cli;

var root = new RootCommand("GpuMlp: train the report's MNIST MLP with ILGPU kernels on CUDA, OpenCL or the CPU.")
{
    DevicesCommand.Create(),
    TrainCommand.Create(),
};
root.Options.Add(CliErrors.DebugOption);
var parse = root.Parse(args);
return parse.Invoke();
