using System.Text.Json;
using GpuMlp.Models;
using GpuMlp.Runs;
using GpuMlp.Tests.Data;
using GpuMlp.Training;

namespace GpuMlp.Tests.Cli;

/// <summary>`gpumlp train --optimizer`: the effective learning rate (the optimiser's default without
/// --lr) and the optimiser are recorded in config.json, metrics.json, the model metadata and the
/// checkpoint; the train header names it.</summary>
[Collection(DeviceCollection.Name)]
public sealed class OptimizerCliTests : IDisposable
{
    private readonly TempDir dir = new();

    public void Dispose() => dir.Dispose();

    [Fact]
    public void Train_SgdWithoutLr_UsesAndRecordsTheOptimizersDefaultRate()
    {
        string run = Path.Combine(dir.Path, "sgd");
        var result = CliProcess.Run(TimeSpan.FromMinutes(3), "train", "--device", TestDevice.RequestedName, "--data", RealMnist.RealMnistDir(),
            "--epochs", "1", "--limit-train", "300", "--hidden", "8", "--batch-size", "50", "--optimizer", "sgd", "--momentum", "0.9", "--nesterov", "--out", run);
        Assert.True(result.ExitCode == 0, result.StandardError);
        const string described = "sgd (lr 0.01, momentum 0.9, dampening 0, nesterov true, weight_decay 0)";
        // Spectre.Console wraps long lines at the console width: the start is enough.
        Assert.Contains("optimizer sgd (lr 0.01, momentum 0.9", result.StandardOutput, StringComparison.Ordinal);

        using var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(run, RunArtifacts.ConfigFileName)));
        Assert.Equal(0.01f, config.RootElement.GetProperty("learning_rate").GetSingle());
        Assert.Equal(described, config.RootElement.GetProperty("optimizer").GetString());
        var settings = config.RootElement.GetProperty("optimizer_settings");
        Assert.Equal("sgd", settings.GetProperty("kind").GetString());
        Assert.Equal(0.01f, settings.GetProperty("learning_rate").GetSingle());
        Assert.True(settings.GetProperty("nesterov").GetBoolean());

        Assert.Equal(described, RunArtifacts.ReadMetrics(Path.Combine(run, RunArtifacts.MetricsFileName)).Optimizer);
        Assert.Equal(described, TrainedModel.Load(run).Metadata["gpumlp.optimizer"]);
        var checkpoint = Checkpoint.Load(Path.Combine(run, Checkpoint.FileName));
        Assert.Equal(new OptimizerSettings(OptimizerKind.Sgd) { Momentum = 0.9f, Nesterov = true }, checkpoint.State.Options.Optimizer);
        Assert.Equal([Optimizers.MomentumBuffer], checkpoint.Optimizer.Tensors.Keys);
        Assert.Equal(6, checkpoint.Optimizer.Steps);
    }
}
