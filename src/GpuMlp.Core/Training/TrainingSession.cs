using System.Diagnostics;
using GpuMlp.Runs;

namespace GpuMlp.Training;

/// <summary>Training produced a NaN or infinite loss; the last good checkpoint is untouched.</summary>
public sealed class TrainingDivergedException : Exception
{
    public TrainingDivergedException(string message) : base(message) { }
}

/// <summary>How a session ended.</summary>
public sealed record TrainingOutcome(IReadOnlyList<EpochRecord> History, bool StoppedEarly, int BestEpoch, double TrainSeconds);

/// <summary>The epoch loop around a <see cref="Trainer"/>: learning-rate schedule, early stopping
/// with best-weight restore, divergence detection, and a checkpoint plus history.csv after every
/// epoch (both atomic). Resuming from a checkpoint restores weights, Adam moments and counters;
/// since the shuffle and dropout masks are functions of (seed, epoch, step), a resumed run
/// produces the same weights as an uninterrupted one on the same device.</summary>
public sealed class TrainingSession
{
    private readonly Trainer trainer;
    private readonly TrainingOptions options;
    private readonly string runDir;
    private readonly string device;
    private readonly double compileSeconds;
    private readonly List<EpochRecord> history = [];
    private int epochsCompleted;
    private double? bestValidationLoss;
    private int bestEpoch;
    private int epochsWithoutImprovement;
    private float[]? bestParameters;
    private double trainSecondsBefore;
    private int resumeStep;
    private float[]? resumeLoss;
    private int[]? resumePrediction;

    public TrainingSession(Trainer trainer, TrainingOptions options, string runDir, string device, double compileSeconds, Checkpoint? resume = null)
    {
        this.trainer = trainer;
        this.options = options;
        this.runDir = runDir;
        this.device = device;
        this.compileSeconds = compileSeconds;
        if (resume is not null)
        {
            trainer.Network.SetParameters(resume.Parameters);
            trainer.Network.SetOptimizerState(resume.FirstMoment, resume.SecondMoment, resume.State.AdamSteps);
            history.AddRange(resume.State.History);
            epochsCompleted = resume.State.EpochsCompleted;
            bestValidationLoss = resume.State.BestValidationLoss;
            bestEpoch = resume.State.BestEpoch;
            epochsWithoutImprovement = resume.State.EpochsWithoutImprovement;
            bestParameters = resume.BestParameters;
            trainSecondsBefore = resume.State.TrainSeconds;
            resumeStep = resume.State.StepsIntoEpoch;
            resumeLoss = resume.EpochLoss;
            resumePrediction = resume.EpochPrediction;
        }
    }

    public IReadOnlyList<EpochRecord> History => history;
    public int EpochsCompleted => epochsCompleted;

    /// <summary>Where training stands in the last checkpoint written, e.g. "epoch 3, step 120 of epoch 4".</summary>
    public string? LastCheckpoint { get; private set; }
    public string CheckpointPath => Path.Combine(runDir, Checkpoint.FileName);

    public TrainingOutcome Run(Action<EpochRecord>? onEpoch = null, Action<TrainingProgress>? progress = null, CancellationToken cancel = default)
    {
        var watch = Stopwatch.StartNew();
        bool stoppedEarly = options.EarlyStopPatience is int patience0 && epochsWithoutImprovement >= patience0;
        while (!stoppedEarly && epochsCompleted < options.Epochs)
        {
            int epoch = epochsCompleted + 1;
            trainer.LearningRate = options.LearningRateAt(epoch);
            EpochRecord record;
            try
            {
                record = trainer.TrainEpoch(epoch, progress, cancel, resumeStep, resumeLoss, resumePrediction);
            }
            catch (OperationCanceledException) when (trainer.StepsDoneWhenCancelled > 0)
            {
                // Interrupted between two steps: keep them, so --resume continues mid-epoch.
                var (loss, prediction) = trainer.EpochSamples(trainer.SamplesAfter(trainer.StepsDoneWhenCancelled));
                SaveCheckpoint(watch.Elapsed.TotalSeconds, trainer.StepsDoneWhenCancelled, loss, prediction);
                throw;
            }
            resumeStep = 0;
            resumeLoss = null;
            resumePrediction = null;
            if (!double.IsFinite(record.TrainLoss) || record.ValLoss is double v && !double.IsFinite(v))
            {
                string kept = epochsCompleted > 0
                    ? $"the checkpoint of epoch {epochsCompleted} in {runDir} is kept"
                    : "no checkpoint was written";
                throw new TrainingDivergedException(
                    $"training diverged in epoch {epoch}: the loss is {record.TrainLoss} (learning rate {trainer.LearningRate}); {kept}; try a smaller --lr");
            }
            history.Add(record);
            epochsCompleted = epoch;
            if (record.ValLoss is double validationLoss)
            {
                if (bestValidationLoss is null || validationLoss < bestValidationLoss)
                {
                    bestValidationLoss = validationLoss;
                    bestEpoch = epoch;
                    epochsWithoutImprovement = 0;
                    if (options.EarlyStopPatience is not null)
                        bestParameters = trainer.Network.GetParameters();
                }
                else
                {
                    epochsWithoutImprovement++;
                }
            }
            stoppedEarly = options.EarlyStopPatience is int patience && epochsWithoutImprovement >= patience;
            SaveCheckpoint(watch.Elapsed.TotalSeconds, 0, [], []);
            RunArtifacts.WriteHistoryCsv(runDir, history);
            onEpoch?.Invoke(record);
        }
        if (options.EarlyStopPatience is not null && bestParameters is not null)
            trainer.Network.SetParameters(bestParameters);
        return new TrainingOutcome(history, stoppedEarly, bestEpoch, trainSecondsBefore + watch.Elapsed.TotalSeconds);
    }

    private void SaveCheckpoint(double secondsThisSession, int stepsIntoEpoch, float[] epochLoss, int[] epochPrediction)
    {
        LastCheckpoint = stepsIntoEpoch == 0
            ? $"after epoch {epochsCompleted}"
            : $"after step {stepsIntoEpoch} of epoch {epochsCompleted + 1}";
        var (first, second) = trainer.Network.GetMoments();
        new Checkpoint
        {
            State = new CheckpointState
            {
                Options = options,
                EpochsCompleted = epochsCompleted,
                AdamSteps = trainer.Network.AdamSteps,
                BestValidationLoss = bestValidationLoss,
                BestEpoch = bestEpoch,
                EpochsWithoutImprovement = epochsWithoutImprovement,
                History = history,
                Device = device,
                TrainSeconds = trainSecondsBefore + secondsThisSession,
                CompileSeconds = compileSeconds,
                StepsIntoEpoch = stepsIntoEpoch,
            },
            Parameters = trainer.Network.GetParameters(),
            FirstMoment = first,
            SecondMoment = second,
            BestParameters = bestParameters,
            EpochLoss = epochLoss,
            EpochPrediction = epochPrediction,
        }.Save(CheckpointPath);
    }
}
