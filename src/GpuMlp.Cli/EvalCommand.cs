using System.CommandLine;
using System.Text.Json;
using GpuMlp.Compute;
using GpuMlp.Models;
using GpuMlp.Runs;
using GpuMlp.Training;
using Spectre.Console;

namespace GpuMlp.Cli;

/// <summary>`gpumlp eval`: a trained model's metrics on the 10,000 MNIST test images.</summary>
public static class EvalCommand
{
    public static Command Create()
    {
        var json = new Option<bool>("--json") { Description = "Print the metrics as JSON instead of a table" };
        var command = new Command("eval", "Evaluate a trained model on the 10,000 MNIST test images")
        {
            CommonOptions.Model, CommonOptions.Device, CommonOptions.CpuSimd, json,
        };
        foreach (var option in CommonOptions.DataOptions)
            command.Options.Add(option);
        command.SetAction(parse => CliErrors.Run(parse, () =>
        {
            var request = CommonOptions.ParseDevice(parse.GetValue(CommonOptions.Device)!);
            var simd = CommonOptions.ParseCpuSimd(parse);
            var model = TrainedModel.Load(parse.GetValue(CommonOptions.Model)!);
            var dataFolder = CommonOptions.DataFolder(parse);
            // A model of other images or classes is refused before any download.
            model.RequireSchema(dataFolder.Schema);
            // With --json the data's notes go to standard error: standard output is the document alone.
            var data = parse.GetValue(json) ? CommonOptions.LoadDataNotingOnStandardError(dataFolder) : CommonOptions.LoadData(dataFolder);
            // No device lines here: --json output is the JSON document alone.
            using var device = KernelDevice.Open(request, simd);
            using var test = new DeviceImageSet(device.Device.Accelerator, data.Test);
            using var onDevice = model.Upload(device, TrainingOptions.DefaultEvaluationBatchSize);
            var result = onDevice.Evaluate(test);
            if (parse.GetValue(json))
            {
                var document = new { device = device.Description, model = model.Path, class_names = model.Schema.ClassNames, test = TestMetrics.From(result.Report, result.Loss) };
                Console.WriteLine(JsonSerializer.Serialize(document, Output.Json));
            }
            else
            {
                AnsiConsole.MarkupLineInterpolated($"model [bold]{model.Path}[/] ({model.Name}) on {device.Description}");
                Output.PrintReport(result, model.Schema.ClassNames, confusion: true);
            }
            return ExitCodes.Success;
        }));
        return command;
    }

}
