using GpuMlp.Data;
using GpuMlp.Tests.Runs;
using GpuMlp.Training;
using GpuMlp.Tuning;

namespace GpuMlp.Tests.Tuning;

public sealed class SearchSpaceTests
{
    [Fact]
    public void Parse_DocumentedFile_GivesItsRanges()
    {
        var space = SearchSpace.Parse("""{"lr": [1e-4, 3e-3], "dropout": [0.0, 0.5], "batch_size": [64,128,256], "hidden": ["512,256","256,128"]}""", MnistDataset.Schema);
        Assert.Equal(1e-4, space.LearningRateMin);
        Assert.Equal(3e-3, space.LearningRateMax);
        Assert.Equal(0.0, space.DropoutMin);
        Assert.Equal(0.5, space.DropoutMax);
        Assert.Equal([64, 128, 256], space.BatchSizes);
        Assert.Equal(["512,256", "256,128"], space.Hidden.Select(h => string.Join(",", h)));
    }

    [Fact]
    public void Parse_MissingKeysOrOtherForms_KeepDefaultsAndAreAccepted()
    {
        var space = SearchSpace.Parse("""
            // comments are fine
            {"dropout": 0.25, "hidden": [[1024, 512], "300", 64],}
            """, MnistDataset.Schema);
        Assert.Equal(new SearchSpace().LearningRateMin, space.LearningRateMin);
        Assert.Equal(new SearchSpace().BatchSizes, space.BatchSizes);
        Assert.Equal((0.25, 0.25), (space.DropoutMin, space.DropoutMax));
        Assert.Equal(["1024,512", "300", "64"], space.Hidden.Select(h => string.Join(",", h)));
    }

    [Fact]
    public void Parse_OptimizerKeys_GiveTheOptimizersMomentumAndWeightDecays()
    {
        var space = SearchSpace.Parse("""{"optimizer": ["adam", "SGD", "rmsprop"], "momentum": [0.5, 0.95], "weight_decay": [0, 1e-4]}""", MnistDataset.Schema);
        Assert.Equal([OptimizerKind.Adam, OptimizerKind.Sgd, OptimizerKind.Rmsprop], space.Optimizers);
        Assert.Equal((0.5, 0.95), (space.MomentumMin, space.MomentumMax));
        Assert.Equal([0, 1e-4], space.WeightDecays!);
        var back = SearchSpace.FromDocument(space.ToDocument(), MnistDataset.Schema);
        Assert.Equal(space.Optimizers, back.Optimizers);
        Assert.Equal((space.MomentumMin, space.MomentumMax), (back.MomentumMin, back.MomentumMax));
        Assert.Equal(space.WeightDecays, back.WeightDecays!);
    }

    [Fact]
    public void FromDocument_SavedBeforeOptimizersWereSearched_IsAdamWithDefaults()
    {
        var space = SearchSpace.FromDocument(new SearchSpaceDocument([1e-4, 1e-3], [0, 0.5], [128], ["512,256"]), MnistDataset.Schema);
        Assert.Equal([OptimizerKind.Adam], space.Optimizers);
        Assert.Equal((0.0, 0.0), (space.MomentumMin, space.MomentumMax));
        Assert.Null(space.WeightDecays);
    }

    [Fact]
    public void Sample_OptimizerSpace_DrawsEveryOptimizerWithItsOwnHyperparameters()
    {
        var space = new SearchSpace { Optimizers = [OptimizerKind.Adam, OptimizerKind.AdamW, OptimizerKind.Sgd, OptimizerKind.Rmsprop], MomentumMin = 0.5, MomentumMax = 0.9 };
        var random = new Random(3);
        var configs = Enumerable.Range(0, 200).Select(_ => space.Sample(random)).ToList();
        Assert.Equal(4, configs.Select(c => c.Settings.Kind).Distinct().Count());
        foreach (var config in configs)
        {
            var settings = config.Settings;
            settings.Validate();
            Assert.Equal(config.LearningRate, settings.LearningRate);
            bool momentum = settings.Kind is OptimizerKind.Sgd or OptimizerKind.Rmsprop;
            Assert.True(momentum ? settings.Momentum is >= 0.5f and <= 0.9f : settings.Momentum == 0f, config.ToString());
            Assert.Equal(settings.Kind == OptimizerKind.AdamW ? 0.01f : 0f, settings.WeightDecay);
            var options = config.ToOptions(new TrainingOptions(), 3);
            Assert.Equal(settings, options.Optimizer);
        }
        var decays = (space with { WeightDecays = [0, 1e-3] }).Sample(new Random(5)).Settings.WeightDecay;
        Assert.Contains(decays, new[] { 0f, 1e-3f });
    }

