using GpuMlp.Data;

namespace GpuMlp.Tuning;

/// <summary>A trial finished (part of) a rung.</summary>
public sealed record TrialRunReport(TrialState Trial, Rung Rung, int FromEpoch, IReadOnlyList<TrialEpoch> Epochs, long SpentEpochs, double ElapsedSeconds);

/// <summary>How a search ended. Best: lowest validation loss of any trial that did not diverge
/// (its best epoch is the epoch count to retrain with). Worst: the lowest validation accuracy
/// (at its best epoch) of any trial that trained.</summary>
public sealed record TuningOutcome(TrialState? Best, TrialState? Worst, string StopReason, long SpentEpochs, double ElapsedSeconds);

/// <summary>Random search plus synchronous successive halving over an <see cref="ITrialObjective"/>.
/// Configurations are sampled once from the seed when the search is created. Rung by rung, every
/// entered trial trains on to the rung's epochs (continuing, not restarting), the state is written
/// after each trial (tune.json, tune.csv), and the best max(1, ⌊n/η⌋) by validation loss (best
/// epoch so far; ties: accuracy, then id) are promoted. Trials never see the test set.
///
/// Resume: the state holds every finished trial rung, so a new search over the loaded state skips
/// them and continues; a trial interrupted mid-rung trains that rung again (the objective restores
/// it from its previous rung's checkpoint, or from scratch). With an epoch budget or none, a
/// resumed search ends exactly as an uninterrupted one (given a deterministic objective).</summary>
public sealed class TuningSearch
{
    private readonly ITrialObjective objective;
    private readonly string? directory;
    private readonly TimeProvider time;

    public TuningSearch(TuningState state, ITrialObjective objective, string? directory = null, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(objective);
        if (state.Version != TuningState.CurrentVersion)
            throw new ArgumentException($"tune.json version {state.Version} is not supported (expected {TuningState.CurrentVersion})");
        State = state;
        Schedule = state.Settings.Schedule();
        if (state.Trials.Count != state.Settings.Trials)
            throw new ArgumentException($"tune.json lists {state.Trials.Count} trials but its settings say {state.Settings.Trials}");
        this.objective = objective;
        this.directory = directory;
        this.time = time ?? TimeProvider.System;
    }

    public TuningState State { get; }
    public HalvingSchedule Schedule { get; }

    /// <summary>Called before a trial trains (part of) a rung.</summary>
    public Action<TrialRun, Rung>? TrialStarting { get; set; }

    /// <summary>Called after each trial rung (after the state is written).</summary>
    public Action<TrialRunReport>? TrialFinished { get; set; }

    /// <summary>Called when a rung's promotions are decided (after the state is written).</summary>
    public Action<RungState>? RungFinished { get; set; }

    /// <summary>A new search on data of <paramref name="schema"/>: samples every trial's
    /// configuration from Random(seed).</summary>
    public static TuningState Create(TuningSettings settings, ImageSchema schema)
    {
        ArgumentNullException.ThrowIfNull(settings);
        settings.Validate(schema);
        var space = SearchSpace.FromDocument(settings.Space, schema);
        return new TuningState
        {
            Settings = settings,
            Trials = SampleConfigs(space, settings.Trials, settings.Seed)
                .Select((config, id) => new TrialState { Id = id, Config = config }).ToList(),
        };
    }

