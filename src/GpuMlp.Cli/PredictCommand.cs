using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using GpuMlp.Compute;
using GpuMlp.Imaging;
using GpuMlp.Models;
using Spectre.Console;

namespace GpuMlp.Cli;

/// <summary>`gpumlp predict`: the class of each image, by the model's class names, with its most
/// probable alternatives; images are prepared as the model's training images were
/// (<see cref="TrainedModel.Preprocessing"/>, or --preprocess).</summary>
public static class PredictCommand
{
    public static Command Create()
    {
        var images = new Argument<string[]>("IMAGE") { Description = "Image files (PNG, JPEG, WebP, GIF, BMP) of one object each", Arity = ArgumentArity.OneOrMore };
        var json = new Option<bool>("--json")
        {
            Description = "Print one JSON document: model, preprocess, and predictions[] each with file, class_name, class_index, probability and top[] (class_name, class_index, probability)",
        };
        var top = new Option<int>("--top") { Description = "How many of the most probable classes to show (at most the model's classes)", DefaultValueFactory = _ => 3 };
        var preprocess = new Option<string?>("--preprocess")
        {
            Description = "How to prepare the images: digit (MNIST's: crop the ink, fit 20x20, centre in 28x28) or resize (scale to the model's HxW, gray or RGB); default: as the model records (digit for MNIST-shaped models)",
        };
        var command = new Command("predict", "Classify images with a trained model, by its class names")
        {
            CommonOptions.Model, CommonOptions.Device, CommonOptions.CpuSimd, json, top, preprocess, images,
        };
        command.SetAction(parse => CliErrors.Run(parse, () =>
        {
            int topCount = parse.GetValue(top);
            if (topCount < 1)
                throw new OptionException($"--top must be at least 1 (got {topCount})");
            ImagePreprocessing? chosen = null;
            if (parse.GetValue(preprocess) is { } preprocessName)
            {
                chosen = Preprocessing.TryParse(preprocessName.Trim())
                    ?? throw new OptionException($"--preprocess must be digit or resize (got '{preprocessName}')");
            }
            var request = CommonOptions.ParseDevice(parse.GetValue(CommonOptions.Device)!);
            var simd = CommonOptions.ParseCpuSimd(parse);
            var model = TrainedModel.Load(parse.GetValue(CommonOptions.Model)!);
            if (topCount > model.Schema.Classes)
                throw new OptionException($"--top must be in 1..{model.Schema.Classes}, the model's classes (got {topCount})");
            ImagePreprocessing preparation = chosen ?? model.Preprocessing;
            // Refused before any image is read: a digit preparation makes only MNIST's image shape.
            if (Preprocessing.Refusal(preparation, model.Schema.Shape) is { } refusal)
            {
                string advice = chosen is null ? "; use --preprocess resize" : "";
                throw new OptionException($"{refusal}: {model.Path} takes {model.Schema.Shape} images{advice}");
            }
            string[] paths = parse.GetValue(images) ?? [];
            var inputs = paths.Select(path => Preprocessing.Load(path, preparation, model.Schema.Shape)).ToList();
            using var device = KernelDevice.Open(request, simd);
            using var onDevice = model.Upload(device, Math.Min(256, Math.Max(1, inputs.Count)));
            var probabilities = onDevice.Predict(inputs);
            var results = paths.Select((path, i) => Predict(path, probabilities[i], model.Schema.ClassNames, topCount)).ToArray();
            if (parse.GetValue(json))
            {
                var document = new PredictionDocument(model.Path, Preprocessing.Name(preparation), results);
                Console.WriteLine(JsonSerializer.Serialize(document, Output.Json));
            }
            else
            {
                foreach (var result in results)
                {
                    string alternatives = string.Join(", ", result.Top.Select(c =>
                        string.Create(CultureInfo.InvariantCulture, $"{c.ClassName} {c.Probability:P1}")));
                    AnsiConsole.MarkupLineInterpolated($"{result.File}: [bold]{result.ClassName}[/]  ({alternatives})");
                }
            }
            return ExitCodes.Success;
        }));
        return command;
    }

    /// <summary>The most probable class of one image and its <paramref name="topCount"/> most probable
    /// classes, most probable first (ties in label order).</summary>
    public static Prediction Predict(string file, float[] probabilities, IReadOnlyList<string> classNames, int topCount)
    {
        ArgumentNullException.ThrowIfNull(probabilities);
        ArgumentNullException.ThrowIfNull(classNames);
        var ranked = probabilities
            .Select((p, label) => new ClassProbability(classNames[label], label, p))
            .OrderByDescending(c => c.Probability)
            .ToArray();
        ClassProbability best = ranked[0];
        return new Prediction(file, best.ClassName, best.ClassIndex, best.Probability, ranked.Take(topCount).ToArray());
    }

    /// <summary>One class and its probability: JSON <c>class_name</c>, <c>class_index</c> (the label),
    /// <c>probability</c>.</summary>
    public sealed record ClassProbability(string ClassName, int ClassIndex, float Probability);

    /// <summary>One image's prediction: JSON <c>file</c>, <c>class_name</c>, <c>class_index</c>,
    /// <c>probability</c> and <c>top</c> (most probable first).</summary>
    public sealed record Prediction(string File, string ClassName, int ClassIndex, float Probability, IReadOnlyList<ClassProbability> Top);

    /// <summary>What --json prints: <c>model</c> (the file read), <c>preprocess</c> ("mnist-digit" or
    /// "resize") and <c>predictions</c>, one per image in the order given.</summary>
    public sealed record PredictionDocument(string Model, string Preprocess, IReadOnlyList<Prediction> Predictions);
}
