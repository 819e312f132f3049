using System.Text.Json;
using GpuMlp.Data;
using GpuMlp.Models;
using GpuMlp.Runs;
using GpuMlp.Tests.Cli;
using GpuMlp.Tests.Data;
using GpuMlp.Training;
using GpuMlp.Tuning;

namespace GpuMlp.Tests.Tuning;

/// <summary>`gpumlp tune` over architectures, end to end on 600 images and a tiny conv stack:
/// every record names each trial's architecture, a stack winner's final/ is a model eval reads,
/// and --resume continues with the saved choices. The interrupted search is run in this process
/// (on the test device) and stopped after two trials, as Ctrl+C would.</summary>
[Collection(DeviceCollection.Name)]
public sealed class ArchitectureTuneTests(DeviceFixture fixture) : IDisposable
{
    private const string TinyConv = ArchitectureSpaceTests.TinyConv;

    private readonly TempDir dir = new();

    public void Dispose() => dir.Dispose();

    [Fact]
    public void Tune_MlpOrConvStack_RecordsTheArchPerTrialAndTheStackWinnerEvaluates()
    {
        string outDir = Path.Combine(dir.Path, "mixed");
        // A one-unit MLP cannot keep up with the conv stack at lr 0.01: the stack wins (seed 3
        // samples two of each).
        var result = CliProcess.Run(TimeSpan.FromMinutes(4),
            "tune", "--device", TestDevice.RequestedName, "--data", RealMnist.RealMnistDir(), "--limit-train", "600", "--trials", "4", "--eta", "2",
            "--max-epochs", "2", "--lr-range", "0.01", "--hidden-choices", "1", "--batch-sizes", "30,60", "--arch-choices", $"mlp;{TinyConv}",
            "--seed", "3", "--out", outDir);
        Assert.True(result.ExitCode == 0, result.StandardError + result.StandardOutput);

        var state = TuningFiles.Load(outDir, MnistDataset.Schema);
        Assert.Equal([ArchitectureChoice.Mlp, TinyConv], SearchSpace.FromDocument(state.Settings.Space, MnistDataset.Schema).Architectures);
        Assert.Contains(state.Trials, t => t.Config.IsMlp);
        Assert.Contains(state.Trials, t => t.Config.Architecture == TinyConv);
        var csv = File.ReadAllLines(Path.Combine(outDir, TuningFiles.CsvFileName));
        foreach (var trial in state.Trials)
            Assert.EndsWith(trial.Config.IsMlp ? ",\"mlp\"" : $",\"{TinyConv}\"", csv[1 + trial.Id], StringComparison.Ordinal);
        Assert.Contains("optimizer  arch", result.StandardOutput, StringComparison.Ordinal);
        Assert.Matches($@"\b60  0\.01  -\s+-\s+.*adam\s+{TinyConv}", result.StandardOutput);

        var best = TuningFiles.ReadBest(outDir);
        Assert.Equal(TinyConv, best.Config.Architecture);
        Assert.Null(best.Config.Dropout);
        Assert.Null(best.Config.Hidden);
        Assert.Contains($" --arch {TinyConv} --seed 3 --val-split 0 --limit-train 600", best.Command, StringComparison.Ordinal);
        Assert.DoesNotContain("--hidden", best.Command, StringComparison.Ordinal);

        // final/ is a stack run folder: config.json and the model name the stack (and leave out
        // the MLP's dropout and hidden); eval reproduces the search's one test evaluation.
        string final = Path.Combine(outDir, TuningFiles.FinalDirName);
        using (var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(final, RunArtifacts.ConfigFileName))))
        {
            Assert.Equal(TinyConv, config.RootElement.GetProperty("architecture").GetString());
            Assert.False(config.RootElement.TryGetProperty("dropout", out _));
            Assert.False(config.RootElement.TryGetProperty("hidden", out _));
        }
        var model = TrainedModel.Load(final);
        Assert.Equal(TinyConv, model.Network.Text);
        Assert.Equal(TinyConv, model.Metadata[ModelFile.ArchitectureKey]);
        Assert.False(model.Metadata.ContainsKey(TrainedModel.DropoutKey));
        var eval = CliProcess.Run(TimeSpan.FromMinutes(2), "eval", "--model", final, "--device", TestDevice.RequestedName, "--data", RealMnist.RealMnistDir(), "--json");
        Assert.True(eval.ExitCode == 0, eval.StandardError);
        using var evaluated = JsonDocument.Parse(eval.StandardOutput);
        Assert.Equal(best.Test.Accuracy, evaluated.RootElement.GetProperty("test").GetProperty("accuracy").GetDouble());
        Assert.Equal(best.Test.Loss, evaluated.RootElement.GetProperty("test").GetProperty("loss").GetDouble());
    }

    [Fact]
    public void TuneResume_InterruptedMixedSearch_KeepsTheArchChoicesAndTrialConfigs()
    {
        string outDir = Path.Combine(dir.Path, "resumed");
        var space = new SearchSpace { LearningRateMin = 0.01, LearningRateMax = 0.01, BatchSizes = [30, 60], Hidden = [[8]], Architectures = [ArchitectureChoice.Mlp, TinyConv] };
        var settings = new TuningSettings
        {
            Trials = 4,
            Eta = 2,
            MinEpochs = 1,
            MaxEpochs = 2,
            Seed = 3,
            LimitTrain = 600,
            Space = space.ToDocument(),
            Device = TestDevice.RequestedName,
            Data = RealMnist.RealMnistDir(),
        };
        var state = TuningSearch.Create(settings, MnistDataset.Schema);
        var configs = state.Trials.Select(t => t.Config).ToList();
        Assert.Contains(configs, c => c.IsMlp);
        Assert.Contains(configs, c => !c.IsMlp);

        // Stopped after two trials of rung 0, as an interrupt stops it: tune.json holds them.
        using (var data = new DeviceImageDataset(fixture.Device.Accelerator, RealMnist.Load()))
        using (var objective = new TrainerObjective(fixture.KernelDevice, data, TuningTraining.TrialTemplate(settings), Path.Combine(outDir, TuningFiles.TrialCheckpointDirName)))
        using (var stop = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken))
        {
            var search = new TuningSearch(state, objective, outDir) { TrialFinished = report => { if (report.Trial.Id == 1) stop.Cancel(); } };
            Assert.ThrowsAny<OperationCanceledException>(() => search.Run(stop.Token));
        }
        Assert.Equal(2, TuningFiles.Load(outDir, MnistDataset.Schema).Trials.Count(t => t.EpochsRun > 0));

        var refused = CliProcess.Run(TimeSpan.FromMinutes(1), "tune", "--resume", outDir, "--arch-choices", "mlp");
        Assert.Equal(2, refused.ExitCode);
        Assert.Contains("--arch-choices", refused.StandardError, StringComparison.Ordinal);

        var resumed = CliProcess.Run(TimeSpan.FromMinutes(4), "tune", "--resume", outDir, "--device", TestDevice.RequestedName);
        Assert.True(resumed.ExitCode == 0, resumed.StandardError + resumed.StandardOutput);
        Assert.Contains($"resuming {outDir}: 2 trials trained so far", resumed.StandardOutput, StringComparison.Ordinal);
        var after = TuningFiles.Load(outDir, MnistDataset.Schema);
        Assert.True(after.Finished);
        Assert.Equal(configs, after.Trials.Select(t => t.Config));
        Assert.Equal(space.Architectures, SearchSpace.FromDocument(after.Settings.Space, MnistDataset.Schema).Architectures);
        var best = TuningFiles.ReadBest(outDir);
        Assert.Equal(after.Trials[best.Trial].Config, best.Config);
        Assert.Equal(best.Config.Architecture ?? ArchitectureChoice.Mlp,
            TrainedModel.Load(Path.Combine(outDir, TuningFiles.FinalDirName)).Metadata.GetValueOrDefault(ModelFile.ArchitectureKey, ArchitectureChoice.Mlp));
    }

    [Theory]
    [InlineData("mlp;resnet", "--arch-choices: architecture: layer 1 'resnet' is not a layer")]
    [InlineData("conv3x3x4p1,relu,dense10", "--arch-choices: architecture: layer 3 'dense10': a dense layer needs a vector; put flatten before it")]
    [InlineData("cnn;CNN", "--arch-choices: arch lists a network twice")]
    public void Tune_BadArchChoices_AreOneLineUsageErrors(string choices, string message)
    {
        string outDir = Path.Combine(dir.Path, "t");
        var result = CliProcess.Run(TimeSpan.FromMinutes(1), "tune", "--arch-choices", choices, "--out", outDir);
        Assert.True(result.ExitCode == 2, $"exit {result.ExitCode}: {result.StandardError}");
        Assert.StartsWith("gpumlp: error: " + message, result.StandardError, StringComparison.Ordinal);
        Assert.Single(result.StandardError.TrimEnd('\n').Split('\n'));
        Assert.False(Directory.Exists(outDir));
    }

    [Fact]
    public void Tune_BadArchInSpaceFile_IsAUsageErrorNamingTheFile()
    {
        string spaceFile = Path.Combine(dir.Path, "space.json");
        File.WriteAllText(spaceFile, """{"arch": ["mlp", "conv3x3x4p9,relu,pool2,flatten,dense10"]}""");
        var result = CliProcess.Run(TimeSpan.FromMinutes(1), "tune", "--space", spaceFile, "--out", Path.Combine(dir.Path, "t"));
        Assert.True(result.ExitCode == 2, $"exit {result.ExitCode}: {result.StandardError}");
        Assert.StartsWith($"gpumlp: error: --space {spaceFile}: arch: architecture: layer 1 'conv3x3x4p9': padding must be 0..2", result.StandardError, StringComparison.Ordinal);
    }
}
