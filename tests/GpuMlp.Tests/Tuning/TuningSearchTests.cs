using GpuMlp.Data;
using GpuMlp.Tests.Runs;
using GpuMlp.Training;
using GpuMlp.Tuning;

namespace GpuMlp.Tests.Tuning;

/// <summary>The search on a fake objective: no training anywhere in this class.</summary>
public sealed class TuningSearchTests : IDisposable
{
    private readonly TempDir dir = new();

    public void Dispose() => dir.Dispose();

    internal static TuningSettings Settings(int trials = 9, int eta = 3, int minEpochs = 1, int maxEpochs = 9, int seed = 1,
        long? budgetEpochs = null, double? budgetMinutes = null, SearchSpace? space = null) => new()
        {
            Trials = trials,
            Eta = eta,
            MinEpochs = minEpochs,
            MaxEpochs = maxEpochs,
            Seed = seed,
            BudgetEpochs = budgetEpochs,
            BudgetMinutes = budgetMinutes,
            Space = (space ?? new SearchSpace()).ToDocument(),
        };

    private static (TuningState State, TuningOutcome Outcome, FakeObjective Objective) Search(TuningSettings settings, string? directory = null, FakeObjective? objective = null)
    {
        var state = TuningSearch.Create(settings, MnistDataset.Schema);
        objective ??= new FakeObjective();
        var outcome = new TuningSearch(state, objective, directory).Run(TestContext.Current.CancellationToken);
        return (state, outcome, objective);
    }

    [Fact]
    public void Run_EtaThree_PromotesTheBestThirdAndContinuesThem()
    {
        var (state, outcome, objective) = Search(Settings(trials: 9, eta: 3, minEpochs: 1, maxEpochs: 9));

        // 9 trials train epoch 1, the best 3 epochs 2-3, the best one epochs 4-9: never restarted.
        Assert.Equal(9 + 3 + 1, objective.Runs.Count);
        Assert.All(objective.Runs.Take(9), r => Assert.Equal((1, 1), (r.FromEpoch, r.ToEpoch)));
        Assert.All(objective.Runs.Skip(9).Take(3), r => Assert.Equal((2, 3), (r.FromEpoch, r.ToEpoch)));
        Assert.Equal((4, 9), (objective.Runs[^1].FromEpoch, objective.Runs[^1].ToEpoch));
        Assert.Equal(0, objective.Replayed);
        Assert.Equal([true, true, true, false], objective.Runs.Skip(9).Select(r => r.KeepState));

        Assert.Equal([1, 3, 9], state.Rungs.Select(r => r.Epochs));
        Assert.Equal([9, 3, 1], state.Rungs.Select(r => r.Entered.Count));
        Assert.Equal(9 + 6 + 6, outcome.SpentEpochs);
        Assert.Equal(state.Settings.Schedule().PlannedEpochs, outcome.SpentEpochs);
        Assert.Equal(1, state.Trials.Count(t => t.Status == TrialStatus.Completed));
        Assert.Equal(8, state.Trials.Count(t => t.Status == TrialStatus.Stopped));
        Assert.Equal("completed", outcome.StopReason);

        // The promoted trials are exactly the best by the fake's validation loss at the rung.
        var fake = new FakeObjective();
        var byEpoch1 = state.Trials.OrderBy(t => fake.Score(t.Config, 1).ValLoss).Select(t => t.Id).Take(3).Order();
        Assert.Equal(byEpoch1, state.Rungs[1].Entered);
        var byEpoch3 = state.Rungs[1].Entered
            .OrderBy(id => Enumerable.Range(1, 3).Min(e => fake.Score(state.Trials[id].Config, e).ValLoss)).Take(1);
        Assert.Equal(byEpoch3, state.Rungs[2].Entered);
        Assert.Equal(state.Rungs[2].Entered.Single(), outcome.Best!.Id);
        Assert.Equal(outcome.Best.Id, state.BestTrial);
        Assert.Equal(9, outcome.Best.EpochsRun);
    }

