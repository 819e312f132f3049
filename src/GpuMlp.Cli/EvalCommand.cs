using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using GpuMlp.Compute;
using GpuMlp.Data;
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
        var models = new Option<string[]>("--model")
        {
            Description = CommonOptions.Model.Description + "; give --model several times to evaluate the ensemble of the models (their mean class probabilities), beside each model alone",
            Required = true,
            Arity = ArgumentArity.OneOrMore,
        };
        var command = new Command("eval", "Evaluate a trained model (or an ensemble of several) on the test split of its data (MNIST's 10,000 test images by default)")
        {
            models, CommonOptions.Device, CommonOptions.CpuSimd, json,
        };
        foreach (var option in CommonOptions.DataOptions)
            command.Options.Add(option);
        command.SetAction(parse => CliErrors.Run(parse, () =>
        {
            var request = CommonOptions.ParseDevice(parse.GetValue(CommonOptions.Device)!);
            var simd = CommonOptions.ParseCpuSimd(parse);
            string[] modelPaths = parse.GetValue(models)!;
            if (modelPaths.Length > 1)
                return EvaluateEnsemble(modelPaths, CommonOptions.DataFolder(parse), parse.GetValue(json), request, simd);
            var model = TrainedModel.Load(modelPaths[0]);
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

    /// <summary>Several --model: each model's test metrics and the ensemble's (mean probabilities,
    /// <see cref="ModelEnsemble"/>), computed from the probabilities each model gives every test image.</summary>
    private static int EvaluateEnsemble(string[] modelPaths, IImageSource source, bool json, DeviceRequest request, CpuSimdRequest simd)
    {
        var models = modelPaths.Select(TrainedModel.Load).ToArray();
        // Models of other images or classes are refused before any image is read.
        foreach (var model in models)
            model.RequireSchema(source.Schema);
        var data = json ? CommonOptions.LoadDataNotingOnStandardError(source) : CommonOptions.LoadData(source);
        using var device = KernelDevice.Open(request, simd);
        var perModel = ModelEnsemble.PredictEach(models, data.Test, data.Schema, device);
        var members = perModel.Select(p => ModelEnsemble.Score(p, data.Test.Labels, data.Classes)).ToArray();
        var ensemble = ModelEnsemble.Score(ModelEnsemble.Average(perModel), data.Test.Labels, data.Classes);
        if (json)
        {
            var document = new
            {
                device = device.Description,
                models = models.Select((m, i) => new { model = m.Path, test = TestMetrics.From(members[i].Report, members[i].Loss) }).ToArray(),
                class_names = data.ClassNames,
                ensemble = "mean of the models' class probabilities",
                test = TestMetrics.From(ensemble.Report, ensemble.Loss),
            };
            Console.WriteLine(JsonSerializer.Serialize(document, Output.Json));
            return ExitCodes.Success;
        }
        AnsiConsole.MarkupLineInterpolated($"ensemble of {models.Length} models (mean class probabilities) on {device.Description}");
        for (int i = 0; i < models.Length; i++)
        {
            AnsiConsole.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  {models[i].Path} ({models[i].Name}): test accuracy {members[i].Report.Accuracy:P2}  loss {members[i].Loss:F4}"));
        }
        Output.PrintReport(ensemble, data.ClassNames, confusion: true);
        double best = members.Max(m => m.Report.Accuracy), mean = members.Average(m => m.Report.Accuracy);
        AnsiConsole.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"ensemble {ensemble.Report.Accuracy:P2} vs the models' mean {mean:P2} and best {best:P2}"));
        return ExitCodes.Success;
    }
}
