using System.Text.Json;
using GpuMlp.Runs;
using GpuMlp.Tests.Data;
using GpuMlp.Training;

namespace GpuMlp.Tests.Cli;

/// <summary>`gpumlp train`'s distortion flags: announced, recorded in config.json and the checkpoint,
/// kept by --resume (a flag beside it is refused), and one-line usage errors.</summary>
[Collection(DeviceCollection.Name)]
public sealed class DistortionCliTests : IDisposable
{
    private readonly TempDir dir = new();

    public void Dispose() => dir.Dispose();

    [Fact]
    public void Train_DistortionFlags_AreAnnouncedRecordedAndKeptByResume()
    {
        string run = Path.Combine(dir.Path, "distorted");
        var result = CliProcess.Run(TimeSpan.FromMinutes(3), "train", "--device", TestDevice.RequestedName, "--data", RealMnist.RealMnistDir(),
            "--epochs", "1", "--limit-train", "300", "--batch-size", "50", "--hidden", "16",
            "--augment-rotate", "10", "--augment-scale", "0.1", "--elastic-alpha", "34", "--elastic-sigma", "4", "--no-test", "--out", run);
        Assert.True(result.ExitCode == 0, result.StandardError);
        // Progress lines wrap at the console's width: compared with whitespace runs as one space.
        Assert.Contains("augmentation: every training image distorted at random, up to rotate 10 deg, scale 0.1, elastic alpha 34 sigma 4; resampled bilinearly",
            string.Join(' ', result.StandardOutput.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries)), StringComparison.Ordinal);
        using (var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(run, RunArtifacts.ConfigFileName))))
            Assert.Equal(4f, config.RootElement.GetProperty("distortion").GetProperty("elastic_sigma").GetSingle());
        var expected = new ImageDistortion { RotateDegrees = 10, Scale = 0.1f, ElasticAlpha = 34, ElasticSigma = 4 };
        Assert.Equal(expected, Checkpoint.Load(Path.Combine(run, Checkpoint.FileName)).State.Options.Distortion);

        var refused = CliProcess.Run(TimeSpan.FromMinutes(1), "train", "--resume", run, "--device", TestDevice.RequestedName,
            "--data", RealMnist.RealMnistDir(), "--augment-rotate", "5");
        Assert.Equal(2, refused.ExitCode);
        Assert.Equal($"gpumlp: error: --resume {run}: the run keeps the distortion it was started with; drop --augment-rotate", refused.StandardError.Trim());
    }

    [Fact]
    public void Train_ElasticAlphaWithoutSigma_IsAOneLineUsageError()
    {
        var result = CliProcess.Run(TimeSpan.FromMinutes(1), "train", "--device", TestDevice.RequestedName, "--data", RealMnist.RealMnistDir(),
            "--elastic-alpha", "34", "--out", Path.Combine(dir.Path, "never"));
        Assert.Equal(2, result.ExitCode);
        Assert.Equal("gpumlp: error: --elastic-alpha and --elastic-sigma go together: give both, e.g. --elastic-alpha 34 --elastic-sigma 4", result.StandardError.Trim());
        Assert.False(Directory.Exists(Path.Combine(dir.Path, "never")));
    }
}
