using System.Diagnostics;
using GpuMlp.Runs;

namespace GpuMlp.Training;

/// <summary>Training produced a NaN or infinite loss; the last good checkpoint is untouched.</summary>
public sealed class TrainingDivergedException : Exception
{
    public TrainingDivergedException(string message) : base(message) { }
}

/// <summary>How the epochs of a run ended.</summary>
/// <param name="TargetEpoch">The epoch whose validation accuracy reached
/// <see cref="TrainingOptions.TargetValidationAccuracy"/> (training stopped after it); null when no
/// target was set or it was not reached.</param>
public sealed record TrainingOutcome(IReadOnlyList<EpochRecord> History, bool StoppedEarly, int BestEpoch, double TrainSeconds, int? TargetEpoch = null)
{
    /// <summary>The epoch whose weights the trainer holds now, and so the model file and the test
    /// evaluation: with early stopping the lowest validation loss's (<see cref="BestEpoch"/>, which
    /// may come before <see cref="TargetEpoch"/>), else the last epoch trained.</summary>
    public int WeightsEpoch { get; init; }
}

/// <summary>The epochs of a training run around a <see cref="Trainer"/>, in memory: the
/// learning-rate schedule, a stop on a non-finite loss, early stopping that restores the weights
/// of the lowest validation loss, and the stop at a target validation accuracy. <see cref="TrainingRun"/> adds the run folder (checkpoints,
/// history, artifacts) through the hooks; <see cref="MnistModel"/> uses it as it is, so both train
/// bit-identical weights.</summary>
public sealed class EpochLoop
{
    private readonly Trainer trainer;
    private readonly TrainingOptions options;
    private readonly List<EpochRecord> history = [];
    private double trainSecondsBefore;
    private PartialEpoch? resumePartial;

    public EpochLoop(Trainer trainer, TrainingOptions options)
    {
        ArgumentNullException.ThrowIfNull(trainer);
        ArgumentNullException.ThrowIfNull(options);
        this.trainer = trainer;
        this.options = options;
    }

    public IReadOnlyList<EpochRecord> History => history;
    public int EpochsCompleted { get; private set; }
    public double? BestValidationLoss { get; private set; }
    public int BestEpoch { get; private set; }
    public int EpochsWithoutImprovement { get; private set; }

    /// <summary>The best epoch's weights, kept only with early stopping.</summary>
    public float[]? BestParameters { get; private set; }

    /// <summary>The best epoch's layer state, kept with <see cref="BestParameters"/> (null when the
    /// network keeps no state).</summary>
    public float[]? BestLayerState { get; private set; }

    /// <summary>Called after each finished epoch's bookkeeping, with the wall seconds of this session.</summary>
    public Action<double>? EpochFinished { get; init; }

    /// <summary>Called when training is interrupted after some steps of an epoch, with the wall
    /// seconds of this session; the interruption is rethrown afterwards.</summary>
    public Action<double, PartialEpoch>? Interrupted { get; init; }

    /// <summary>The end of the divergence message, given the epochs completed: what was kept and what
    /// to try.</summary>
    public Func<int, string> DivergenceAdvice { get; init; } = _ => "try a smaller learning rate";

    /// <summary>Continues a run from a checkpoint's counters, history and best weights (the trainer's
    /// tensors are restored by Checkpoint.RestoreInto).</summary>
    public void ContinueFrom(Checkpoint checkpoint)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        history.Clear();
        history.AddRange(checkpoint.State.History);
        EpochsCompleted = checkpoint.State.EpochsCompleted;
        BestValidationLoss = checkpoint.State.BestValidationLoss;
        BestEpoch = checkpoint.State.BestEpoch;
        EpochsWithoutImprovement = checkpoint.State.EpochsWithoutImprovement;
        BestParameters = checkpoint.BestParameters;
        BestLayerState = checkpoint.BestLayerState;
        trainSecondsBefore = checkpoint.State.TrainSeconds;
        resumePartial = checkpoint.Partial;
    }

    /// <summary>Seconds trained before this session (a resumed run's earlier sessions).</summary>
    public double TrainSecondsBefore => trainSecondsBefore;

    /// <summary>Trains the remaining epochs. Throws <see cref="TrainingInterruptedException"/>
    /// and <see cref="TrainingDivergedException"/>.</summary>
    public TrainingOutcome Run(Action<EpochRecord>? onEpoch = null, Action<TrainingProgress>? progress = null, CancellationToken cancel = default)
    {
        var watch = Stopwatch.StartNew();
        bool stoppedEarly = options.EarlyStopPatience is int patience0 && EpochsWithoutImprovement >= patience0;
        while (!stoppedEarly && !TargetReached && EpochsCompleted < options.Epochs)
        {
            int epoch = EpochsCompleted + 1;
            if (!options.SchedulesPerStep)
                trainer.LearningRate = options.LearningRateAt(epoch);
            EpochRecord record;
            try
            {
                record = trainer.TrainEpoch(epoch, resumePartial, progress, cancel);
            }
            catch (TrainingInterruptedException interrupted) when (interrupted.Partial is not null)
            {
                Interrupted?.Invoke(watch.Elapsed.TotalSeconds, interrupted.Partial);
                throw;
            }
            resumePartial = null;
            if (!double.IsFinite(record.TrainLoss) || record.ValLoss is double v && !double.IsFinite(v))
            {
                throw new TrainingDivergedException(
                    $"training diverged in epoch {epoch}: the loss is {record.TrainLoss} (learning rate {trainer.LearningRate}); {DivergenceAdvice(EpochsCompleted)}");
            }
            history.Add(record);
            EpochsCompleted = epoch;
            if (record.ValLoss is double validationLoss)
            {
                if (BestValidationLoss is null || validationLoss < BestValidationLoss)
                {
                    BestValidationLoss = validationLoss;
                    BestEpoch = epoch;
                    EpochsWithoutImprovement = 0;
                    if (options.EarlyStopPatience is not null)
                    {
                        BestParameters = trainer.ModelParameters();
                        BestLayerState = trainer.Network.Architecture.StateCount == 0 ? null : trainer.Network.GetState();
                    }
                }
                else
                {
                    EpochsWithoutImprovement++;
                }
            }
            stoppedEarly = options.EarlyStopPatience is int patience && EpochsWithoutImprovement >= patience;
            EpochFinished?.Invoke(watch.Elapsed.TotalSeconds);
            onEpoch?.Invoke(record);
        }
        float[]? restored = options.EarlyStopPatience is not null ? BestParameters : null;
        if (restored is not null)
        {
            // The best epoch's weights come back with the statistics its layers had then.
            trainer.SetModelParameters(restored);
            if (BestLayerState is not null)
                trainer.Network.SetState(BestLayerState);
        }
        return new TrainingOutcome(history, stoppedEarly, BestEpoch, trainSecondsBefore + watch.Elapsed.TotalSeconds,
            TargetReached ? EpochsCompleted : null)
        {
            WeightsEpoch = restored is not null ? BestEpoch : EpochsCompleted,
        };
    }

    /// <summary>The last finished epoch's validation accuracy is at least the target (a resumed run
    /// that had reached it trains no further).</summary>
    public bool TargetReached =>
        options.TargetValidationAccuracy is double target && history.Count > 0 && history[^1].ValAccuracy >= target;
}
