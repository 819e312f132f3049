using System.Text.Json;
using GpuMlp.Cli;
using GpuMlp.Compute;
using GpuMlp.Data;
using GpuMlp.Tests.Data;
using GpuMlp.Training;

namespace GpuMlp.Tests.Cli;

/// <summary>`gpumlp bench --arch`: the stack it builds is named in the output and the JSON; the
/// CPU defaults shrink for stacks with convolutions while explicit flags are kept.</summary>
public sealed class BenchCommandTests : IDisposable
{
    private const string TinyConv = "conv3x3x4p1,relu,pool2,flatten,dense10";

    private readonly TempDir dir = new();

    public void Dispose() => dir.Dispose();

    [Fact]
    public void Bench_TinyConvStack_RecordsTheArchInTheOutputAndJson()
    {
        string json = Path.Combine(dir.Path, "bench.json");
        var result = CliProcess.Run(TimeSpan.FromMinutes(3), "bench", "--device", TestDevice.RequestedName, "--data", RealMnist.RealMnistDir(),
            "--arch", "Conv3x3x4p1, relu, pool2, flatten, dense10", "--steps", "2", "--warmup", "1", "--repeats", "1", "--json", json);
        Assert.True(result.ExitCode == 0, result.StandardError + result.StandardOutput);
        Assert.Contains($"architecture {TinyConv}: {TinyConv}, 7,890 parameters", result.StandardOutput, StringComparison.Ordinal);
        Assert.Contains($"gpumlp bench (medians, {TinyConv})", result.StandardOutput.Replace("\n", "", StringComparison.Ordinal), StringComparison.Ordinal);

        using var document = JsonDocument.Parse(File.ReadAllText(json));
        var measured = Assert.Single(document.RootElement.GetProperty("results").EnumerateArray());
        Assert.Equal(TinyConv, measured.GetProperty("arch").GetString());
        Assert.Equal("adam", measured.GetProperty("optimizer").GetString());
        Assert.Equal(2, measured.GetProperty("steps").GetInt32());
        Assert.Equal(1, measured.GetProperty("warmup_steps").GetInt32());
        Assert.Equal(TestDevice.Request == DeviceRequest.Cpu ? 1000 : 10000, measured.GetProperty("eval_samples").GetInt32());
        Assert.True(measured.GetProperty("train_samples_per_second").GetDouble() > 0);
        Assert.True(measured.GetProperty("eval_samples_per_second").GetDouble() > 0);
    }

    [Theory]
    [InlineData(null, true, 200, 20, 10000)]
    [InlineData(null, false, 100, 10, 10000)]
    [InlineData("cnn", true, 10, 2, 1000)]
    [InlineData("cnn", false, 100, 10, 10000)]
    [InlineData("dense64,relu,dense10", true, 200, 20, 10000)]
    public void DefaultSteps_ArchAndDevice_ShrinkOnlyForConvolutionsOnTheCpu(string? arch, bool isCpu, int steps, int warmup, int evalImages)
    {
        var settings = new BenchSettings(128, null, null, 3, 1, arch is null ? null : ArchitectureChoice.Resolve(arch, MnistDataset.Schema));
        Assert.Equal((steps, warmup, evalImages), BenchCommand.DefaultSteps(settings, isCpu, 10000));
        Assert.Equal((7, 0, 500), BenchCommand.DefaultSteps(settings with { Steps = 7, Warmup = 0, EvalImages = 500 }, isCpu, 10000));
    }

    /// <summary>bench --optimizer trains with that optimiser at torch.optim's defaults, its own
    /// learning rate included; without it, Adam at 0.001 as before.</summary>
    [Theory]
    [InlineData(OptimizerKind.Adam, 1e-3f)]
    [InlineData(OptimizerKind.AdamW, 1e-3f)]
    [InlineData(OptimizerKind.Sgd, 1e-2f)]
    [InlineData(OptimizerKind.Rmsprop, 1e-2f)]
    public void Options_Optimizer_IsThatOptimizerAtTorchDefaults(OptimizerKind kind, float learningRate)
    {
        var options = new BenchSettings(128, null, null, 3, 1, Optimizer: kind).Options(1);
        Assert.Equal(new OptimizerSettings(kind), options.Optimizer);
        Assert.Equal(learningRate, options.Optimizer.LearningRate);
        Assert.Equal(OptimizerKind.Adam, new BenchSettings(128, null, null, 3, 1).Options(1).Optimizer.Kind);
    }

    [Theory]
    [InlineData("--arch", "conv3x3x4,relu,dense10", "--arch: architecture: layer 3 'dense10': a dense layer needs a vector; put flatten before it")]
    [InlineData("--arch", "rnn", "--arch: architecture: layer 1 'rnn' is not a layer")]
    [InlineData("--eval-images", "0", "--eval-images must be at least 1")]
    [InlineData("--optimizer", "adagrad", "--optimizer must be adam, adamw, sgd or rmsprop (got 'adagrad')")]
    public void Bench_BadArchEvalImagesOrOptimizer_AreOneLineUsageErrors(string flag, string value, string message)
    {
        var result = CliProcess.Run(TimeSpan.FromMinutes(1), "bench", "--device", "cpu", "--data", Path.Combine(dir.Path, "none"), flag, value);
        Assert.True(result.ExitCode == 2, $"exit {result.ExitCode}: {result.StandardError}");
        Assert.StartsWith("gpumlp: error: " + message, result.StandardError, StringComparison.Ordinal);
    }
}
