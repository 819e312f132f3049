using System.Text.Json.Serialization;

namespace GpuMlp.Tuning;

/// <summary>One trained epoch of a trial, scored on the validation split.</summary>
public sealed record TrialEpoch(int Epoch, double TrainLoss, double TrainAccuracy, double ValLoss, double ValAccuracy, double Seconds)
{
    /// <summary>False for a diverged epoch (NaN or infinite loss).</summary>
    [JsonIgnore]
    public bool IsFinite => double.IsFinite(TrainLoss) && double.IsFinite(ValLoss);
}

/// <summary>A request to train trial <paramref name="Trial"/> from epoch <paramref name="FromEpoch"/>
/// through <paramref name="ToEpoch"/> (1-based, inclusive). <paramref name="KeepState"/> is false
/// when the trial will certainly not be continued afterwards (the last rung).</summary>
public sealed record TrialRun(int Trial, TrialConfig Config, int FromEpoch, int ToEpoch, bool KeepState);

/// <summary>What the search optimises: trains trials and scores them on the validation split.
/// The real one (<see cref="TrainerObjective"/>) trains on the device; tests use a fake.</summary>
public interface ITrialObjective
{
    /// <summary>Trains <paramref name="run"/> and returns one record per trained epoch, in order
    /// (FromEpoch first). The trial has completed FromEpoch − 1 epochs before: the objective
    /// continues the trial's live state, or restores it (from a checkpoint, or by training again
    /// from scratch). It may return fewer epochs than asked only when the last one diverged.</summary>
    IReadOnlyList<TrialEpoch> Run(TrialRun run, CancellationToken cancel);

    /// <summary>The trial will not be trained again: free whatever it holds (idempotent; also
    /// called for trials the objective has never seen).</summary>
    void Release(int trial);
}
