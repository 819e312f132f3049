using GpuMlp.Models;
using GpuMlp.Runs;
using GpuMlp.Tests.Data;

namespace GpuMlp.Tests.Cli;

/// <summary>`gpumlp train --no-test`: a run for choosing models on validation data never evaluates
/// the test set, so it leaves no test figure anywhere (no metrics.json, no confusion matrix, no
/// test accuracy in the model's metadata); the same run without the flag has all three.</summary>
[Collection(DeviceCollection.Name)]
public sealed class NoTestCliTests : IDisposable
{
    private readonly TempDir dir = new();

    public void Dispose() => dir.Dispose();

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Train_NoTest_LeavesNoTestFigure(bool noTest)
    {
        string run = Path.Combine(dir.Path, noTest ? "no-test" : "with-test");
        string[] arguments = ["train", "--device", TestDevice.RequestedName, "--data", RealMnist.RealMnistDir(), "--epochs", "1",
            "--limit-train", "400", "--val-split", "0.25", "--hidden", "16", "--out", run];
        var result = CliProcess.Run(TimeSpan.FromMinutes(3), noTest ? [.. arguments, "--no-test"] : arguments);
        Assert.True(result.ExitCode == 0, result.StandardError);

        Assert.True(File.Exists(Path.Combine(run, RunArtifacts.ModelFileName)));
        Assert.True(File.Exists(Path.Combine(run, RunArtifacts.CurvesFileName)));
        Assert.True(File.Exists(Path.Combine(run, GpuMlp.Training.Checkpoint.FileName)));
        Assert.Equal(!noTest, File.Exists(Path.Combine(run, RunArtifacts.MetricsFileName)));
        Assert.Equal(!noTest, File.Exists(Path.Combine(run, RunArtifacts.ConfusionFileName)));
        var metadata = ModelFile.Load(Path.Combine(run, RunArtifacts.ModelFileName)).Metadata;
        Assert.Equal(!noTest, metadata.ContainsKey("gpumlp.test_accuracy"));
        Assert.Equal(noTest, result.StandardOutput.Contains("test set not evaluated (--no-test)", StringComparison.Ordinal));
        Assert.Equal(!noTest, result.StandardOutput.Contains("macro", StringComparison.OrdinalIgnoreCase));
    }
}
