using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using GpuMlp.Compute;
using GpuMlp.Data;
using GpuMlp.Imaging;
using GpuMlp.Models;
using Spectre.Console;

namespace GpuMlp.Cli;

/// <summary>`gpumlp predict`: the digit in each image, with its most probable alternatives.</summary>
public static class PredictCommand
{
    public static Command Create()
    {
        var images = new Argument<string[]>("IMAGE") { Description = "PNG or JPEG images of one handwritten digit each", Arity = ArgumentArity.OneOrMore };
        var json = new Option<bool>("--json") { Description = "Print the predictions as JSON" };
        var top = new Option<int>("--top") { Description = "How many of the most probable digits to show", DefaultValueFactory = _ => 3 };
        var command = new Command("predict", "Recognise handwritten digits in images with a trained model")
        {
            CommonOptions.Model, CommonOptions.Device, CommonOptions.CpuSimd, json, top, images,
        };
        command.SetAction(parse => CliErrors.Run(parse, () =>
        {
            int topCount = parse.GetValue(top);
            if (topCount < 1)
                throw new OptionException($"--top must be at least 1 (got {topCount})");
            var request = CommonOptions.ParseDevice(parse.GetValue(CommonOptions.Device)!);
            var simd = CommonOptions.ParseCpuSimd(parse);
            var model = TrainedModel.Load(parse.GetValue(CommonOptions.Model)!);
            if (topCount > model.Network.Classes)
                throw new OptionException($"--top must be in 1..{model.Network.Classes}, the model's classes (got {topCount})");
            // The images are prepared as MNIST digits were (DigitImage), so only a model of MNIST's
            // image shape can read them.
            if (model.Schema.Shape != MnistDataset.Shape)
                throw new OptionException($"predict prepares digit images of {MnistDataset.Shape}; {model.Path} takes {model.Schema.Shape} images");
            string[] paths = parse.GetValue(images) ?? [];
            var inputs = paths.Select(DigitImage.LoadAsMnist).ToList();
            using var device = KernelDevice.Open(request, simd);
            using var onDevice = model.Upload(device, Math.Min(256, Math.Max(1, inputs.Count)));
            var probabilities = onDevice.Predict(inputs);
            var results = paths.Select((path, i) => new Prediction(path, ArgMax(probabilities[i]),
                probabilities[i].Select((p, digit) => new DigitProbability(digit, p))
                    .OrderByDescending(d => d.Probability).Take(topCount).ToArray())).ToArray();
            if (parse.GetValue(json))
            {
                Console.WriteLine(JsonSerializer.Serialize(results, Output.Json));
            }
            else
            {
                foreach (var result in results)
                {
                    string alternatives = string.Join(", ", result.Top.Select(d =>
                        string.Create(CultureInfo.InvariantCulture, $"{d.Digit} {d.Probability:P1}")));
                    AnsiConsole.MarkupLineInterpolated($"{result.Image}: [bold]{result.Digit}[/]  ({alternatives})");
                }
            }
            return ExitCodes.Success;
        }));
        return command;
    }

    private static int ArgMax(float[] values)
    {
        int best = 0;
        for (int i = 1; i < values.Length; i++)
            if (values[i] > values[best])
                best = i;
        return best;
    }

    public sealed record DigitProbability(int Digit, float Probability);

    public sealed record Prediction(string Image, int Digit, IReadOnlyList<DigitProbability> Top);
}