    [Fact]
    public void Run_EliminatedTrials_AreReleasedBeforeTheNextRungAndAllAtTheEnd()
    {
        var (state, _, objective) = Search(Settings(trials: 9, eta: 3, minEpochs: 1, maxEpochs: 9));
        int firstRung1 = objective.Events.IndexOf(objective.Events.First(e => e.EndsWith(" 2-3", StringComparison.Ordinal)));
        var stoppedAtRung0 = state.Trials.Where(t => t.EpochsRun == 1).Select(t => t.Id).ToList();
        Assert.Equal(6, stoppedAtRung0.Count);
        Assert.All(stoppedAtRung0, id => Assert.InRange(objective.Events.IndexOf($"release {id}"), 0, firstRung1 - 1));
        Assert.Equal(Enumerable.Range(0, 9), objective.Released.Order());
    }

    [Fact]
    public void Run_OptimizerSpace_TrialsCarryTheirOptimizerThroughRungsAndTheSavedState()
    {
        var space = new SearchSpace { Optimizers = [OptimizerKind.Adam, OptimizerKind.Sgd, OptimizerKind.Rmsprop], MomentumMin = 0.5, MomentumMax = 0.9 };
        var (state, outcome, objective) = Search(Settings(trials: 9, eta: 3, space: space), dir.Path);
        Assert.Equal("completed", outcome.StopReason);
        Assert.True(state.Trials.Select(t => t.Config.Settings.Kind).Distinct().Count() > 1);
        foreach (var run in objective.Runs)
            Assert.Equal(state.Trials[run.Trial].Config, run.Config);
        var loaded = TuningFiles.Load(dir.Path, MnistDataset.Schema);
        Assert.Equal(state.Trials.Select(t => t.Config), loaded.Trials.Select(t => t.Config));
        Assert.Equal(space.Optimizers, SearchSpace.FromDocument(loaded.Settings.Space, MnistDataset.Schema).Optimizers);
        string csv = TuningFiles.Csv(loaded);
        Assert.EndsWith(",optimizer,arch", csv.Split('\n')[0], StringComparison.Ordinal);
        Assert.Contains("\"sgd --momentum 0.", csv, StringComparison.Ordinal);
    }

    [Fact]
    public void Run_EtaTwo_KeepsHalf()
    {
        var (state, outcome, objective) = Search(Settings(trials: 8, eta: 2, minEpochs: 2, maxEpochs: 8));
        Assert.Equal([(2, 8), (4, 4), (8, 2)], state.Rungs.Select(r => (r.Epochs, r.Entered.Count)));
        Assert.Equal(8 + 4 + 2, objective.Runs.Count);
        Assert.Equal((8 * 2) + (4 * 2) + (2 * 4), outcome.SpentEpochs);
        Assert.Equal(2, state.Trials.Count(t => t.Status == TrialStatus.Completed));
    }

    [Fact]
    public void SampleConfigs_SameOrOtherSeed_GivesTheSameOrOtherConfigurations()
    {
        var space = new SearchSpace { BatchSizes = [32, 64, 128, 256], Hidden = [[512, 256], [256, 128], [128]] };
        var a = TuningSearch.SampleConfigs(space, 20, seed: 5);
        var b = TuningSearch.SampleConfigs(space, 20, seed: 5);
        var c = TuningSearch.SampleConfigs(space, 20, seed: 6);
        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
        Assert.Equal(20, a.Distinct().Count());
        // A longer search extends a shorter one with the same seed.
        Assert.Equal(a.Take(8), TuningSearch.SampleConfigs(space, 8, seed: 5));

        var first = Search(Settings(seed: 3));
        var second = Search(Settings(seed: 3));
        Assert.Equal(TuningFiles.Csv(first.State), TuningFiles.Csv(second.State));
        Assert.NotEqual(TuningFiles.Csv(first.State), TuningFiles.Csv(Search(Settings(seed: 4)).State));
    }

