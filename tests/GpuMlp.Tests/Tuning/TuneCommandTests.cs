using System.Text.Json;
using GpuMlp.Data;
using GpuMlp.Imaging;
using GpuMlp.Runs;
using GpuMlp.Tests.Cli;
using GpuMlp.Tests.Data;
using GpuMlp.Tuning;

namespace GpuMlp.Tests.Tuning;

/// <summary>`gpumlp tune` as a process: bad flags are usage errors (exit 2) before any data is
/// loaded; one tiny real search end to end.</summary>
public sealed class TuneCommandTests : IDisposable
{
    private readonly TempDir dir = new();

    public void Dispose() => dir.Dispose();

    [Theory]
    [InlineData("--trials", "0", "--trials")]
    [InlineData("--eta", "1", "--eta")]
    [InlineData("--min-epochs", "0", "--min-epochs")]
    [InlineData("--max-epochs", "0", "--max-epochs")]
    [InlineData("--val-split", "0", "--val-split")]
    [InlineData("--budget", "10x", "--budget")]
    [InlineData("--lr-range", "3e-3,1e-4", "min > max")]
    [InlineData("--dropout-range", "0,1", "dropout must lie in [0, 1)")]
    [InlineData("--batch-sizes", "64,0", "--batch-sizes")]
    [InlineData("--hidden-choices", "512,x", "--hidden-choices")]
    [InlineData("--space", "/nonexistent/space.json", "--space /nonexistent/space.json: no such file")]
    [InlineData("--device", "tpu", "--device")]
    [InlineData("--optimizers", "adam,lbfgs", "--optimizers: optimizer must be adam, adamw, sgd or rmsprop (got 'lbfgs')")]
    [InlineData("--momentum-range", "0.5,1", "momentum must lie in [0, 1)")]
    [InlineData("--momentum-range", "0.5,0.9", "momentum applies to sgd and rmsprop; the optimizer list has neither")]
    [InlineData("--weight-decays", "0,-1", "weight_decay must list one or more values >= 0")]
    public void Tune_BadFlags_AreUsageErrors(string flag, string value, string message)
    {
        var result = CliProcess.Run(TimeSpan.FromMinutes(1), "tune", flag, value, "--out", Path.Combine(dir.Path, "t"));
        Assert.True(result.ExitCode == 2, $"exit {result.ExitCode}: {result.StandardError}");
        Assert.Contains(message, result.StandardError, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(dir.Path, "t")));
    }

    [Fact]
    public void TuneResume_NewSearchSettings_AreRefused()
    {
        var result = CliProcess.Run(TimeSpan.FromMinutes(1), "tune", "--resume", dir.Path, "--trials", "4");
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("--trials", result.StandardError, StringComparison.Ordinal);
        var reread = CliProcess.Run(TimeSpan.FromMinutes(1), "tune", "--resume", dir.Path, "--test-split", "0.3");
        Assert.Equal(2, reread.ExitCode);
        Assert.Contains("--test-split", reread.StandardError, StringComparison.Ordinal);
        var missing = CliProcess.Run(TimeSpan.FromMinutes(1), "tune", "--resume", dir.Path);
        Assert.Equal(3, missing.ExitCode);
        Assert.Contains("tune.json", missing.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public void Tune_TinySearch_WritesEveryFileAndAFinalRunFolderEvalAndPredictRead()
    {
        string outDir = Path.Combine(dir.Path, "tiny");
        string[] arguments =
        [
            "tune", "--device", TestDevice.RequestedName, "--data", RealMnist.RealMnistDir(), "--limit-train", "400", "--trials", "4", "--eta", "2",
            "--max-epochs", "2", "--hidden-choices", "16", "--batch-sizes", "40,80", "--seed", "3", "--out", outDir,
        ];
        var result = CliProcess.Run(TimeSpan.FromMinutes(4), arguments);
        Assert.True(result.ExitCode == 0, result.StandardError + result.StandardOutput);
        foreach (string file in new[] { TuningFiles.StateFileName, TuningFiles.CsvFileName, TuningFiles.PlotFileName, TuningFiles.BestFileName, "final/metrics.json", "final/config.json", "final/history.csv" })
            Assert.True(File.Exists(Path.Combine(outDir, file)), file);
        Assert.Empty(Directory.GetFiles(Path.Combine(outDir, TuningFiles.TrialCheckpointDirName)));

        var state = TuningFiles.Load(outDir, MnistDataset.Schema);
        Assert.Equal([(1, 4), (2, 2)], state.Rungs.Select(r => (r.Epochs, r.Entered.Count)));
        var best = TuningFiles.ReadBest(outDir);
        Assert.Equal(state.BestTrial, best.Trial);
        Assert.Equal(400, best.Final.TrainImages);
        Assert.InRange(best.Test.Accuracy, 0.3, 1);
        Assert.StartsWith("gpumlp train --epochs ", best.Command, StringComparison.Ordinal);
        Assert.Contains("--val-split 0 --limit-train 400 --device cpu", best.Command, StringComparison.Ordinal);
        Assert.Contains(best.Command, result.StandardOutput, StringComparison.Ordinal);
        using var metrics = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "final", "metrics.json")));
        Assert.Equal(best.Test.Accuracy, metrics.RootElement.GetProperty("test").GetProperty("accuracy").GetDouble());

        var again = CliProcess.Run(TimeSpan.FromMinutes(1), "tune", "--resume", outDir);
        Assert.Equal(0, again.ExitCode);
        Assert.Contains("already finished", again.StandardOutput, StringComparison.Ordinal);

        // final/ is a finished run folder like train's: eval reproduces its test metrics and
        // predict reads its model.
        string final = Path.Combine(outDir, TuningFiles.FinalDirName);
        foreach (string file in new[] { RunArtifacts.ModelFileName, RunArtifacts.CurvesFileName, RunArtifacts.ConfusionFileName, "checkpoint.bin" })
            Assert.True(File.Exists(Path.Combine(final, file)), $"final/{file}");
        var eval = CliProcess.Run(TimeSpan.FromMinutes(2), "eval", "--model", final, "--device", "cpu", "--data", RealMnist.RealMnistDir(), "--json");
        Assert.True(eval.ExitCode == 0, eval.StandardError);
        using var evaluated = JsonDocument.Parse(eval.StandardOutput);
        Assert.Equal(best.Test.Accuracy, evaluated.RootElement.GetProperty("test").GetProperty("accuracy").GetDouble());
        Assert.Equal(best.Test.Loss, evaluated.RootElement.GetProperty("test").GetProperty("loss").GetDouble());
        string digit = Path.Combine(dir.Path, "digit.png");
        DigitImage.SaveMnistDigitAsPng(RealMnist.Load().Test.Pixels.AsSpan(0, 784), digit, 56, darkOnLight: true);
        var predict = CliProcess.Run(TimeSpan.FromMinutes(2), "predict", "--model", final, "--device", "cpu", "--json", digit);
        Assert.True(predict.ExitCode == 0, predict.StandardError);
        using var predicted = JsonDocument.Parse(predict.StandardOutput);
        Assert.InRange(predicted.RootElement.GetProperty("predictions")[0].GetProperty("class_index").GetInt32(), 0, 9);
    }
}
