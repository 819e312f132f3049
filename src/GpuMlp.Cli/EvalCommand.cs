using System.CommandLine;
using System.Text.Json;
using GpuMlp.Compute;
using GpuMlp.Models;
using GpuMlp.Runs;
using GpuMlp.Training;
using Spectre.Console;

namespace GpuMlp.Cli;

public static class EvalCommand
{
    public static Option<string> ModelOption { get; } = new("--model")
    {
        Description = "A run folder or a .safetensors file",
        Required = true,
    };

    public static Command Create()
    {
        var json = new Option<bool>("--json") { Description = "Print the metrics as JSON instead of a table" };
        var command = new Command("eval", "Evaluate a trained model on the 10,000 MNIST test images")
        {
            ModelOption, TrainCommand.DataOption, TrainCommand.DeviceOption, json,
        };
        command.SetAction(parse => CliErrors.Run(parse, () =>
        {
            string modelPath = RunOutputs.ResolveModel(parse.GetValue(ModelOption)!);
            var request = TrainCommand.ParseDevice(parse.GetValue(TrainCommand.DeviceOption) ?? "auto");
            var (shape, parameters, _) = RunOutputs.LoadMnistModel(modelPath);
            var data = TrainCommand.LoadData(parse.GetValue(TrainCommand.DataOption) ?? "data/mnist");
            using var device = ComputeDevice.Open(request);
            var kernels = new MlpKernels(device.Accelerator);
            using var test = new DeviceDataset(device.Accelerator, data.TestImages, data.TestLabels, data.TestImages.Count);
            using var network = new MlpNetwork(kernels, shape, TrainingOptions.DefaultEvaluationBatchSize);
            network.SetParameters(parameters);
            using var evaluator = new Evaluator(kernels, network, test.Count);
            var result = evaluator.Evaluate(test, 0, test.Count, network.MaxRows);
            if (parse.GetValue(json))
            {
                var document = new { device = device.Description, model = modelPath, test = TestMetrics.From(result.Report, result.Loss) };
                Console.WriteLine(JsonSerializer.Serialize(document, Json));
            }
            else
            {
                AnsiConsole.MarkupLineInterpolated($"model [bold]{modelPath}[/] ({shape}) on {device.Description}");
                TrainCommand.PrintReport(result);
            }
            return ExitCodes.Success;
        }));
        return command;
    }

    internal static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
    };
}