    /// <summary>The first <paramref name="count"/> configurations the seed gives.</summary>
    public static IReadOnlyList<TrialConfig> SampleConfigs(SearchSpace space, int count, int seed)
    {
        ArgumentNullException.ThrowIfNull(space);
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => space.Sample(random)).ToArray();
    }

    public TuningOutcome Run(CancellationToken cancel = default)
    {
        double elapsedBefore = State.ElapsedSeconds;
        long start = time.GetTimestamp();
        double Elapsed() => elapsedBefore + time.GetElapsedTime(start).TotalSeconds;
        try
        {
            if (!State.Finished)
            {
                State.StopReason = RunRungs(Elapsed, cancel);
                State.Finished = true;
                foreach (var trial in State.Trials.Where(t => t.Status == TrialStatus.Active))
                    trial.Status = TrialStatus.OutOfBudget;
                State.BestTrial = Best()?.Id;
                State.ElapsedSeconds = Elapsed();
                Save();
            }
            // Also for a search that finished before (a process killed right after its last save).
            foreach (var trial in State.Trials)
                objective.Release(trial.Id);
        }
        catch (OperationCanceledException)
        {
            State.ElapsedSeconds = Elapsed();
            Save();
            throw;
        }
        return Outcome();
    }

    /// <summary>The outcome of a finished (or loaded) state.</summary>
    public TuningOutcome Outcome()
    {
        var trained = State.Trials.Where(t => t.Best() is not null).ToList();
        var worst = trained.OrderBy(t => t.Best()!.ValAccuracy).ThenBy(t => t.Id).FirstOrDefault();
        return new TuningOutcome(Best(), worst, State.StopReason ?? "running", State.SpentEpochs, State.ElapsedSeconds);
    }

    private TrialState? Best() =>
        Ranking.Order(State.Trials.Where(t => !t.HasDiverged && t.Best() is not null)).FirstOrDefault();

    private string RunRungs(Func<double> elapsed, CancellationToken cancel)
    {
        var settings = State.Settings;
        int last = Schedule.Rungs.Count - 1;
        for (int k = 0; k <= last; k++)
        {
            var rung = Schedule.Rungs[k];
            var rungState = RungAt(k);
            foreach (int id in rungState.Entered)
            {
                var trial = State.Trials[id];
                if (trial.EpochsRun >= rung.Epochs || trial.HasDiverged)
                    continue;
                int from = trial.EpochsRun + 1;
                if (settings.BudgetEpochs is long budget && State.SpentEpochs + (rung.Epochs - from + 1) > budget)
                    return "budget-epochs";
                if (settings.BudgetMinutes is double minutes && elapsed() >= minutes * 60)
                    return "budget-minutes";
                cancel.ThrowIfCancellationRequested();
                var run = new TrialRun(id, trial.Config, from, rung.Epochs, KeepState: k < last);
                TrialStarting?.Invoke(run, rung);
                var epochs = objective.Run(run, cancel);
                Check(epochs, id, from, rung.Epochs);
                trial.Epochs.AddRange(epochs);
                if (trial.HasDiverged)
                {
                    trial.Status = TrialStatus.Diverged;
                    objective.Release(id);
                }
                else
                {
                    trial.Status = TrialStatus.Active;
                    trial.Rung = k;
                }
                State.ElapsedSeconds = elapsed();
                Save();
                TrialFinished?.Invoke(new TrialRunReport(trial, rung, from, epochs, State.SpentEpochs, State.ElapsedSeconds));
            }

            if (rungState.Promoted is null)
            {
                var finished = rungState.Entered.Select(id => State.Trials[id])
                    .Where(t => !t.HasDiverged && t.EpochsRun >= rung.Epochs).ToList();
                var promoted = k == last
                    ? []
                    : Ranking.Order(finished, rung.Epochs).Take(Schedule.Promoted(rungState.Entered.Count)).Select(t => t.Id).Order().ToList();
                foreach (var trial in finished)
                {
                    trial.Status = k == last ? TrialStatus.Completed
                        : promoted.Contains(trial.Id) ? TrialStatus.Active
                        : TrialStatus.Stopped;
                }
                rungState.Promoted = promoted;
                State.ElapsedSeconds = elapsed();
                Save();
                foreach (var trial in finished.Where(t => t.Status != TrialStatus.Active))
                    objective.Release(trial.Id);
                RungFinished?.Invoke(rungState);
            }
            if (k < last && rungState.Promoted.Count == 0)
                return "all-diverged";
        }
        return "completed";
    }

    private RungState RungAt(int k)
    {
        if (k < State.Rungs.Count)
            return State.Rungs[k];
        if (k != State.Rungs.Count)
            throw new InvalidOperationException($"tune.json skips rung {State.Rungs.Count}");
        var entered = k == 0
            ? State.Trials.Select(t => t.Id).ToList()
            : State.Rungs[k - 1].Promoted ?? throw new InvalidOperationException($"rung {k - 1} has no promotions yet");
        var rungState = new RungState { Index = k, Epochs = Schedule.Rungs[k].Epochs, Entered = entered };
        State.Rungs.Add(rungState);
        return rungState;
    }

    private static void Check(IReadOnlyList<TrialEpoch> epochs, int id, int from, int to)
    {
        bool ok = epochs.Count >= 1 && epochs.Count <= to - from + 1;
        for (int i = 0; ok && i < epochs.Count; i++)
            ok = epochs[i].Epoch == from + i;
        if (ok && epochs.Count < to - from + 1)
            ok = !epochs[^1].IsFinite;
        if (!ok)
            throw new InvalidOperationException($"the objective returned epochs [{string.Join(",", epochs.Select(e => e.Epoch))}] for trial {id}, epochs {from}..{to}");
    }

    private void Save()
    {
        if (directory is not null)
            TuningFiles.Save(directory, State);
    }
}
