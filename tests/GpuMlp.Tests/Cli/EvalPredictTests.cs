using System.Text.Json;
using GpuMlp.Data;
using GpuMlp.Imaging;
using GpuMlp.Models;
using GpuMlp.Runs;
using GpuMlp.Tests.Data;
using GpuMlp.Training;

namespace GpuMlp.Tests.Cli;

/// <summary>A real `gpumlp train` run folder, then `gpumlp eval` and `gpumlp predict` on it.</summary>
public sealed class TrainedRunFixture : IDisposable
{
    public TrainedRunFixture()
    {
        Root = Directory.CreateTempSubdirectory("gpumlp-evalpredict-").FullName;
        RunDir = Path.Combine(Root, "run");
        var result = CliProcess.Run(TimeSpan.FromMinutes(5), "train", "--device", TestDevice.RequestedName, "--data", RealMnist.RealMnistDir(),
            "--epochs", "2", "--limit-train", "4000", "--hidden", "128,64", "--seed", "4", "--out", RunDir);
        TrainOutput = result;
    }

    public string Root { get; }
    public string RunDir { get; }
    public CliProcess.Result TrainOutput { get; }

    public void Dispose() => Directory.Delete(Root, recursive: true);
}

[Collection(DeviceCollection.Name)]
public sealed class EvalPredictTests(TrainedRunFixture run, DeviceFixture fixture) : IClassFixture<TrainedRunFixture>
{
    [Fact]
    public void Train_Finished_RunFolderHasEveryArtifact()
    {
        Assert.True(run.TrainOutput.ExitCode == 0, run.TrainOutput.StandardError);
        foreach (var name in new[] { "config.json", "history.csv", "metrics.json", "checkpoint.bin", "model.safetensors", "curves.png", "confusion.png" })
            Assert.True(File.Exists(Path.Combine(run.RunDir, name)), $"{name} missing from the run folder");
        var (shape, parameters, metadata) = ModelFile.Load(Path.Combine(run.RunDir, "model.safetensors"));
        Assert.Equal("784-128-64-10", shape.MlpName);
        Assert.Equal("784,128,64,10", metadata[ModelFile.WidthsKey]);
        Assert.Equal(Checkpoint.Load(Path.Combine(run.RunDir, Checkpoint.FileName)).Parameters, parameters);
    }

    [Fact]
    public void Eval_RunFolderOrModelFile_ReproducesTheRunsTestMetricsExactly()
    {
        Assert.True(run.TrainOutput.ExitCode == 0, run.TrainOutput.StandardError);
        var recorded = RunArtifacts.ReadMetrics(Path.Combine(run.RunDir, "metrics.json")).Test;
        foreach (var model in new[] { run.RunDir, Path.Combine(run.RunDir, "model.safetensors") })
        {
            var eval = CliProcess.Run(TimeSpan.FromMinutes(2), "eval", "--model", model, "--device", TestDevice.RequestedName, "--data", RealMnist.RealMnistDir(), "--json");
            Assert.True(eval.ExitCode == 0, eval.StandardError);
            using var json = JsonDocument.Parse(eval.StandardOutput);
            var test = json.RootElement.GetProperty("test");
            Assert.Equal(recorded.Accuracy, test.GetProperty("accuracy").GetDouble());
            Assert.Equal(recorded.MacroF1, test.GetProperty("macro_f1").GetDouble());
            Assert.Equal(recorded.Loss, test.GetProperty("loss").GetDouble());
            var confusion = test.GetProperty("confusion").EnumerateArray().Select(row => row.EnumerateArray().Select(c => c.GetInt64()).ToArray()).ToArray();
            Assert.Equal(recorded.Confusion.Select(r => r.ToArray()).ToArray(), confusion);
        }
    }

