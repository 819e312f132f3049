using System.Globalization;
using GpuMlp.Compute;
using GpuMlp.Runs;
using GpuMlp.Training;

namespace GpuMlp.Tuning;

/// <summary>The real objective: trains trials with <see cref="Trainer"/> on one device, sharing the
/// dataset uploaded once (<see cref="DeviceImageDataset"/>) and the kernels compiled once. Each live trial
/// keeps its own trainer (weights, Adam moments, step counter) between rungs, so a promoted trial
/// continues where it stopped. After a rung it may continue from, a trial's state is also written
/// to trials/trial-NNN.ckpt (the regular checkpoint format), so a resumed search restores it instead
/// of training again; without a usable checkpoint it trains the earlier epochs again from scratch
/// (deterministic: the same results on the same device). Scores come from the validation split
/// only; the test set is never evaluated here.</summary>
public sealed class TrainerObjective : ITrialObjective, IDisposable
{
    private readonly KernelDevice device;
    private readonly DeviceImageDataset data;
    private readonly TrainingOptions template;
    private readonly string? checkpointDirectory;
    private readonly Dictionary<int, LiveTrial> live = [];

    /// <param name="template">Seed, validation split, LimitTrain and evaluation settings shared by
    /// every trial; the split must be positive.</param>
    /// <param name="checkpointDirectory">Where trial checkpoints go; null writes none.</param>
    public TrainerObjective(KernelDevice device, DeviceImageDataset data, TrainingOptions template, string? checkpointDirectory)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(template);
        if (!(template.ValidationSplit > 0))
            throw new OptionException($"--val-split must be greater than 0 for tuning (got {template.ValidationSplit})");
        this.device = device;
        this.data = data;
        this.template = template;
        this.checkpointDirectory = checkpointDirectory;
    }

    /// <summary>Progress of the epoch being trained (trial id, figures).</summary>
    public Action<int, TrainingProgress>? Progress { get; set; }

    /// <summary>Trials that currently hold a trainer on the device.</summary>
    public int LiveTrials => live.Count;

    /// <summary>Trials restored from a checkpoint instead of trained again.</summary>
    public int Restored { get; private set; }

    /// <summary>Epochs trained again because a trial's state was lost (no checkpoint).</summary>
    public int ReplayedEpochs { get; private set; }

    public string CheckpointPath(int trial) =>
        Path.Combine(checkpointDirectory ?? ".", $"trial-{trial.ToString("D3", CultureInfo.InvariantCulture)}.ckpt");

    public IReadOnlyList<TrialEpoch> Run(TrialRun run, CancellationToken cancel)
    {
        ArgumentNullException.ThrowIfNull(run);
        if (run.FromEpoch < 1 || run.ToEpoch < run.FromEpoch)
            throw new ArgumentOutOfRangeException(nameof(run), $"epochs {run.FromEpoch}..{run.ToEpoch}");
        var trial = Prepare(run, cancel);
        try
        {
            var results = new List<TrialEpoch>();
            Action<TrainingProgress>? progress = Progress is { } report ? p => report(run.Trial, p) : null;
            for (int epoch = run.FromEpoch; epoch <= run.ToEpoch; epoch++)
            {
                var record = trial.Trainer.TrainEpoch(epoch, resume: null, progress, cancel);
                trial.History.Add(record);
                trial.EpochsDone = epoch;
                var result = new TrialEpoch(epoch, record.TrainLoss, record.TrainAccuracy,
                    record.ValLoss ?? double.NaN, record.ValAccuracy ?? double.NaN, record.Seconds);
                results.Add(result);
                if (!result.IsFinite)
                    break;
            }
            if (run.KeepState && checkpointDirectory is not null && results[^1].IsFinite)
                SaveCheckpoint(run.Trial, trial);
            return results;
        }
        catch
        {
            // Cancelled or failed mid-epoch: the trainer is between states; drop it.
            Drop(run.Trial);
            throw;
        }
    }

    public void Release(int trial)
    {
        Drop(trial);
        if (checkpointDirectory is not null && File.Exists(CheckpointPath(trial)))
            File.Delete(CheckpointPath(trial));
    }

    public void Dispose()
    {
        foreach (var trial in live.Values)
            trial.Trainer.Dispose();
        live.Clear();
    }

    private LiveTrial Prepare(TrialRun run, CancellationToken cancel)
    {
        var options = run.Config.ToOptions(template, run.ToEpoch);
        if (live.TryGetValue(run.Trial, out var existing) && existing.EpochsDone == run.FromEpoch - 1 && existing.Options.SameTrajectory(options))
            return existing;
        Drop(run.Trial);
        options.Validate(data.Schema, data.Train.Count);
        var trainer = new Trainer(device, data, options);
        var trial = new LiveTrial(options, trainer);
        try
        {
            if (run.FromEpoch > 1 && !TryRestore(run, trial))
            {
                for (int epoch = 1; epoch < run.FromEpoch; epoch++)
                {
                    trial.History.Add(trainer.TrainEpoch(epoch, cancel: cancel));
                    trial.EpochsDone = epoch;
                    ReplayedEpochs++;
                }
            }
        }
        catch
        {
            trainer.Dispose();
            throw;
        }
        live[run.Trial] = trial;
        return trial;
    }

    private bool TryRestore(TrialRun run, LiveTrial trial)
    {
        if (checkpointDirectory is null)
            return false;
        string path = CheckpointPath(run.Trial);
        if (!File.Exists(path))
            return false;
        Checkpoint checkpoint;
        try
        {
            checkpoint = Checkpoint.Load(path);
        }
        catch (CheckpointFormatException)
        {
            return false;
        }
        if (checkpoint.State.EpochsCompleted != run.FromEpoch - 1 || !checkpoint.Continues(trial.Options) || !checkpoint.Schema.Equals(data.Schema))
            return false;
        checkpoint.RestoreInto(trial.Trainer);
        trial.History.AddRange(checkpoint.State.History);
        trial.EpochsDone = checkpoint.State.EpochsCompleted;
        Restored++;
        return true;
    }

    private void SaveCheckpoint(int id, LiveTrial trial)
    {
        Directory.CreateDirectory(checkpointDirectory!);
        var state = new CheckpointState
        {
            Options = trial.Options with { Epochs = Math.Max(trial.Options.Epochs, trial.EpochsDone) },
            EpochsCompleted = trial.EpochsDone,
            History = trial.History.ToArray(),
            Device = device.Description,
            TrainSeconds = trial.History.Sum(e => e.Seconds),
            CompileSeconds = device.Kernels.CompileSeconds,
        };
        Checkpoint.Capture(trial.Trainer, state).Save(CheckpointPath(id));
    }

    private void Drop(int trial)
    {
        if (live.Remove(trial, out var removed))
            removed.Trainer.Dispose();
    }

    private sealed class LiveTrial(TrainingOptions options, Trainer trainer)
    {
        public TrainingOptions Options { get; } = options;
        public Trainer Trainer { get; } = trainer;
        public List<EpochRecord> History { get; } = [];
        public int EpochsDone { get; set; }
    }
}
