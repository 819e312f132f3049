// tune's schedule, label-smoothing and EMA dimensions: the file keys and flags, sampling (drawn last
// and only from lists of two or more, so other searches sample what they did), the trial's options
// and the retrain command line, tune.json and tune.csv unchanged for searches without them, and a
// per-step schedule trial promoted to a longer rung trained again over the longer cycle.
using GpuMlp.Data;
using GpuMlp.Tests.Data;
using GpuMlp.Training;
using GpuMlp.Tuning;

namespace GpuMlp.Tests.Tuning;

[Collection(DeviceCollection.Name)]
public sealed class RecipeSpaceTests(DeviceFixture fixture)
{
    [Fact]
    public void Parse_RecipeKeys_GiveTheSchedulesSmoothingsAndEmaDecays()
    {
        var space = SearchSpace.Parse("""{"schedule": ["constant", "OneCycle", "cosine-steps"], "label_smoothing": [0, 0.1], "ema": [null, 0.999]}""", MnistDataset.Schema);
        Assert.Equal([LearningRateSchedule.Constant, LearningRateSchedule.OneCycle, LearningRateSchedule.CosineSteps], space.Schedules);
        Assert.Equal([0, 0.1], space.LabelSmoothings);
        Assert.Equal([null, 0.999], space.EmaDecays);
        Assert.True(space.SearchesRecipe);
        var back = SearchSpace.FromDocument(space.ToDocument(), MnistDataset.Schema);
        Assert.Equal(space.Schedules, back.Schedules);
        Assert.Equal(space.LabelSmoothings, back.LabelSmoothings);
        Assert.Equal(space.EmaDecays, back.EmaDecays);
        var single = SearchSpace.Parse("""{"label_smoothing": 0.05, "ema": 0.99}""", MnistDataset.Schema);
        Assert.Equal([0.05], single.LabelSmoothings);
        Assert.Equal([0.99], single.EmaDecays);
    }

