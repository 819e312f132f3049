using System.Text.Json;
using GpuMlp.Data;
using GpuMlp.Tests.Runs;
using GpuMlp.Training;
using GpuMlp.Tuning;

namespace GpuMlp.Tests.Tuning;

public sealed class TuningFilesTests : IDisposable
{
    private readonly TempDir dir = new();

    public void Dispose() => dir.Dispose();

    private TuningState Finished(TuningSettings? settings = null)
    {
        var state = TuningSearch.Create(settings ?? TuningSearchTests.Settings(trials: 5, eta: 2, minEpochs: 1, maxEpochs: 4), MnistDataset.Schema);
        new TuningSearch(state, new FakeObjective(), dir.Path).Run(TestContext.Current.CancellationToken);
        return state;
    }

    [Fact]
    public void Csv_AnyState_HasOneRowPerTrialWithTheDocumentedColumns()
    {
        var state = Finished();
        var lines = File.ReadAllText(Path.Combine(dir.Path, TuningFiles.CsvFileName)).TrimEnd('\n').Split('\n');
        Assert.Equal("trial,status,batch_size,learning_rate,dropout,hidden,epochs,rung,best_epoch,val_loss,val_accuracy,last_val_loss,last_val_accuracy,seconds,optimizer,arch", lines[0]);
        Assert.Equal(6, lines.Length);
        var best = state.Trials[state.BestTrial!.Value];
        string row = lines[1 + best.Id];
        Assert.StartsWith($"{best.Id},completed,{best.Config.BatchSize},{TrialConfig.Format(best.Config.LearningRate)},{TrialConfig.Format(best.Config.Dropout!.Value)},\"{best.Config.HiddenText}\",4,2,", row, StringComparison.Ordinal);
        var cells = row.Split(',');
        // The quoted hidden "512,256" splits in two here: 17 raw cells for 16 columns.
        Assert.Equal(17, cells.Length);
        Assert.Equal("\"adam\"", cells[15]);
        Assert.Equal("\"mlp\"", cells[16]);
        Assert.Equal(best.Best()!.ValLoss, double.Parse(cells[10], System.Globalization.CultureInfo.InvariantCulture), 1e-8);
        Assert.Equal(best.Seconds, double.Parse(cells[14], System.Globalization.CultureInfo.InvariantCulture), 1e-8);
        Assert.Contains(lines.Skip(1), l => l.Contains(",stopped,", StringComparison.Ordinal));
    }