    [Fact]
    public void SampleConfigs_AnySpace_StayInRangeLogUniformAndRounded()
    {
        var space = new SearchSpace { LearningRateMin = 1e-4, LearningRateMax = 1e-2, DropoutMin = 0.1, DropoutMax = 0.3, BatchSizes = [64, 128], Hidden = [[8], [16, 8]] };
        var configs = TuningSearch.SampleConfigs(space, 2000, seed: 11);
        Assert.All(configs, c =>
        {
            Assert.InRange(c.LearningRate, 1e-4f, 1e-2f);
            Assert.InRange(c.Dropout!.Value, 0.1f, 0.3f);
            Assert.Contains(c.BatchSize, space.BatchSizes);
            Assert.Equal(SearchSpace.RoundSignificant(c.LearningRate, 3), c.LearningRate, 1e-9);
            Assert.Equal(Math.Round(c.Dropout!.Value, 2), c.Dropout!.Value, 1e-6);
        });
        // Log-uniform: about half below the geometric midpoint 1e-3 (uniform would give ~9 %).
        double below = configs.Count(c => c.LearningRate < 1e-3) / 2000.0;
        Assert.InRange(below, 0.45, 0.55);
        Assert.InRange(configs.Count(c => c.BatchSize == 64) / 2000.0, 0.45, 0.55);
        Assert.InRange(configs.Count(c => c.Hidden!.Count == 2) / 2000.0, 0.45, 0.55);
        Assert.InRange(configs.Count(c => c.Dropout < 0.2f) / 2000.0, 0.42, 0.58);
    }

    [Fact]
    public void SampleConfigs_FixedRanges_GiveFixedValues()
    {
        var space = new SearchSpace { LearningRateMin = 0.001, LearningRateMax = 0.001, DropoutMin = 0.2, DropoutMax = 0.2, BatchSizes = [128] };
        Assert.All(TuningSearch.SampleConfigs(space, 5, seed: 1), c => Assert.Equal(new TrialConfig(128, 0.001f, 0.2f, [512, 256]), c));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(9)]
    [InlineData(10)]
    [InlineData(14)]
    [InlineData(16)]
    public void Run_EpochBudget_IsNeverExceeded(long budget)
    {
        var (state, outcome, objective) = Search(Settings(trials: 9, eta: 3, minEpochs: 1, maxEpochs: 9, budgetEpochs: budget));
        Assert.InRange(outcome.SpentEpochs, 0, budget);
        Assert.Equal(objective.Runs.Sum(r => r.ToEpoch - r.FromEpoch + 1), outcome.SpentEpochs);
        Assert.Equal("budget-epochs", outcome.StopReason);
        Assert.True(state.Finished);
        Assert.DoesNotContain(state.Trials, t => t.Status == TrialStatus.Active);
        Assert.NotNull(outcome.Best);
        if (budget < 9)
            Assert.Equal(9 - budget, state.Trials.Count(t => t.Status == TrialStatus.Pending));
        if (budget >= 9)
            Assert.Contains(state.Trials, t => t.Status == TrialStatus.OutOfBudget);
    }

    [Fact]
    public void Run_BudgetAtLeastThePlan_RunsEverything()
    {
        var (_, outcome, _) = Search(Settings(trials: 9, eta: 3, minEpochs: 1, maxEpochs: 9, budgetEpochs: 21));
        Assert.Equal("completed", outcome.StopReason);
        Assert.Equal(21, outcome.SpentEpochs);
    }