    [Fact]
    public void Predict_RenderedTestDigits_RecoversTheModelsOwnPrediction()
    {
        Assert.True(run.TrainOutput.ExitCode == 0, run.TrainOutput.StandardError);
        var data = RealMnist.Load();
        var (shape, parameters, _) = ModelFile.Load(Path.Combine(run.RunDir, "model.safetensors"));
        using var network = new LayerNetwork(fixture.Kernels, shape, 100);
        network.SetParameters(parameters);
        using var evaluator = new Evaluator(fixture.KernelDevice, network, 1);

        // The model's own prediction on the original 28x28 digits, computed in-process.
        const int digits = 100;
        var originals = Enumerable.Range(0, digits)
            .Select(i => data.Test.Pixels.AsSpan(i * 784, 784).ToArray().Select(p => p / 255f).ToArray())
            .ToList();
        var own = evaluator.Predict(originals);
        var confident = Enumerable.Range(0, digits).Where(i => own[i].Max() > 0.9f).Take(16).ToArray();
        Assert.True(confident.Length >= 12, $"only {confident.Length} confident predictions");

        var images = new List<string>();
        foreach (int i in confident)
        {
            var pixels = data.Test.Pixels.AsSpan(i * 784, 784);
            string large = Path.Combine(run.Root, $"digit{i}-200-black-on-white.png");
            string small = Path.Combine(run.Root, $"digit{i}-56-white-on-black.png");
            DigitImage.SaveMnistDigitAsPng(pixels, large, 200, darkOnLight: true);
            DigitImage.SaveMnistDigitAsPng(pixels, small, 56, darkOnLight: false);
            images.Add(large);
            images.Add(small);
        }
        var predict = CliProcess.Run(TimeSpan.FromMinutes(2), ["predict", "--model", run.RunDir, "--device", TestDevice.RequestedName, "--json", .. images]);
        Assert.True(predict.ExitCode == 0, predict.StandardError);
        using var json = JsonDocument.Parse(predict.StandardOutput);
        Assert.Equal("mnist-digit", json.RootElement.GetProperty("preprocess").GetString());
        var predicted = json.RootElement.GetProperty("predictions").EnumerateArray().Select(p => p.GetProperty("class_index").GetInt32()).ToArray();
        Assert.Equal(images.Count, predicted.Length);
        for (int k = 0; k < confident.Length; k++)
        {
            int expected = Array.IndexOf(own[confident[k]], own[confident[k]].Max());
            Assert.True(expected == predicted[2 * k], $"{images[2 * k]}: predicted {predicted[2 * k]}, the model says {expected} for the original");
            Assert.True(expected == predicted[2 * k + 1], $"{images[2 * k + 1]}: predicted {predicted[2 * k + 1]}, the model says {expected} for the original");
        }
    }

    [Fact]
    public void Eval_Text_PrintsTheTableAndTheConfusionMatrixByClassName()
    {
        Assert.True(run.TrainOutput.ExitCode == 0, run.TrainOutput.StandardError);
        var eval = CliProcess.Run(TimeSpan.FromMinutes(2), "eval", "--model", run.RunDir, "--device", TestDevice.RequestedName, "--data", RealMnist.RealMnistDir());
        Assert.True(eval.ExitCode == 0, eval.StandardError);
        var recorded = RunArtifacts.ReadMetrics(Path.Combine(run.RunDir, "metrics.json")).Test;
        var report = GpuMlp.Metrics.ClassificationReport.FromConfusion(ToMatrix(recorded.Confusion));
        string[] lines = eval.StandardOutput.Split('\n').Select(l => l.TrimEnd('\r')).ToArray();
        int header = Array.IndexOf(lines, "confusion matrix (rows: true class, columns: predicted class)");
        Assert.True(header > 0, eval.StandardOutput);
        Assert.Equal(report.ConfusionLines(MnistDataset.Schema.ClassNames), lines[(header + 1)..(header + 12)]);
        Assert.Contains(lines, l => l.StartsWith("test accuracy", StringComparison.Ordinal));
    }