    [Fact]
    public void Save_AnyState_JsonHoldsSettingsTrialsEpochsAndRungs()
    {
        Finished();
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir.Path, TuningFiles.StateFileName)));
        var root = json.RootElement;
        foreach (string key in new[] { "version", "settings", "trials", "rungs", "elapsed_seconds", "spent_epochs", "finished", "stop_reason", "best_trial" })
            Assert.True(root.TryGetProperty(key, out _), key);
        var settings = root.GetProperty("settings");
        foreach (string key in new[] { "trials", "eta", "min_epochs", "max_epochs", "seed", "budget_epochs", "budget_minutes", "validation_split", "limit_train", "final_full", "space", "device", "data" })
            Assert.True(settings.TryGetProperty(key, out _), key);
        var space = settings.GetProperty("space");
        Assert.Equal(["lr", "dropout", "batch_size", "hidden", "optimizer", "momentum", "weight_decay", "arch"], space.EnumerateObject().Select(p => p.Name));
        var trial = root.GetProperty("trials")[0];
        Assert.Equal(["id", "config", "status", "rung", "epochs"], trial.EnumerateObject().Select(p => p.Name));
        Assert.Equal(["batch_size", "learning_rate", "dropout", "hidden", "optimizer"], trial.GetProperty("config").EnumerateObject().Select(p => p.Name));
        Assert.Equal("adam", trial.GetProperty("config").GetProperty("optimizer").GetProperty("kind").GetString());
        Assert.Equal(["epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "seconds"], trial.GetProperty("epochs")[0].EnumerateObject().Select(p => p.Name));
        Assert.Equal(["index", "epochs", "entered", "promoted"], root.GetProperty("rungs")[0].EnumerateObject().Select(p => p.Name));
        // The space in tune.json is itself a valid --space file.
        Assert.Equal([64, 128, 256], SearchSpace.Parse(space.GetRawText(), MnistDataset.Schema).BatchSizes);
    }

    [Fact]
    public void SaveThenLoad_DivergedEpochs_RoundTrip()
    {
        var space = new SearchSpace { LearningRateMin = 1e-4, LearningRateMax = 1e-1 };
        var state = TuningSearch.Create(TuningSearchTests.Settings(trials: 6, eta: 2, minEpochs: 2, maxEpochs: 4, space: space) with { LimitTrain = 6000, Data = "data/mnist" }, MnistDataset.Schema);
        new TuningSearch(state, new FakeObjective { DivergeAbove = 3e-3 }, dir.Path).Run(TestContext.Current.CancellationToken);
        Assert.Contains(state.Trials, t => t.Status == TrialStatus.Diverged);
        var loaded = TuningFiles.Load(dir.Path, MnistDataset.Schema);
        Assert.Equal(TuningFiles.Csv(state), TuningFiles.Csv(loaded));
        Assert.Equal(state.Settings with { Space = loaded.Settings.Space }, loaded.Settings);
        Assert.Equal(state.Trials.Select(t => t.Config), loaded.Trials.Select(t => t.Config));
        Assert.Equal(state.Trials.SelectMany(t => t.Epochs), loaded.Trials.SelectMany(t => t.Epochs));
        Assert.Equal(state.BestTrial, loaded.BestTrial);
        Assert.True(loaded.Finished);
    }

    [Fact]
    public void SaveThenLoad_DataOptions_RoundTripAndAreLeftOutWhenDefault()
    {
        var options = new ImageLoadOptions { ImageSize = 16, Channels = ImageChannels.Rgb, TestSplit = 0.25, SplitSeed = 3 };
        var state = TuningSearch.Create(TuningSearchTests.Settings(trials: 2, eta: 2, minEpochs: 1, maxEpochs: 2) with { Data = "shapes", DataOptions = options }, MnistDataset.Schema);
        TuningFiles.Save(dir.Path, state);
        Assert.Equal(options, TuningFiles.Load(dir.Path, MnistDataset.Schema).Settings.DataOptions);

        var plain = TuningSearch.Create(TuningSearchTests.Settings(trials: 2, eta: 2, minEpochs: 1, maxEpochs: 2), MnistDataset.Schema);
        TuningFiles.Save(dir.Path, plain);
        Assert.DoesNotContain("data_options", File.ReadAllText(Path.Combine(dir.Path, TuningFiles.StateFileName)), StringComparison.Ordinal);
        Assert.Null(TuningFiles.Load(dir.Path, MnistDataset.Schema).Settings.DataOptions);
    }

    [Fact]
    public void Load_MissingOrCorruptState_IsRejected()
    {
        Assert.Throws<FileNotFoundException>(() => TuningFiles.Load(dir.Path, MnistDataset.Schema));
        File.WriteAllText(Path.Combine(dir.Path, TuningFiles.StateFileName), "{\"version\": 1, \"trials\": [");
        Assert.Throws<InvalidDataException>(() => TuningFiles.Load(dir.Path, MnistDataset.Schema));
        File.WriteAllText(Path.Combine(dir.Path, TuningFiles.StateFileName), "{\"version\": 1, \"trials\": []}");
        Assert.Throws<InvalidDataException>(() => TuningFiles.Load(dir.Path, MnistDataset.Schema));
    }

    [Fact]
    public void TrainCommandLine_FinalOptions_ReproducesTheRetrain()
    {
        var state = Finished(TuningSearchTests.Settings(trials: 5, eta: 2, minEpochs: 1, maxEpochs: 4, seed: 7) with { LimitTrain = 6000 });
        var best = state.Trials[state.BestTrial!.Value];
        var options = TuningTraining.FinalOptions(state.Settings, best);
        Assert.Equal(0, options.ValidationSplit);
        Assert.Equal(6000, options.LimitTrain);
        Assert.Equal(best.Best()!.Epoch, options.Epochs);
        Assert.Equal(7, options.Seed);
        Assert.Null(TuningTraining.FinalOptions(state.Settings with { FinalFull = true }, best).LimitTrain);

        var fixedOptions = new TrainingOptions { Epochs = 9, BatchSize = 64, Optimizer = new OptimizerSettings(OptimizerKind.Adam) { LearningRate = 0.00123f }, Dropout = 0.27f, Hidden = [512, 256], Seed = 3, ValidationSplit = 0, LimitTrain = 6000 };
        Assert.Equal("gpumlp train --epochs 9 --batch-size 64 --lr 0.00123 --dropout 0.27 --hidden 512,256 --seed 3 --val-split 0 --limit-train 6000 --device cpu --data 'my data'",
            TuningTraining.TrainCommandLine(fixedOptions, "cpu", "my data"));
        Assert.Equal("gpumlp train --epochs 9 --batch-size 64 --lr 0.00123 --dropout 0.27 --hidden 512,256 --seed 3 --val-split 0",
            TuningTraining.TrainCommandLine(fixedOptions with { LimitTrain = null }, "auto"));
        Assert.Equal("'it'\\''s'", TuningTraining.Quote("it's"));
    }

    [Fact]
    public void BestJson_WrittenThenRead_RoundTrips()
    {
        var best = new BestResult(3, new TrialConfig(128, 0.00123f, 0.27f, [512, 256]), 9, 0.08, 0.975, 0.81,
            new BestSearchSummary(8, 29, 300.5, "completed", "cpu: CPUAccelerator"),
            new FinalRun(6000, 9, 80.2, "tunes/x/final"),
            new FinalTest(0.97, 0.1, 0.969, 0.968, 0.9685), 0.9812, "gpumlp train --epochs 9");
        TuningFiles.WriteBest(dir.Path, best);
        var back = TuningFiles.ReadBest(dir.Path);
        Assert.Equal(best with { Config = back.Config }, back);
        Assert.Equal(best.Config, back.Config);
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir.Path, TuningFiles.BestFileName)));
        Assert.Equal(0.97, json.RootElement.GetProperty("test").GetProperty("accuracy").GetDouble());
        Assert.Equal("gpumlp train --epochs 9", json.RootElement.GetProperty("command").GetString());
    }
}