    [Fact]
    public void Sample_OptimizerDimensions_LeaveTheFirstFourDrawsAsBefore()
    {
        var plain = new SearchSpace();
        var searched = plain with { Optimizers = [OptimizerKind.Sgd, OptimizerKind.Adam], MomentumMin = 0.1, MomentumMax = 0.9, WeightDecays = [0, 1e-4, 1e-2] };
        var a = plain.Sample(new Random(11));
        var b = searched.Sample(new Random(11));
        Assert.Equal((a.BatchSize, a.LearningRate, a.Dropout, a.HiddenText), (b.BatchSize, b.LearningRate, b.Dropout, b.HiddenText));
        Assert.Equal("adam", a.OptimizerText);
        Assert.Equal(a, a with { Optimizer = null });
    }

    [Fact]
    public void ToString_SgdTrial_NamesTheOptimizerAndItsFlags()
    {
        var config = new TrialConfig(64, 0.05f, 0.1f, [32], new OptimizerSettings(OptimizerKind.Sgd) { Momentum = 0.9f });
        Assert.Equal("batch 64, lr 0.05, dropout 0.1, hidden 32, optimizer sgd --momentum 0.9", config.ToString());
        Assert.Equal("gpumlp train --epochs 3 --batch-size 64 --lr 0.05 --optimizer sgd --momentum 0.9 --dropout 0.1 --hidden 32 --seed 1 --val-split 0.1",
            TuningTraining.TrainCommandLine(config.ToOptions(new TrainingOptions(), 3)));
    }

    [Fact]
    public void ToDocument_AnySpace_RoundTrips()
    {
        var space = new SearchSpace { LearningRateMin = 2e-4, LearningRateMax = 5e-3, DropoutMin = 0.1, DropoutMax = 0.4, BatchSizes = [32, 100], Hidden = [[64], [128, 64]] };
        var back = SearchSpace.FromDocument(space.ToDocument(), MnistDataset.Schema);
        Assert.Equal(space.ToDocument().Lr, back.ToDocument().Lr);
        Assert.Equal(space.ToDocument().Dropout, back.ToDocument().Dropout);
        Assert.Equal(space.ToDocument().BatchSize, back.ToDocument().BatchSize);
        Assert.Equal(space.ToDocument().Hidden, back.ToDocument().Hidden);
    }