    [Fact]
    public void Run_MinuteBudget_StartsNoRungAfterTheDeadline()
    {
        var clock = new FakeClock();
        var objective = new FakeObjective(clock: clock) { SecondsPerEpoch = 60 };
        var state = TuningSearch.Create(Settings(trials: 9, eta: 3, minEpochs: 1, maxEpochs: 9, budgetMinutes: 10.5), MnistDataset.Schema);
        var outcome = new TuningSearch(state, objective, time: clock).Run(TestContext.Current.CancellationToken);
        // Rung 0 takes 9 minutes; at 9 min the first rung-1 trial (2 epochs) may start, at 11 min nothing.
        Assert.Equal("budget-minutes", outcome.StopReason);
        Assert.Equal(10, objective.Runs.Count);
        Assert.Equal(11, outcome.SpentEpochs);
        Assert.Equal(11 * 60, outcome.ElapsedSeconds, 1e-6);
        Assert.NotNull(outcome.Best);
    }

    [Fact]
    public void Run_DivergedTrials_AreNeverPromotedNorBest()
    {
        var space = new SearchSpace { LearningRateMin = 1e-4, LearningRateMax = 1e-1 };
        var objective = new FakeObjective { DivergeAbove = 2e-3 };
        var (state, outcome, _) = Search(Settings(trials: 9, eta: 3, minEpochs: 2, maxEpochs: 6, space: space), objective: objective);
        var diverged = state.Trials.Where(t => t.Config.LearningRate > 2e-3f).ToList();
        Assert.NotEmpty(diverged);
        Assert.All(diverged, t =>
        {
            Assert.Equal(TrialStatus.Diverged, t.Status);
            Assert.Equal(2, t.EpochsRun);
            Assert.DoesNotContain(t.Id, state.Rungs[1].Entered);
        });
        Assert.True(outcome.Best!.Config.LearningRate <= 2e-3f);
        Assert.Contains(outcome.Best.Id, state.Rungs[^1].Entered);
    }

    [Fact]
    public void Run_EveryTrialDiverging_EndsWithoutBest()
    {
        var space = new SearchSpace { LearningRateMin = 0.5, LearningRateMax = 1 };
        var (state, outcome, _) = Search(Settings(trials: 3, minEpochs: 2, maxEpochs: 6, space: space), objective: new FakeObjective { DivergeAbove = 0.1 });
        Assert.Null(outcome.Best);
        Assert.Equal("all-diverged", outcome.StopReason);
        Assert.All(state.Trials, t => Assert.Equal(TrialStatus.Diverged, t.Status));
    }