    /// <summary>A space without the recipe stores none of its keys (tune.json as before) and samples
    /// exactly the configurations it did; adding lists only adds their values to the same draws.</summary>
    [Fact]
    public void Sample_RecipeDrawnLast_KeepsTheOtherDimensionsDraws()
    {
        var plain = new SearchSpace();
        var document = plain.ToDocument();
        Assert.Null(document.Schedule);
        Assert.Null(document.LabelSmoothing);
        Assert.Null(document.Ema);
        Assert.False(plain.SearchesRecipe);
        var recipe = plain with { Schedules = [LearningRateSchedule.Constant, LearningRateSchedule.OneCycle], LabelSmoothings = [0, 0.1], EmaDecays = [null, 0.9] };
        var random = new Random(4);
        var withRecipe = new Random(4);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < 40; i++)
        {
            var a = plain.Sample(random);
            var b = recipe.Sample(withRecipe);
            Assert.Equal("", a.RecipeText);
            Assert.Equal(a, b with { Schedule = null, LabelSmoothing = 0f, EmaDecay = null });
            seen.Add(b.RecipeText);
            // Keep the plain sequence aligned with the recipe's three extra draws.
            random.Next(2);
            random.Next(2);
            random.Next(2);
        }
        Assert.Contains(", schedule onecycle, label smoothing 0.1, ema 0.9", seen);
        Assert.Contains("", seen);
    }

    /// <summary>A trial's options carry its schedule (with that schedule's defaults, spanning the
    /// trial's epochs), smoothing and EMA; the retrain command line spells them out; the JSON form
    /// round-trips and a trial without them writes none of the keys.</summary>
    [Fact]
    public void ToOptions_RecipeTrial_CarriesItsScheduleSmoothingAndEmaIntoOptionsAndCommandLine()
    {
        var trial = TrialConfig.Mlp(128, 0.01f, 0.1f, [64]) with { Schedule = "onecycle", LabelSmoothing = 0.1f, EmaDecay = 0.999f };
        var template = new TrainingOptions { WarmupSteps = 5, Schedule = LearningRateSchedule.Linear };
        var options = trial.ToOptions(template, 3);
        Assert.Equal(LearningRateSchedule.OneCycle, options.Schedule);
        Assert.Null(options.OneCycle);
        Assert.Equal(0, options.WarmupSteps);
        Assert.Equal(0.1f, options.LabelSmoothing);
        Assert.Equal(0.999f, options.EmaDecay);
        options.Validate(MnistDataset.Schema, 60000);
        string line = TuningTraining.TrainCommandLine(options);
        Assert.Contains(" --lr-schedule onecycle --label-smoothing 0.1 --ema 0.999", line, StringComparison.Ordinal);
        Assert.Equal(LearningRateSchedule.Constant, TrialConfig.Mlp(128, 0.01f, 0.1f, [64]).ToOptions(template, 3).Schedule);

        string json = System.Text.Json.JsonSerializer.Serialize(trial, TuningFiles.Json);
        Assert.Equal(trial, System.Text.Json.JsonSerializer.Deserialize<TrialConfig>(json, TuningFiles.Json));
        string plain = System.Text.Json.JsonSerializer.Serialize(TrialConfig.Mlp(128, 0.01f, 0.1f, [64]), TuningFiles.Json);
        Assert.DoesNotContain("schedule", plain, StringComparison.Ordinal);
        Assert.DoesNotContain("label_smoothing", plain, StringComparison.Ordinal);
        Assert.DoesNotContain("ema", plain, StringComparison.Ordinal);
        Assert.Throws<InvalidDataException>(() => (trial with { Schedule = "sometimes" }).Check(MnistDataset.Schema));
        Assert.Throws<InvalidDataException>(() => (trial with { EmaDecay = 1f }).Check(MnistDataset.Schema));
    }

    [Theory]
    [InlineData("""{"schedule": ["onecycle", "onecycle"]}""", "schedule must list")]
    [InlineData("""{"schedule": ["sometimes"]}""", "schedule must be constant, step, cosine, onecycle, linear or cosine-steps")]
    [InlineData("""{"label_smoothing": [0, 1.5]}""", "label_smoothing must list one or more values in [0, 1]")]
    [InlineData("""{"ema": [1]}""", "ema must list one or more decays in [0, 1) or null")]
    public void Parse_BadRecipe_IsAOneLineUsageError(string json, string message)
    {
        var error = Assert.Throws<OptionException>(() => SearchSpace.Parse(json, MnistDataset.Schema, "--space s.json"));
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
        Assert.StartsWith("--space s.json", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ParseFlags_SchedulesAndEmaDecays_AreListsOfNamesAndDecays()
    {
        Assert.Equal([LearningRateSchedule.Constant, LearningRateSchedule.OneCycle], SearchSpace.ParseSchedules("constant;onecycle", "--schedules"));
        Assert.Equal([null, 0.999], SearchSpace.ParseEmaDecays("off,0.999", "--ema-decays"));
        Assert.Throws<OptionException>(() => SearchSpace.ParseEmaDecays("maybe", "--ema-decays"));
    }

    /// <summary>A OneCycle trial promoted from a 1-epoch rung to a 2-epoch rung is trained again over
    /// the 2-epoch cycle (its rates depend on the epoch count), and gives what a fresh 2-epoch run gives.</summary>
    [Fact]
    public void Run_OneCycleTrialPromoted_IsTrainedAgainOverTheLongerCycle()
    {
        var cancel = TestContext.Current.CancellationToken;
        var template = new TrainingOptions { Seed = 5, ValidationSplit = 0.2, LimitTrain = 500 };
        var config = new TrialConfig(50, 0.01f, 0.1f, [16]) with { Schedule = "onecycle", LabelSmoothing = 0.1f, EmaDecay = 0.9f };
        using var data = new DeviceImageDataset(fixture.Device.Accelerator, RealMnist.Load());
        List<TrialEpoch> promoted;
        using (var objective = new TrainerObjective(fixture.KernelDevice, data, template, checkpointDirectory: null))
        {
            promoted = [.. objective.Run(new TrialRun(0, config, 1, 1, KeepState: true), cancel)];
            promoted.AddRange(objective.Run(new TrialRun(0, config, 2, 2, KeepState: false), cancel));
            Assert.Equal(1, objective.ReplayedEpochs);
        }
        List<TrialEpoch> fresh;
        using (var objective = new TrainerObjective(fixture.KernelDevice, data, template, checkpointDirectory: null))
            fresh = [.. objective.Run(new TrialRun(0, config, 1, 2, KeepState: false), cancel)];
        Assert.Equal(fresh[1].ValLoss, promoted[1].ValLoss);
        Assert.Equal(fresh[1].TrainLoss, promoted[1].TrainLoss);
        Assert.NotEqual(fresh[0].TrainLoss, promoted[0].TrainLoss);
    }
}