    [Fact]
    public void PredictCsv_KaggleTestFile_WritesASubmissionAndRefusesToOverwriteIt()
    {
        Assert.True(run.TrainOutput.ExitCode == 0, run.TrainOutput.StandardError);
        var data = RealMnist.Load();
        const int images = 300;
        // Kaggle's test.csv: pixel0..pixel783, no label column.
        var csv = new System.Text.StringBuilder(string.Join(",", Enumerable.Range(0, 784).Select(i => $"pixel{i}"))).Append('\n');
        for (int n = 0; n < images; n++)
            csv.Append(string.Join(",", data.Test.Pixels.AsSpan(n * 784, 784).ToArray())).Append('\n');
        string testCsv = Path.Combine(run.Root, "test.csv");
        File.WriteAllText(testCsv, csv.ToString());
        string submission = Path.Combine(run.Root, "submission.csv");

        var predict = CliProcess.Run(TimeSpan.FromMinutes(2), "predict", "--model", run.RunDir, "--device", TestDevice.RequestedName, "--csv", testCsv, "--out", submission);
        Assert.True(predict.ExitCode == 0, predict.StandardError);
        string[] lines = File.ReadAllText(submission).Split('\n');
        Assert.Equal("ImageId,Label", lines[0]);
        Assert.Equal("", lines[^1]);
        Assert.Equal(images, lines.Length - 2);
        var model = TrainedModel.Load(run.RunDir);
        using var onDevice = model.Upload(fixture.KernelDevice, 256);
        var own = onDevice.Predict([.. Enumerable.Range(0, images).Select(i => data.Test.Normalised(i))]);
        for (int n = 0; n < images; n++)
        {
            string expected = $"{n + 1},{Array.IndexOf(own[n], own[n].Max())}";
            Assert.True(expected == lines[n + 1], $"line {n + 2}: {lines[n + 1]}, expected {expected}");
        }

        // An existing submission is kept unless --overwrite is given.
        File.WriteAllText(submission, "kept");
        var again = CliProcess.Run(TimeSpan.FromMinutes(2), "predict", "--model", run.RunDir, "--device", TestDevice.RequestedName, "--csv", testCsv, "--output", submission);
        Assert.Equal(2, again.ExitCode);
        Assert.DoesNotContain('\n', again.StandardError.Trim());
        Assert.Contains("already exists; choose another name or add --overwrite", again.StandardError, StringComparison.Ordinal);
        Assert.Equal("kept", File.ReadAllText(submission));
        var replaced = CliProcess.Run(TimeSpan.FromMinutes(2), "predict", "--model", run.RunDir, "--device", TestDevice.RequestedName, "--csv", testCsv, "--out", submission, "--overwrite");
        Assert.True(replaced.ExitCode == 0, replaced.StandardError);
        Assert.Equal(string.Join('\n', lines), File.ReadAllText(submission));

        var onto = CliProcess.Run(TimeSpan.FromMinutes(1), "predict", "--model", run.RunDir, "--csv", testCsv, "--out", testCsv, "--overwrite");
        Assert.Equal(2, onto.ExitCode);
        Assert.Contains("is the --csv file", onto.StandardError, StringComparison.Ordinal);
        var withJson = CliProcess.Run(TimeSpan.FromMinutes(1), "predict", "--model", run.RunDir, "--csv", testCsv, "--out", Path.Combine(run.Root, "other.csv"), "--json");
        Assert.Equal(2, withJson.ExitCode);
        Assert.Contains("--json applies to image files, not to --csv", withJson.StandardError, StringComparison.Ordinal);
    }

    private static long[,] ToMatrix(IReadOnlyList<IReadOnlyList<long>> rows)
    {
        var matrix = new long[rows.Count, rows.Count];
        for (int t = 0; t < rows.Count; t++)
            for (int p = 0; p < rows.Count; p++)
                matrix[t, p] = rows[t][p];
        return matrix;
    }
}
