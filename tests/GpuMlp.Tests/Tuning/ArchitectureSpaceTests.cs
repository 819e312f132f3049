using System.Text.Json;
using System.Text.Json.Nodes;
using GpuMlp.Data;
using GpuMlp.Tests.Runs;
using GpuMlp.Training;
using GpuMlp.Tuning;

namespace GpuMlp.Tests.Tuning;

/// <summary>The architecture dimension of the search space: parsing ("arch" in --space,
/// --arch-choices), sampling, the records of a stack trial (no dropout, no hidden), the files and
/// the retrain's command line. No training here (a fake objective).</summary>
public sealed class ArchitectureSpaceTests : IDisposable
{
    internal const string TinyConv = "conv3x3x4p1,relu,pool2,flatten,dense10";

    private readonly TempDir dir = new();

    public void Dispose() => dir.Dispose();

    [Fact]
    public void Parse_ArchKey_KeepsPresetsAndCanonicalisesStacks()
    {
        var space = SearchSpace.Parse("""{"arch": ["MLP", " CNN", " Conv3x3x4P1, ReLU,pool2,flatten,dense10 "]}""", MnistDataset.Schema, "--space s.json");
        Assert.Equal([ArchitectureChoice.Mlp, ArchitectureChoice.Cnn, TinyConv], space.Architectures);
        Assert.Equal(space.Architectures, SearchSpace.FromDocument(space.ToDocument(), MnistDataset.Schema).Architectures);
        Assert.Equal([ArchitectureChoice.Mlp], new SearchSpace().Architectures);
        Assert.Equal([ArchitectureChoice.Mlp, TinyConv], SearchSpace.ParseArchitectureChoices($"mlp; {TinyConv};", MnistDataset.Schema, "--arch-choices"));
    }

    [Theory]
    [InlineData("""{"arch": []}""", "arch must not be empty")]
    [InlineData("""{"arch": "mlp"}""", "arch must be a JSON array")]
    [InlineData("""{"arch": [3]}""", "arch entries must be strings")]
    [InlineData("""{"arch": ["mlp", "MLP"]}""", "arch lists a network twice")]
    [InlineData("""{"arch": ["cnn", "CNN"]}""", "arch lists a network twice")]
    [InlineData("""{"arch": ["conv3x3x4p1,relu,pool2,flatten,dense10", "CONV3x3x4p1,relu,pool2,flatten,dense10"]}""", "arch lists a network twice")]
    [InlineData("""{"arch": ["resnet"]}""", "arch: architecture: layer 1 'resnet' is not a layer")]
    [InlineData("""{"arch": ["conv3x3x4,relu,dense10"]}""", "put flatten before it")]
    [InlineData("""{"arch": ["conv3x3x4p1,pool2"]}""", "must end in a vector of 10 class scores")]
    public void Parse_BadArch_IsOneLineUsageErrorNamingTheSource(string json, string expected)
    {
        var error = Assert.Throws<OptionException>(() => SearchSpace.Parse(json, MnistDataset.Schema, "--space s.json"));
        Assert.StartsWith("--space s.json: ", error.Message, StringComparison.Ordinal);
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', error.Message);
    }