    /// <summary>Interrupt on the Nth objective call (at the start, or after some epochs of it: mid
    /// rung), resume from the folder with a new objective: the same trials, rungs and winner as a
    /// search that was never stopped, and no finished trial rung runs twice.</summary>
    [Theory]
    [InlineData(1, 0)]
    [InlineData(4, 0)]
    [InlineData(9, 0)]
    [InlineData(10, 1)]
    [InlineData(11, 0)]
    [InlineData(12, 0)]
    [InlineData(13, 3)]
    public void Run_ResumedAfterInterruption_EndsLikeAnUninterruptedSearch(int cancelOnCall, int epochsBeforeCancel)
    {
        var settings = Settings(trials: 9, eta: 3, minEpochs: 1, maxEpochs: 9);
        string straightDir = Path.Combine(dir.Path, "straight"), resumedDir = Path.Combine(dir.Path, "resumed");
        var straightClock = new FakeClock();
        var straight = TuningSearch.Create(settings, MnistDataset.Schema);
        var straightOutcome = new TuningSearch(straight, new FakeObjective(clock: straightClock), straightDir, straightClock).Run(TestContext.Current.CancellationToken);

        var clock = new FakeClock();
        var interrupted = new FakeObjective(clock: clock) { CancelOnCall = cancelOnCall, EpochsBeforeCancel = epochsBeforeCancel };
        Assert.Throws<OperationCanceledException>(() => new TuningSearch(TuningSearch.Create(settings, MnistDataset.Schema), interrupted, resumedDir, clock).Run(TestContext.Current.CancellationToken));
        var finishedBefore = interrupted.Runs.Take(cancelOnCall - 1).Select(r => (r.Trial, r.FromEpoch, r.ToEpoch)).ToHashSet();

        var loaded = TuningFiles.Load(resumedDir, MnistDataset.Schema);
        Assert.False(loaded.Finished);
        Assert.Equal(finishedBefore.Sum(r => r.ToEpoch - r.FromEpoch + 1), loaded.SpentEpochs);
        var resumedObjective = new FakeObjective(clock: clock);
        var resumedOutcome = new TuningSearch(loaded, resumedObjective, resumedDir, clock).Run(TestContext.Current.CancellationToken);

        Assert.DoesNotContain(resumedObjective.Runs, r => finishedBefore.Contains((r.Trial, r.FromEpoch, r.ToEpoch)));
        Assert.Equal(interrupted.Runs[^1], resumedObjective.Runs[0]);
        Assert.Equal(straightOutcome.Best!.Id, resumedOutcome.Best!.Id);
        Assert.Equal(straightOutcome.SpentEpochs, resumedOutcome.SpentEpochs);
        Assert.Equal(File.ReadAllText(Path.Combine(straightDir, TuningFiles.CsvFileName)), File.ReadAllText(Path.Combine(resumedDir, TuningFiles.CsvFileName)));
        var reloaded = TuningFiles.Load(resumedDir, MnistDataset.Schema);
        Assert.True(reloaded.Finished);
        Assert.Equal(straight.Rungs.Select(r => string.Join(",", r.Entered) + "/" + string.Join(",", r.Promoted!)),
            reloaded.Rungs.Select(r => string.Join(",", r.Entered) + "/" + string.Join(",", r.Promoted!)));
        // Time of the lost partial rung counts: the resumed search took longer in total.
        Assert.Equal(straightOutcome.ElapsedSeconds + (epochsBeforeCancel * 2), resumedOutcome.ElapsedSeconds, 1e-6);
    }

    [Fact]
    public void Run_FinishedSearch_RunsNothing()
    {
        var settings = Settings(trials: 4, eta: 2, minEpochs: 1, maxEpochs: 2);
        string path = Path.Combine(dir.Path, "done");
        var (_, first, _) = Search(settings, path);
        var objective = new FakeObjective();
        var again = new TuningSearch(TuningFiles.Load(path, MnistDataset.Schema), objective, path).Run(TestContext.Current.CancellationToken);
        Assert.Empty(objective.Runs);
        Assert.Equal(4, objective.Released.Count);
        Assert.Equal(first.Best!.Id, again.Best!.Id);
        Assert.Equal(first.SpentEpochs, again.SpentEpochs);
    }

    [Fact]
    public void Run_ObjectiveReturningOtherEpochs_IsAnError()
    {
        var state = TuningSearch.Create(Settings(trials: 2, maxEpochs: 3), MnistDataset.Schema);
        var error = Assert.Throws<InvalidOperationException>(() => new TuningSearch(state, new SkippingObjective()).Run(TestContext.Current.CancellationToken));
        Assert.Contains("epochs [2]", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Run_AnySearch_WorstIsTheLowestValidationAccuracy()
    {
        var (state, outcome, _) = Search(Settings(trials: 9));
        double lowest = state.Trials.Min(t => t.Best()!.ValAccuracy);
        Assert.Equal(lowest, outcome.Worst!.Best()!.ValAccuracy);
        Assert.True(outcome.Best!.Best()!.ValAccuracy > outcome.Worst.Best()!.ValAccuracy);
    }

    private sealed class SkippingObjective : ITrialObjective
    {
        public IReadOnlyList<TrialEpoch> Run(TrialRun run, CancellationToken cancel) =>
            [new TrialEpoch(run.FromEpoch + 1, 1, 0.5, 1, 0.5, 1)];

        public void Release(int trial)
        {
        }
    }
}
