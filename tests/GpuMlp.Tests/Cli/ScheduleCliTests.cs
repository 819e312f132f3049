using System.Text.Json;
using GpuMlp.Models;
using GpuMlp.Runs;
using GpuMlp.Tests.Data;
using GpuMlp.Training;

namespace GpuMlp.Tests.Cli;

/// <summary>`gpumlp train` with a per-step schedule, label smoothing and EMA: tuomaso/train_mnist_fast's
/// recipe (OneCycle, batch 256, Adam lr 0.01 betas 0.7/0.9) is expressible; the settings reach
/// config.json and the checkpoint; the saved model is the moving average; --resume refuses to change
/// them; OneCycle flags without onecycle and bad values are one-line usage errors.</summary>
[Collection(DeviceCollection.Name)]
public sealed class ScheduleCliTests : IDisposable
{
    private readonly TempDir dir = new();

    public void Dispose() => dir.Dispose();

    [Fact]
    public void Train_OneCycleRecipeWithSmoothingAndEma_RecordsThemAndSavesTheAverage()
    {
        string run = Path.Combine(dir.Path, "onecycle");
        var result = CliProcess.Run(TimeSpan.FromMinutes(3), "train", "--device", TestDevice.RequestedName, "--data", RealMnist.RealMnistDir(),
            "--epochs", "1", "--limit-train", "600", "--hidden", "8", "--batch-size", "256", "--lr", "0.01", "--betas", "0.7,0.9",
            "--lr-schedule", "onecycle", "--anneal", "linear", "--label-smoothing", "0.1", "--ema", "0.9", "--out", run);
        Assert.True(result.ExitCode == 0, result.StandardError);
        Assert.Contains("schedule onecycle (pct_start 0.3", result.StandardOutput, StringComparison.Ordinal);

        using var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(run, RunArtifacts.ConfigFileName)));
        Assert.Equal("onecycle", config.RootElement.GetProperty("lr_schedule").GetString());
        Assert.Equal("linear", config.RootElement.GetProperty("one_cycle").GetProperty("anneal").GetString());
        Assert.Equal(0.1f, config.RootElement.GetProperty("label_smoothing").GetSingle());
        Assert.Equal(0.9f, config.RootElement.GetProperty("ema_decay").GetSingle());

        var checkpoint = Checkpoint.Load(Path.Combine(run, Checkpoint.FileName));
        var options = checkpoint.State.Options;
        Assert.Equal(LearningRateSchedule.OneCycle, options.Schedule);
        Assert.Equal(AnnealStrategy.Linear, options.OneCycle!.Anneal);
        Assert.Equal(0.7f, options.Optimizer.Beta1);
        Assert.Equal(3, checkpoint.Optimizer.Steps); // 540 training images in batches of 256
        Assert.NotNull(checkpoint.AverageParameters);
        Assert.Equal(checkpoint.AverageParameters, TrainedModel.Load(run).Parameters);
        Assert.NotEqual(checkpoint.Parameters, checkpoint.AverageParameters);

        var resumed = CliProcess.Run(TimeSpan.FromMinutes(1), "train", "--device", TestDevice.RequestedName, "--data", RealMnist.RealMnistDir(),
            "--resume", run, "--ema", "0.5");
        Assert.Equal(2, resumed.ExitCode);
        Assert.Contains("continues with the run's saved schedule; do not combine it with --ema", resumed.StandardError, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--onecycle-pct applies to --lr-schedule onecycle, not constant", "--onecycle-pct", "0.25")]
    [InlineData("--three-phase applies to --lr-schedule onecycle, not cosine", "--lr-schedule", "cosine", "--three-phase")]
    [InlineData("--anneal must be cos or linear", "--lr-schedule", "onecycle", "--anneal", "sine")]
    [InlineData("--cycle-momentum must be on or off", "--lr-schedule", "onecycle", "--cycle-momentum", "maybe")]
    [InlineData("--warmup-steps applies to the constant, linear and cosine-steps schedules, not onecycle", "--lr-schedule", "onecycle", "--warmup-steps", "10")]
    [InlineData("--label-smoothing must be in [0, 1]", "--label-smoothing", "1.5")]
    [InlineData("--ema must be a decay in [0, 1)", "--ema", "1")]
    [InlineData("--lr-schedule must be constant, step, cosine, onecycle, linear or cosine-steps", "--lr-schedule", "triangle")]
    public void Train_BadScheduleFlag_IsAOneLineUsageError(string message, params string[] flags)
    {
        var result = CliProcess.Run(TimeSpan.FromMinutes(1), ["train", "--device", TestDevice.RequestedName, "--data", RealMnist.RealMnistDir(),
            "--epochs", "1", "--limit-train", "300", "--hidden", "8", "--out", Path.Combine(dir.Path, "bad"), .. flags]);
        Assert.Equal(2, result.ExitCode);
        Assert.Contains(message, result.StandardError, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", result.StandardError, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(dir.Path, "bad")) && Directory.EnumerateFileSystemEntries(Path.Combine(dir.Path, "bad")).Any());
    }
}