    [Theory]
    [InlineData("mlp;conv3x3x4p1,relu,pool2,flatten", "--arch-choices: architecture: the stack ends in a vector of 784")]
    [InlineData("mlp;dense", "--arch-choices: architecture: layer 1 'dense': expected dense<out>")]
    [InlineData(";", "--arch-choices must list architectures separated by ';'")]
    public void ParseArchitectureChoices_BadFlag_NamesTheFlag(string text, string expected)
    {
        var error = Assert.Throws<OptionException>(() => SearchSpace.ParseArchitectureChoices(text, MnistDataset.Schema, "--arch-choices"));
        Assert.StartsWith(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Sample_MlpAlone_DrawsExactlyAsBeforeArchitecturesWereSearched()
    {
        // The default list draws nothing for the architecture: the seed gives the configurations
        // it gave before, and the same dimensions as a space with a stack added, up to the stack.
        var plain = new SearchSpace { Hidden = [[8], [16, 8]] };
        var configs = TuningSearch.SampleConfigs(plain, 6, seed: 5);
        var random = new Random(5);
        foreach (var config in configs)
        {
            // lr, dropout, batch size, hidden, optimizer, momentum, weight decay; nothing more.
            random.NextDouble();
            random.NextDouble();
            int batch = random.Next(3);
            int hidden = random.Next(2);
            random.Next(1);
            random.NextDouble();
            random.Next(1);
            Assert.Equal(plain.BatchSizes[batch], config.BatchSize);
            Assert.Equal(plain.Hidden[hidden], config.Hidden!);
            Assert.True(config.IsMlp);
        }
        var mixed = TuningSearch.SampleConfigs(plain with { Architectures = [ArchitectureChoice.Mlp, TinyConv] }, 6, seed: 5);
        Assert.Equal(configs[0].LearningRate, mixed[0].LearningRate);
        Assert.Equal(configs[0].BatchSize, mixed[0].BatchSize);
    }

    [Fact]
    public void Sample_MixedSpace_StackTrialsHaveNoDropoutOrHidden()
    {
        var space = new SearchSpace { Architectures = [ArchitectureChoice.Mlp, TinyConv, ArchitectureChoice.Cnn] };
        var configs = TuningSearch.SampleConfigs(space, 300, seed: 2);
        Assert.Equal(3, configs.Select(c => c.ArchitectureName).Distinct().Count());
        Assert.InRange(configs.Count(c => c.IsMlp) / 300.0, 0.25, 0.42);
        foreach (var config in configs)
        {
            config.Check(MnistDataset.Schema);
            Assert.Equal(config.IsMlp, config.Dropout is not null);
            Assert.Equal(config.IsMlp, config.Hidden is not null);
            var options = config.ToOptions(new TrainingOptions(), 2);
            Assert.Equal(config.Architecture, options.ArchitectureText);
            Assert.Equal(config.AugmentShift, options.AugmentShift);
            if (!config.IsMlp)
                Assert.Equal(config.Architecture, options.Network(MnistDataset.Schema).Text);
        }
        Assert.All(configs.Where(c => c.ArchitectureName == ArchitectureChoice.Cnn),
            c => Assert.Equal((Architecture.CnnText, TrainingOptions.CnnPresetAugmentShift), (c.Architecture, c.AugmentShift)));
        Assert.All(configs.Where(c => c.ArchitectureName != ArchitectureChoice.Cnn), c => Assert.Equal(0, c.AugmentShift));
    }

    [Fact]
    public void Sample_CnnAndItsStackText_AreTwoChoicesWithAndWithoutThePresetsShifts()
    {
        // As for train: --arch cnn is the stack plus its recipe, the stack's text alone trains unshifted.
        var space = SearchSpace.Parse($$"""{"arch": ["cnn", "{{Architecture.CnnText}}"]}""", MnistDataset.Schema);
        Assert.Equal([ArchitectureChoice.Cnn, Architecture.CnnText], space.Architectures);
        var configs = TuningSearch.SampleConfigs(space, 40, seed: 1);
        var preset = configs.First(c => c.AugmentShift > 0);
        var plain = configs.First(c => c.AugmentShift == 0);
        Assert.Equal(Architecture.CnnText, preset.Architecture);
        Assert.Equal(Architecture.CnnText, plain.Architecture);
        Assert.Equal((ArchitectureChoice.Cnn, Architecture.CnnText), (preset.ArchitectureName, plain.ArchitectureName));
        Assert.Equal(TrainingOptions.CnnPresetAugmentShift, preset.ToOptions(new TrainingOptions(), 1).AugmentShift);
        Assert.EndsWith($" --arch {Architecture.CnnText} --augment-shift 2 --seed 1 --val-split 0.1",
            TuningTraining.TrainCommandLine(preset.ToOptions(new TrainingOptions(), 1)), StringComparison.Ordinal);
        Assert.EndsWith($" --arch {Architecture.CnnText} --seed 1 --val-split 0.1",
            TuningTraining.TrainCommandLine(plain.ToOptions(new TrainingOptions(), 1)), StringComparison.Ordinal);
    }

    [Fact]
    public void TrialConfig_Stack_PrintsItsArchitectureAndTheRetrainCommandUsesArch()
    {
        var config = TrialConfig.Stack(64, 0.002f, TinyConv);
        Assert.Equal($"batch 64, lr 0.002, arch {TinyConv}", config.ToString());
        Assert.Equal("batch 32, lr 0.001, arch cnn", TrialConfig.Stack(32, 0.001f, Architecture.CnnText, augmentShift: 2).ToString());
        Assert.Equal($"batch 32, lr 0.001, arch {Architecture.CnnText}", TrialConfig.Stack(32, 0.001f, Architecture.CnnText).ToString());
        Assert.Equal($"batch 32, lr 0.001, arch {TinyConv}, shift 1", TrialConfig.Stack(32, 0.001f, TinyConv, augmentShift: 1).ToString());
        Assert.Equal($"gpumlp train --epochs 3 --batch-size 64 --lr 0.002 --arch {TinyConv} --seed 1 --val-split 0.1",
            TuningTraining.TrainCommandLine(config.ToOptions(new TrainingOptions(), 3)));
        Assert.NotEqual(config, config with { Architecture = Architecture.CnnText });
        Assert.Equal(config, TrialConfig.Stack(64, 0.002f, TinyConv));
        Assert.NotEqual(TrialConfig.Mlp(64, 0.002f, 0.2f, [16]), TrialConfig.Mlp(64, 0.002f, 0.2f, [16]) with { Architecture = TinyConv });
    }

    [Fact]
    public void Files_MixedSearch_RecordTheArchitecturePerTrialAndLoadBack()
    {
        var space = new SearchSpace { Architectures = [ArchitectureChoice.Mlp, TinyConv] };
        var state = TuningSearch.Create(TuningSearchTests.Settings(trials: 6, eta: 2, minEpochs: 1, maxEpochs: 2, seed: 4, space: space), MnistDataset.Schema);
        var objective = new FakeObjective();
        var outcome = new TuningSearch(state, objective, dir.Path).Run(TestContext.Current.CancellationToken);
        Assert.NotNull(outcome.Best);
        Assert.Contains(state.Trials, t => t.Config.IsMlp);
        Assert.Contains(state.Trials, t => !t.Config.IsMlp);

        var loaded = TuningFiles.Load(dir.Path, MnistDataset.Schema);
        Assert.Equal(state.Trials.Select(t => t.Config), loaded.Trials.Select(t => t.Config));
        Assert.Equal(space.Architectures, SearchSpace.FromDocument(loaded.Settings.Space, MnistDataset.Schema).Architectures);

        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir.Path, TuningFiles.StateFileName)));
        Assert.Equal(["mlp", TinyConv], json.RootElement.GetProperty("settings").GetProperty("space").GetProperty("arch").EnumerateArray().Select(e => e.GetString()));
        foreach (var trial in json.RootElement.GetProperty("trials").EnumerateArray())
        {
            var config = trial.GetProperty("config");
            if (config.TryGetProperty("architecture", out var architecture))
            {
                Assert.Equal(TinyConv, architecture.GetString());
                Assert.Equal(JsonValueKind.Null, config.GetProperty("dropout").ValueKind);
                Assert.Equal(JsonValueKind.Null, config.GetProperty("hidden").ValueKind);
            }
            else
            {
                Assert.Equal(JsonValueKind.Number, config.GetProperty("dropout").ValueKind);
                Assert.Equal(JsonValueKind.Array, config.GetProperty("hidden").ValueKind);
            }
        }

