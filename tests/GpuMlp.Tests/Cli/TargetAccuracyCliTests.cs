using System.Text.Json;
using GpuMlp.Runs;
using GpuMlp.Tests.Data;

namespace GpuMlp.Tests.Cli;

/// <summary>`gpumlp train --target-accuracy F`: the run stops after the first epoch whose validation
/// accuracy reaches F, says so with its seconds, and metrics.json keeps the record; a target out of
/// reach trains every epoch and says it was not reached.</summary>
[Collection(DeviceCollection.Name)]
public sealed class TargetAccuracyCliTests : IDisposable
{
    private readonly TempDir dir = new();

    public void Dispose() => dir.Dispose();

    [Theory]
    [InlineData("0.05", 1)]
    [InlineData("1", null)]
    public void Train_TargetAccuracy_StopsAtTheFirstEpochReachingItAndRecordsIt(string target, int? reachedEpoch)
    {
        string run = Path.Combine(dir.Path, "run");
        var result = CliProcess.Run(TimeSpan.FromMinutes(3), ["train", "--device", TestDevice.RequestedName, "--data", RealMnist.RealMnistDir(),
            "--epochs", "3", "--limit-train", "400", "--val-split", "0.25", "--hidden", "16", "--target-accuracy", target, "--out", run]);
        Assert.True(result.ExitCode == 0, result.StandardError);

        var metrics = RunArtifacts.ReadMetrics(Path.Combine(run, RunArtifacts.MetricsFileName));
        Assert.NotNull(metrics.Target);
        Assert.Equal(double.Parse(target, System.Globalization.CultureInfo.InvariantCulture), metrics.Target.ValAccuracy);
        Assert.Equal(reachedEpoch, metrics.Target.ReachedEpoch);
        Assert.Equal(reachedEpoch ?? 3, metrics.Epochs.Count);
        // Without --early-stop the model holds the last epoch's weights.
        Assert.Equal(reachedEpoch ?? 3, metrics.Target.WeightsEpoch);
        Assert.DoesNotContain("keeps the weights of epoch", result.StandardOutput, StringComparison.Ordinal);
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(run, RunArtifacts.MetricsFileName)));
        var recorded = json.RootElement.GetProperty("target");
        if (reachedEpoch is null)
        {
            Assert.Equal(JsonValueKind.Null, recorded.GetProperty("train_seconds").ValueKind);
            Assert.Contains("not reached in 3 epochs", result.StandardOutput, StringComparison.Ordinal);
            return;
        }
        Assert.True(metrics.Target.TrainSeconds > 0);
        Assert.True(metrics.Target.SinceStartSeconds > metrics.Target.TrainSeconds,
            $"since start {metrics.Target.SinceStartSeconds} s should exceed the {metrics.Target.TrainSeconds} s of training");
        Assert.Contains("after epoch 1:", result.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("since gpumlp started", result.StandardOutput, StringComparison.Ordinal);
    }

    [Fact]
    public void Train_TargetAccuracyWithEarlyStop_RecordsAndSaysWhichEpochsWeightsTheModelHolds()
    {
        // lr 0.03 on 400 images: the validation loss rises again in some epochs while the accuracy
        // climbs, so the lowest loss's epoch (the one --early-stop restores) can precede the target's.
        string run = Path.Combine(dir.Path, "run");
        var result = CliProcess.Run(TimeSpan.FromMinutes(3), ["train", "--device", TestDevice.RequestedName, "--data", RealMnist.RealMnistDir(),
            "--epochs", "8", "--limit-train", "500", "--val-split", "0.2", "--hidden", "16", "--seed", "2", "--batch-size", "50", "--lr", "0.03",
            "--early-stop", "8", "--target-accuracy", "0.84", "--out", run]);
        Assert.True(result.ExitCode == 0, result.StandardError);

        var metrics = RunArtifacts.ReadMetrics(Path.Combine(run, RunArtifacts.MetricsFileName));
        Assert.NotNull(metrics.Target);
        double lowestLoss = metrics.Epochs.Min(r => r.ValLoss!.Value);
        int lowestLossEpoch = metrics.Epochs.First(r => r.ValLoss == lowestLoss).Epoch;
        Assert.Equal(lowestLossEpoch, metrics.Target.WeightsEpoch);
        string kept = $"target: the model keeps the weights of epoch {lowestLossEpoch}, the lowest validation loss (--early-stop), not those of epoch {metrics.Epochs.Count}";
        // The console wraps long lines at its width.
        string output = System.Text.RegularExpressions.Regex.Replace(result.StandardOutput, @"\s+", " ");
        if (lowestLossEpoch == metrics.Epochs.Count)
            Assert.DoesNotContain("keeps the weights of epoch", output, StringComparison.Ordinal);
        else
            Assert.Contains(kept, output, StringComparison.Ordinal);
    }
}