    [Theory]
    [InlineData("""{"lr": [3e-3, 1e-4]}""", "min > max")]
    [InlineData("""{"lr": [0, 1e-3]}""", "lr must lie in (0, 1]")]
    [InlineData("""{"lr": [-1e-3, 1e-3]}""", "lr must lie in (0, 1]")]
    [InlineData("""{"lr": [1e-3, 2]}""", "lr must lie in (0, 1]")]
    [InlineData("""{"lr": [1e-4, 1e-3, 1e-2]}""", "lr must be [min, max]")]
    [InlineData("""{"lr": "1e-3"}""", "lr must be a JSON array")]
    [InlineData("""{"lr": ["a", "b"]}""", "lr values must be numbers")]
    [InlineData("""{"dropout": [0.5, 0.1]}""", "min > max")]
    [InlineData("""{"dropout": [0, 1]}""", "dropout must lie in [0, 1)")]
    [InlineData("""{"dropout": [-0.1, 0.2]}""", "dropout must lie in [0, 1)")]
    [InlineData("""{"batch_size": []}""", "batch_size must not be empty")]
    [InlineData("""{"batch_size": [0, 64]}""", "positive sizes")]
    [InlineData("""{"batch_size": [64, 64]}""", "twice")]
    [InlineData("""{"batch_size": [64.5]}""", "integers")]
    [InlineData("""{"hidden": ["512,x"]}""", "hidden widths must be integers")]
    [InlineData("""{"hidden": ["512,0"]}""", "hidden widths must be integers")]
    [InlineData("""{"hidden": ["64", "64"]}""", "twice")]
    [InlineData("""{"hidden": [true]}""", "hidden entries must be")]
    [InlineData("""{"learning_rate": [1e-4, 1e-3]}""", "unknown key 'learning_rate'")]
    [InlineData("""[1, 2]""", "expected a JSON object")]
    [InlineData("""{"lr": [1e-4, """, "not valid JSON")]
    public void Parse_BadFiles_AreRejectedWithTheSourceInTheMessage(string json, string expected)
    {
        var error = Assert.Throws<OptionException>(() => SearchSpace.Parse(json, MnistDataset.Schema, "--space s.json"));
        Assert.StartsWith("--space s.json: ", error.Message, StringComparison.Ordinal);
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_MissingFile_IsNamed()
    {
        using var dir = new TempDir();
        string path = Path.Combine(dir.Path, "nope.json");
        var error = Assert.Throws<OptionException>(() => SearchSpace.Load(path, MnistDataset.Schema));
        Assert.StartsWith($"--space {path}", error.Message, StringComparison.Ordinal);
        File.WriteAllText(path, """{"batch_size": [16]}""");
        Assert.Equal([16], SearchSpace.Load(path, MnistDataset.Schema).BatchSizes);
    }

    [Fact]
    public void ParseFlags_GoodAndBadForms_ParseOrNameTheFlag()
    {
        Assert.Equal((1e-4, 3e-3), SearchSpace.ParseRange("1e-4, 3e-3", "--lr-range"));
        Assert.Equal((0.2, 0.2), SearchSpace.ParseRange("0.2", "--dropout-range"));
        Assert.Equal([64, 128], SearchSpace.ParseIntList("64,128", "--batch-sizes"));
        Assert.Equal(["512,256", "128"], SearchSpace.ParseHiddenChoices("512,256; 128", "--hidden-choices").Select(h => string.Join(",", h)));
        Assert.StartsWith("--lr-range", Assert.Throws<OptionException>(() => SearchSpace.ParseRange("1,2,3", "--lr-range")).Message, StringComparison.Ordinal);
        Assert.StartsWith("--lr-range", Assert.Throws<OptionException>(() => SearchSpace.ParseRange("x", "--lr-range")).Message, StringComparison.Ordinal);
        Assert.StartsWith("--batch-sizes", Assert.Throws<OptionException>(() => SearchSpace.ParseIntList("64,-1", "--batch-sizes")).Message, StringComparison.Ordinal);
        Assert.StartsWith("--hidden-choices", Assert.Throws<OptionException>(() => SearchSpace.ParseHiddenChoices(";", "--hidden-choices")).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void CheckBatchSizes_LargerThanTheTrainingImages_AreRejected()
    {
        var space = new SearchSpace { BatchSizes = [64, 512, 1024] };
        space.CheckBatchSizes(1024, MnistDataset.Schema);
        var error = Assert.Throws<OptionException>(() => space.CheckBatchSizes(500, MnistDataset.Schema, "--batch-sizes"));
        Assert.Contains("512,1024", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("60", 60L, null)]
    [InlineData("10m", null, 10.0)]
    [InlineData("10min", null, 10.0)]
    [InlineData("90s", null, 1.5)]
    [InlineData("1.5h", null, 90.0)]
    [InlineData(" 2M ", null, 2.0)]
    public void ParseBudget_EpochsOrTime_Parse(string text, long? epochs, double? minutes) =>
        Assert.Equal((epochs, minutes), TuningSettings.ParseBudget(text));

    [Theory]
    [InlineData("0")]
    [InlineData("-5")]
    [InlineData("0m")]
    [InlineData("abc")]
    [InlineData("10x")]
    [InlineData("m")]
    [InlineData("1.5")]
    public void ParseBudget_BadText_IsRejected(string text) =>
        Assert.StartsWith("--budget", Assert.Throws<OptionException>(() => TuningSettings.ParseBudget(text)).Message, StringComparison.Ordinal);

    [Theory]
    [InlineData(0.0)]
    [InlineData(1.0)]
    [InlineData(-0.1)]
    public void Validate_NoValidationSplit_IsRejected(double split)
    {
        var settings = TuningSearchTests.Settings() with { ValidationSplit = split };
        Assert.StartsWith("--val-split", Assert.Throws<OptionException>(() => settings.Validate(MnistDataset.Schema)).Message, StringComparison.Ordinal);
    }
}