        var lines = File.ReadAllText(Path.Combine(dir.Path, TuningFiles.CsvFileName)).TrimEnd('\n').Split('\n');
        Assert.EndsWith(",optimizer,arch", lines[0], StringComparison.Ordinal);
        foreach (var trial in state.Trials)
        {
            string row = lines[1 + trial.Id];
            if (trial.Config.IsMlp)
            {
                Assert.EndsWith(",\"adam\",\"mlp\"", row, StringComparison.Ordinal);
            }
            else
            {
                Assert.StartsWith($"{trial.Id},{JsonNamingPolicy.SnakeCaseLower.ConvertName(trial.Status.ToString())},{trial.Config.BatchSize},{TrialConfig.Format(trial.Config.LearningRate)},,,", row, StringComparison.Ordinal);
                Assert.EndsWith($",\"adam\",\"{TinyConv}\"", row, StringComparison.Ordinal);
            }
        }
    }

    [Fact]
    public void FinalOptions_StackWinner_TrainsTheStack()
    {
        var space = new SearchSpace { Architectures = [TinyConv] };
        var state = TuningSearch.Create(TuningSearchTests.Settings(trials: 2, eta: 2, minEpochs: 1, maxEpochs: 2, space: space) with { LimitTrain = 600 }, MnistDataset.Schema);
        var outcome = new TuningSearch(state, new FakeObjective(), dir.Path).Run(TestContext.Current.CancellationToken);
        var options = TuningTraining.FinalOptions(state.Settings, outcome.Best!);
        Assert.Equal(TinyConv, options.ArchitectureText);
        Assert.False(options.IsMlp);
        Assert.Contains($" --arch {TinyConv} ", TuningTraining.TrainCommandLine(options), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(null, "{\"dropout\": null}", "an MLP trial (no architecture) needs dropout and hidden")]
    [InlineData(TinyConv, "{}", "dropout and hidden apply to the MLP only")]
    [InlineData("conv3x3x4p1,relu", "{\"dropout\": null, \"hidden\": null}", "must end in a vector of 10 class scores")]
    [InlineData("CONV3x3x4p1,relu,pool2,flatten,dense10", "{\"dropout\": null, \"hidden\": null}", "not in its canonical form")]
    [InlineData(TinyConv, "{\"dropout\": null, \"hidden\": null, \"augment_shift\": 7}", "augment_shift must be in 0..6")]
    public void Load_InconsistentTrialConfig_IsCorruptNamingTheTrial(string? architecture, string edits, string expected)
    {
        var state = TuningSearch.Create(TuningSearchTests.Settings(trials: 2, eta: 2, minEpochs: 1, maxEpochs: 2), MnistDataset.Schema);
        new TuningSearch(state, new FakeObjective(), dir.Path).Run(TestContext.Current.CancellationToken);
        string path = Path.Combine(dir.Path, TuningFiles.StateFileName);
        var root = JsonNode.Parse(File.ReadAllText(path))!;
        var config = root["trials"]![0]!["config"]!.AsObject();
        if (architecture is not null)
            config["architecture"] = architecture;
        foreach (var (key, value) in JsonNode.Parse(edits)!.AsObject().ToList())
            config[key] = value?.DeepClone();
        File.WriteAllText(path, root.ToJsonString());
        var error = Assert.Throws<InvalidDataException>(() => TuningFiles.Load(dir.Path, MnistDataset.Schema));
        Assert.Contains("trial 0: ", error.Message, StringComparison.Ordinal);
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void CheckBatchSizes_AboveAStacksRowLimit_AreRejected()
    {
        var network = MnistNetworks.Parse(TinyConv);
        int limit = LayerNetwork.MaxRowsFor(network);
        var space = new SearchSpace { BatchSizes = [64, limit + 1], Architectures = [TinyConv] };
        var error = Assert.Throws<OptionException>(() => space.CheckBatchSizes(int.MaxValue, MnistDataset.Schema, "--batch-sizes"));
        Assert.Contains($"is too large for {TinyConv}", error.Message, StringComparison.Ordinal);
        (space with { Architectures = [ArchitectureChoice.Mlp] }).CheckBatchSizes(int.MaxValue, MnistDataset.Schema);
    }
}
