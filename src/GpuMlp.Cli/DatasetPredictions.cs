using System.Globalization;
using System.Text;
using System.Text.Json;
using GpuMlp.Compute;
using GpuMlp.Data;
using GpuMlp.Models;

namespace GpuMlp.Cli;

/// <summary>`gpumlp predict --data D`: every image of one split of a labelled dataset through the
/// model, read exactly as train and eval read it (same source, same options, pixels / 255, no
/// further preparation), written as one CSV line (or JSON object) per image with its name, its
/// true class and the predicted one. The summary (images, wrong, accuracy) goes to standard error
/// so the CSV on standard output stays clean.</summary>
public static class DatasetPredictions
{
    /// <summary>The CSV's columns: the image's index in the split, its name (its file relative to
    /// the data folder for image folders, else "split#index"), the true and predicted class names,
    /// the predicted class's probability and whether the prediction is right.</summary>
    public const string Header = "index,item,label,predicted,probability,correct";

    /// <summary>Which split to predict.</summary>
    public enum Split
    {
        Test,
        Train,
    }

    public static Split ParseSplit(string text) => text.Trim().ToLowerInvariant() switch
    {
        "test" => Split.Test,
        "train" => Split.Train,
        _ => throw new OptionException($"--split must be test or train (got '{text}')"),
    };

    /// <summary>Loads the dataset, predicts the split and writes the result to <paramref name="outPath"/>
    /// (atomically; refused inside the data folder) or prints it.</summary>
    public static int Run(IImageSource source, string modelPath, Split split, bool json, bool wrongOnly, int? topCount,
        string? outPath, bool overwrite, DeviceRequest request, CpuSimdRequest simd)
    {
        ArgumentNullException.ThrowIfNull(source);
        if (outPath is not null)
            CheckOut(outPath, source.Path, overwrite);
        var model = TrainedModel.Load(modelPath);
        // A model of other images or classes is refused before any image is read.
        model.RequireSchema(source.Schema);
        int top = topCount ?? Math.Min(3, model.Schema.Classes);
        if (top < 1 || top > model.Schema.Classes)
            throw new OptionException($"--top must be in 1..{model.Schema.Classes}, the model's classes (got {top})");
        // Standard output may be the CSV or JSON document: the data's notes go to standard error.
        ImageDataset data = CommonOptions.LoadDataNotingOnStandardError(source);
        ImageSet images = split == Split.Test ? data.Test : data.Train;

        float[][] probabilities;
        using (var device = KernelDevice.Open(request, simd))
        using (var onDevice = model.Upload(device, Math.Min(256, Math.Max(1, images.Count))))
            probabilities = onDevice.Predict(images);
        var rows = new List<Row>(images.Count);
        for (int index = 0; index < images.Count; index++)
        {
            string item = images.ItemName(index);
            int label = images.Labels[index];
            rows.Add(new Row(index, item, model.Schema.ClassNames[label], label,
                PredictCommand.Predict(item, probabilities[index], model.Schema.ClassNames, top)));
        }

        int wrong = rows.Count(row => !row.Correct);
        var shown = wrongOnly ? rows.Where(row => !row.Correct).ToList() : rows;
        string text = json
            ? JsonSerializer.Serialize(new Document(model.Path, source.Path, split.ToString().ToLowerInvariant(), rows.Count, wrong,
                rows.Count == 0 ? 0 : (double)(rows.Count - wrong) / rows.Count, shown.Select(Json).ToArray()), Output.Json) + "\n"
            : Csv(shown);
        if (outPath is null)
        {
            Console.Out.Write(text);
        }
        else
        {
            OutputFile.Write(outPath, text, overwrite);
        }
        double accuracy = rows.Count == 0 ? 0 : 100.0 * (rows.Count - wrong) / rows.Count;
        Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{rows.Count} {split.ToString().ToLowerInvariant()} images of {source.Path}: {wrong} predicted wrong, accuracy {accuracy:F2} %{(outPath is null ? "" : $"; wrote {outPath}")}"));
        return ExitCodes.Success;
    }

    /// <summary>--out must be a new file (or --overwrite) in an existing folder outside the data.</summary>
    private static void CheckOut(string outPath, string dataPath, bool overwrite)
    {
        if (string.IsNullOrWhiteSpace(outPath))
            throw new OptionException("--out needs a file name, e.g. --out predictions.csv");
        OutputFile.RefuseFolder(outPath, "predictions.csv");
        string fullOut = Path.GetFullPath(outPath);
        string fullData = Path.GetFullPath(dataPath);
        bool dataIsFolder = Directory.Exists(fullData);
        if (string.Equals(fullOut, fullData, StringComparison.Ordinal)
            || (dataIsFolder && fullOut.StartsWith(Path.TrimEndingDirectorySeparator(fullData) + Path.DirectorySeparatorChar, StringComparison.Ordinal)))
            throw new OptionException($"--out {outPath} is inside the data {dataPath}; nothing is written there, choose a file elsewhere");
        OutputFile.RefuseExisting(outPath, overwrite);
        OutputFile.RefuseMissingFolder(outPath);
    }

    private static string Csv(IReadOnlyList<Row> rows)
    {
        var text = new StringBuilder(Header.Length + 1 + (rows.Count * 48));
        text.Append(Header).Append('\n');
        foreach (var row in rows)
        {
            text.Append(row.Index.ToString(CultureInfo.InvariantCulture)).Append(',')
                .Append(OutputFile.CsvField(row.Item)).Append(',')
                .Append(OutputFile.CsvField(row.Label)).Append(',')
                .Append(OutputFile.CsvField(row.Prediction.ClassName)).Append(',')
                .Append(row.Prediction.Probability.ToString("R", CultureInfo.InvariantCulture)).Append(',')
                .Append(row.Correct ? "true" : "false").Append('\n');
        }
        return text.ToString();
    }

    private static JsonRow Json(Row row) => new(row.Index, row.Item, row.Label, row.LabelIndex, row.Prediction.ClassName,
        row.Prediction.ClassIndex, row.Prediction.Probability, row.Correct, row.Prediction.Top);

    private sealed record Row(int Index, string Item, string Label, int LabelIndex, PredictCommand.Prediction Prediction)
    {
        public bool Correct => Prediction.ClassIndex == LabelIndex;
    }

    /// <summary>One image in --json: <c>index</c>, <c>item</c>, <c>label</c>, <c>label_index</c>,
    /// <c>class_name</c>, <c>class_index</c>, <c>probability</c>, <c>correct</c>, <c>top</c>.</summary>
    public sealed record JsonRow(int Index, string Item, string Label, int LabelIndex, string ClassName, int ClassIndex,
        float Probability, bool Correct, IReadOnlyList<ClassProbability> Top);

    /// <summary>What --json prints: the model and data read, the split, how many images and how many
    /// wrong, the accuracy in [0, 1], and the predictions (only the wrong ones with --wrong-only).</summary>
    public sealed record Document(string Model, string Data, string Split, int Images, int Wrong, double Accuracy, IReadOnlyList<JsonRow> Predictions);
}
