using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using GpuMlp.Compute;
using GpuMlp.Data;
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
        var images = new Argument<string[]>("IMAGE") { Description = "Image files (PNG, JPEG, WebP, GIF, BMP) of one object each, or folders of them (every image inside, in name order)", Arity = ArgumentArity.ZeroOrMore };
        var split = new Option<string>("--split")
        {
            Description = "With --data: the split to predict, test or train (default test); prints (or writes to --out) a CSV line per image: " + DatasetPredictions.Header,
            DefaultValueFactory = _ => "test",
        };
        var wrongOnly = new Option<bool>("--wrong-only") { Description = "With --data: list only the images predicted wrong" };
        var csv = new Option<string?>("--csv")
        {
            Description = "A Kaggle Digit Recognizer test CSV (pixel0,pixel1,... without a label column) to predict instead of image files; writes a submission ImageId,Label to --out",
        };
        var output = new Option<string?>("--out", "--output")
        {
            Description = "With --csv: the submission file to write, e.g. submission.csv; with --data: the predictions file (CSV, or JSON with --json); its folder must exist and be outside the data",
        };
        var overwrite = new Option<bool>("--overwrite") { Description = "With --csv or --data: replace the --out file if it exists" };
        var json = new Option<bool>("--json")
        {
            Description = "Print one JSON document: model, preprocess, and predictions[] each with file, class_name, class_index, probability and top[] (class_name, class_index, probability)",
        };
        var top = new Option<int>("--top") { Description = "How many of the most probable classes to show (at most the model's classes; default 3, or all when the model has fewer)", DefaultValueFactory = _ => 3 };
        var preprocess = new Option<string?>("--preprocess")
        {
            Description = $"How to prepare the images: digit (MNIST's: crop the ink, fit {DigitImage.Box}x{DigitImage.Box}, centre in {MnistDataset.Shape.Height}x{MnistDataset.Shape.Width}) or resize (scale to the model's HxW, gray or RGB); default: as the model records (digit for MNIST-shaped models)",
        };
        var command = new Command("predict", "Classify images with a trained model, by its class names")
        {
            CommonOptions.Model, CommonOptions.Device, CommonOptions.CpuSimd, json, top, preprocess, csv, output, overwrite, split, wrongOnly, images,
        };
        foreach (var option in CommonOptions.DataOptions)
            command.Options.Add(option);
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
            string[] paths = parse.GetValue(images) ?? [];
            bool datasetMode = CommonOptions.Given(parse, CommonOptions.Data);
            if (!datasetMode)
            {
                foreach (Option dataOnly in new Option[] { split, wrongOnly }.Concat(CommonOptions.DataOptions))
                {
                    if (CommonOptions.Given(parse, dataOnly))
                        throw new OptionException($"{dataOnly.Name} goes with --data DATASET (predict every image of a split)");
                }
            }
            else
            {
                if (paths.Length > 0 || CommonOptions.Given(parse, csv))
                    throw new OptionException("give image files, --csv FILE or --data DATASET, one of them");
                if (CommonOptions.Given(parse, preprocess))
                    throw new OptionException("--preprocess applies to image files; --data reads the images as train and eval read them");
                return DatasetPredictions.Run(CommonOptions.DataFolder(parse), parse.GetValue(CommonOptions.Model)!,
                    DatasetPredictions.ParseSplit(parse.GetValue(split)!), parse.GetValue(json), parse.GetValue(wrongOnly),
                    CommonOptions.Given(parse, top) ? topCount : null, parse.GetValue(output), parse.GetValue(overwrite), request, simd);
            }
            if (parse.GetValue(csv) is { } csvPath)
            {
                if (paths.Length > 0)
                    throw new OptionException("give image files or --csv FILE, not both");
                foreach (Option imageOnly in new Option[] { json, top, preprocess })
                {
                    if (CommonOptions.Given(parse, imageOnly))
                        throw new OptionException($"{imageOnly.Name} applies to image files, not to --csv (which writes a submission)");
                }
                return PredictCsv(csvPath, parse.GetValue(output), parse.GetValue(overwrite), parse.GetValue(CommonOptions.Model)!, request, simd);
            }
            if (paths.Length == 0)
                throw new OptionException("give one or more image files (or folders of them), --csv FILE --out FILE for a Kaggle submission, or --data DATASET");
            paths = ImageFiles(paths);
            if (CommonOptions.Given(parse, output) || CommonOptions.Given(parse, overwrite))
                throw new OptionException("--out and --overwrite go with --csv; predictions on image files are printed");
            var model = TrainedModel.Load(parse.GetValue(CommonOptions.Model)!);
            // The default shows up to three classes, fewer when the model has fewer.
            if (!CommonOptions.Given(parse, top))
                topCount = Math.Min(topCount, model.Schema.Classes);
            if (topCount > model.Schema.Classes)
                throw new OptionException($"--top must be in 1..{model.Schema.Classes}, the model's classes (got {topCount})");
            ImagePreprocessing preparation = chosen ?? model.Preprocessing;
            // Refused before any image is read: a digit preparation makes only MNIST's image shape.
            if (Preprocessing.Refusal(preparation, model.Schema.Shape) is { } refusal)
            {
                string advice = chosen is null ? "; use --preprocess resize" : "";
                throw new OptionException($"{refusal}: {model.Path} takes {model.Schema.Shape} images{advice}");
            }
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

    /// <summary>--csv: every image of a Kaggle test CSV through the model, written as a submission
    /// (<see cref="SubmissionFile"/>). The CSV's pixels are taken as they are (pixel / 255), as
    /// training read the same layout; the model must take images of the CSV's shape.</summary>
    private static int PredictCsv(string csvPath, string? outPath, bool overwrite, string modelPath, DeviceRequest request, CpuSimdRequest simd)
    {
        if (string.IsNullOrWhiteSpace(outPath))
            throw new OptionException("--csv needs --out FILE, the submission to write, e.g. --out submission.csv");
        OutputFile.RefuseFolder(outPath, "submission.csv");
        OutputFile.RefuseExisting(outPath, overwrite);
        if (File.Exists(csvPath) && string.Equals(Path.GetFullPath(outPath), Path.GetFullPath(csvPath), StringComparison.Ordinal))
            throw new OptionException($"--out {outPath} is the --csv file; the test data is never written to");
        OutputFile.RefuseMissingFolder(outPath);
        var model = TrainedModel.Load(modelPath);
        var test = KaggleCsvFile.Read(csvPath);
        if (test.Shape != model.Schema.Shape)
            throw new OptionException($"{csvPath} holds {test.Shape} images; {model.Path} takes {model.Schema.Shape} images");
        using var device = KernelDevice.Open(request, simd);
        int pixels = test.Shape.Pixels;
        using var onDevice = model.Upload(device, Math.Min(256, Math.Max(1, test.Count)));
        var labels = new string[test.Count];
        const int chunk = 4096;
        for (int start = 0; start < test.Count; start += chunk)
        {
            int count = Math.Min(chunk, test.Count - start);
            var inputs = new float[count][];
            for (int i = 0; i < count; i++)
            {
                var image = test.Pixels.AsSpan((start + i) * pixels, pixels);
                inputs[i] = new float[pixels];
                for (int p = 0; p < pixels; p++)
                    inputs[i][p] = image[p] / 255f;
            }
            var probabilities = onDevice.Predict(inputs);
            for (int i = 0; i < count; i++)
                labels[start + i] = model.Schema.ClassNames[ArgMax(probabilities[i])];
        }
        OutputFile.Write(outPath, SubmissionFile.Format(labels), overwrite);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"wrote {outPath}: {SubmissionFile.Header}, {test.Count} images (ImageId 1..{test.Count}) predicted by {model.Name}"));
        return ExitCodes.Success;
    }

    /// <summary>The image files named: each file as given, each folder as its image files (by
    /// extension, every level below it, in ordinal order of their paths). A folder with none, or a
    /// path that does not exist, is a one-line error.</summary>
    public static string[] ImageFiles(IReadOnlyList<string> paths)
    {
        ArgumentNullException.ThrowIfNull(paths);
        var files = new List<string>();
        foreach (string path in paths)
        {
            if (!Directory.Exists(path))
            {
                files.Add(path);
                continue;
            }
            string[] inside = Directory.EnumerateFiles(path, "*", SearchOption.AllDirectories)
                .Where(ImageFileNames.HasImageExtension)
                .Order(StringComparer.Ordinal)
                .ToArray();
            if (inside.Length == 0)
                throw new OptionException($"{path}: a folder without image files ({string.Join(", ", ImageFileNames.Extensions)})");
            files.AddRange(inside);
        }
        return [.. files];
    }

    /// <summary>The first label of the highest probability.</summary>
    private static int ArgMax(float[] values)
    {
        int best = 0;
        for (int i = 1; i < values.Length; i++)
            if (values[i] > values[best])
                best = i;
        return best;
    }

    /// <summary>The most probable class of one image and its <paramref name="topCount"/> most probable
    /// classes, most probable first (ties in label order).</summary>
    public static Prediction Predict(string file, float[] probabilities, IReadOnlyList<string> classNames, int topCount)
    {
        var ranked = ClassRanking.Rank(probabilities, classNames);
        ClassProbability best = ranked[0];
        return new Prediction(file, best.ClassName, best.ClassIndex, best.Probability, ranked.Take(topCount).ToArray());
    }

    /// <summary>One image's prediction: JSON <c>file</c>, <c>class_name</c>, <c>class_index</c>,
    /// <c>probability</c> and <c>top</c> (most probable first).</summary>
    public sealed record Prediction(string File, string ClassName, int ClassIndex, float Probability, IReadOnlyList<ClassProbability> Top);

    /// <summary>What --json prints: <c>model</c> (the file read), <c>preprocess</c> ("mnist-digit" or
    /// "resize") and <c>predictions</c>, one per image in the order given.</summary>
    public sealed record PredictionDocument(string Model, string Preprocess, IReadOnlyList<Prediction> Predictions);
}
