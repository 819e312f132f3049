using System.Globalization;
using System.Text.Json;
using GpuMlp.Data;
using GpuMlp.Models;
using GpuMlp.Runs;
using GpuMlp.Tests.Cli;
using GpuMlp.Tests.Data;
using GpuMlp.Training;

namespace GpuMlp.Tests.Models;

/// <summary>Soft voting (<see cref="ModelEnsemble"/>) against a plain double-precision definition,
/// and `gpumlp eval --model A --model B` through the real CLI: an ensemble of one model twice is
/// that model, and an ensemble of two scores the mean of their probabilities.</summary>
[Collection(DeviceCollection.Name)]
public sealed class ModelEnsembleTests(TrainedRunFixture run, DeviceFixture fixture) : IClassFixture<TrainedRunFixture>, IDisposable
{
    private readonly TempDir dir = new();

    public void Dispose() => dir.Dispose();

    [Fact]
    public void Average_ThreeModels_IsTheElementwiseMeanInDouble()
    {
        var random = new Random(5);
        float[][][] perModel = [.. Enumerable.Range(0, 3).Select(_ => Enumerable.Range(0, 7).Select(_ => Enumerable.Range(0, 4).Select(_ => random.NextSingle()).ToArray()).ToArray())];

        float[][] mean = ModelEnsemble.Average(perModel);

        for (int i = 0; i < 7; i++)
        {
            for (int k = 0; k < 4; k++)
            {
                double reference = ((double)perModel[0][i][k] + perModel[1][i][k] + perModel[2][i][k]) / 3;
                Assert.True(Math.Abs(mean[i][k] - reference) <= 1e-7 + (1e-6 * Math.Abs(reference)), $"[{i},{k}]: {mean[i][k]} vs {reference}");
            }
        }
        Assert.Throws<ArgumentException>(() => ModelEnsemble.Average([]));
        Assert.Throws<ArgumentException>(() => ModelEnsemble.Average([perModel[0], perModel[1][..3]]));
    }

    [Fact]
    public void Score_Probabilities_GiveArgmaxAccuracyAndMeanNegativeLogOfTheTrueClass()
    {
        float[][] probabilities = [[0.7f, 0.2f, 0.1f], [0.4f, 0.4f, 0.2f], [0.1f, 0.3f, 0.6f], [0.5f, 0.5f, 0f]];
        byte[] labels = [0, 1, 2, 2];

        var result = ModelEnsemble.Score(probabilities, labels, 3);

        // Ties go to the lower label: image 1 is predicted 0 (wrong), image 3 is predicted 0 (wrong).
        Assert.Equal(0.5, result.Report.Accuracy);
        double loss = (-Math.Log(0.7f) - Math.Log(0.4f) - Math.Log(0.6f) - Math.Log(float.Epsilon)) / 4;
        Assert.True(Math.Abs(result.Loss - loss) <= 1e-12 * Math.Abs(loss), $"{result.Loss} vs {loss}");
        Assert.Equal(2, result.Report.Confusion[2, 0] + result.Report.Confusion[1, 0]);
    }

    [Fact]
    public void Eval_SameModelTwice_IsThatModelsRecordedMetrics()
    {
        Assert.True(run.TrainOutput.ExitCode == 0, run.TrainOutput.StandardError);
        var recorded = RunArtifacts.ReadMetrics(Path.Combine(run.RunDir, "metrics.json")).Test;

        var eval = CliProcess.Run(TimeSpan.FromMinutes(2), "eval", "--model", run.RunDir, "--model", run.RunDir, "--device", TestDevice.RequestedName,
            "--data", RealMnist.RealMnistDir(), "--json");

        Assert.True(eval.ExitCode == 0, eval.StandardError);
        using var json = JsonDocument.Parse(eval.StandardOutput);
        var test = json.RootElement.GetProperty("test");
        Assert.Equal(recorded.Accuracy, test.GetProperty("accuracy").GetDouble());
        Assert.Equal(recorded.MacroF1, test.GetProperty("macro_f1").GetDouble());
        Assert.True(Math.Abs(recorded.Loss - test.GetProperty("loss").GetDouble()) <= 1e-5 * recorded.Loss, $"loss {test.GetProperty("loss").GetDouble()} vs {recorded.Loss}");
        Assert.Equal(2, json.RootElement.GetProperty("models").GetArrayLength());
    }

    [Fact]
    public void Eval_TwoModels_ScoresTheMeanOfTheirProbabilitiesAndPrintsEachModel()
    {
        Assert.True(run.TrainOutput.ExitCode == 0, run.TrainOutput.StandardError);
        var mnist = RealMnist.Load();
        string second = Path.Combine(dir.Path, "second.safetensors");
        var options = new TrainingOptions { Epochs = 1, Hidden = [32], LimitTrain = 3000, Seed = 9 };
        using (var model = MnistModel.Train(mnist, options, TestDevice.RequestedName))
            model.Save(second);

        var eval = CliProcess.Run(TimeSpan.FromMinutes(2), "eval", "--model", run.RunDir, "--model", second, "--device", TestDevice.RequestedName,
            "--data", RealMnist.RealMnistDir(), "--json");
        var text = CliProcess.Run(TimeSpan.FromMinutes(2), "eval", "--model", run.RunDir, "--model", second, "--device", TestDevice.RequestedName,
            "--data", RealMnist.RealMnistDir());

        Assert.True(eval.ExitCode == 0, eval.StandardError);
        // The reference: each model's probabilities in-process, averaged in double, argmax.
        var probabilities = new[] { run.RunDir, second }.Select(path =>
        {
            var model = TrainedModel.Load(path);
            using var onDevice = model.Upload(fixture.KernelDevice, 256);
            return onDevice.Predict([.. Enumerable.Range(0, mnist.Test.Count).Select(mnist.Test.Normalised)]);
        }).ToArray();
        int correct = 0;
        for (int i = 0; i < mnist.Test.Count; i++)
        {
            double[] mean = [.. Enumerable.Range(0, 10).Select(k => ((double)probabilities[0][i][k] + probabilities[1][i][k]) / 2)];
            if (Array.IndexOf(mean, mean.Max()) == mnist.Test.Labels[i])
                correct++;
        }
        using var json = JsonDocument.Parse(eval.StandardOutput);
        Assert.Equal(correct / 10000.0, json.RootElement.GetProperty("test").GetProperty("accuracy").GetDouble(), 12);
        Assert.True(text.ExitCode == 0, text.StandardError);
        Assert.Contains("ensemble of 2 models", text.StandardOutput, StringComparison.Ordinal);
        Assert.Contains(string.Create(CultureInfo.InvariantCulture, $"ensemble {correct / 10000.0:P2} vs the models' mean"), text.StandardOutput, StringComparison.Ordinal);
    }

    [Fact]
    public void Eval_EnsembleOfModelsOfOtherSchemas_IsAOneLineUsageError()
    {
        string csv = dir.Write("small.csv", System.Text.Encoding.ASCII.GetBytes(KaggleCsv.Synthetic(4, [0, 1, 2, 0, 1, 2, 0, 1, 2, 0], 10)));

        var eval = CliProcess.Run(TimeSpan.FromMinutes(2), "eval", "--model", run.RunDir, "--model", run.RunDir, "--device", TestDevice.RequestedName, "--data", csv);

        CliProcess.AssertOneLineError(eval, GpuMlp.Cli.ExitCodes.Usage, "was trained on 1x28x28 images, 10 classes");
    }
}
