using System.Text.Json;
using GpuMlp.Runs;
using GpuMlp.Tests.Data;
using GpuMlp.Training;

namespace GpuMlp.Tests.Cli;

/// <summary>`gpumlp train --augment-shift`: the CNN preset's default, the value recorded in
/// config.json and announced in the header.</summary>
[Collection(DeviceCollection.Name)]
public sealed class AugmentCliTests : IDisposable
{
    private readonly TempDir dir = new();

    public void Dispose() => dir.Dispose();

    [Theory]
    [InlineData("cnn", TrainingOptions.CnnPresetAugmentShift)]
    [InlineData(" CNN ", TrainingOptions.CnnPresetAugmentShift)]
    [InlineData("mlp", 0)]
    [InlineData("conv5x5x32p2,relu,pool2,conv5x5x64p2,relu,pool2,flatten,dense512,relu,dropout0.5,dense10", 0)]
    public void DefaultAugmentShift_Arch_IsThePresetsRecipeOnlyForCnn(string arch, int expected)
    {
        Assert.Equal(expected, ArchitectureChoice.DefaultAugmentShift(arch));
    }

    [Fact]
    public void Train_AugmentShift_IsAnnouncedAndRecorded()
    {
        string run = Path.Combine(dir.Path, "shifted");
        var result = CliProcess.Run(TimeSpan.FromMinutes(3), "train", "--device", TestDevice.RequestedName, "--data", RealMnist.RealMnistDir(),
            "--epochs", "1", "--limit-train", "300", "--batch-size", "50", "--arch", "conv3x3x4p1,relu,pool2,flatten,dense10",
            "--augment-shift", "1", "--out", run);
        Assert.True(result.ExitCode == 0, result.StandardError);
        Assert.Contains("augmentation: every training image moved by -1..1 pixels", result.StandardOutput, StringComparison.Ordinal);
        using var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(run, RunArtifacts.ConfigFileName)));
        Assert.Equal(1, config.RootElement.GetProperty("augment_shift").GetInt32());
        Assert.Equal(1, Checkpoint.Load(Path.Combine(run, Checkpoint.FileName)).State.Options.AugmentShift);
    }
}
