namespace GpuMlp.Runs;

/// <summary>One row of training history. Validation values are null when no validation split was used.</summary>
public sealed record EpochRecord(
    int Epoch,
    double TrainLoss,
    double TrainAccuracy,
    double? ValLoss,
    double? ValAccuracy,
    double Seconds,
    double SamplesPerSecond);

/// <summary>Wall-clock split between kernel compilation (one-off) and training proper.</summary>
public sealed record TimingRecord(double CompileSeconds, double TrainSeconds);

/// <summary>The "target" section of metrics.json (train --target-accuracy): the validation accuracy
/// aimed at, the epoch that reached it (null: not reached in the run's epochs), the seconds of
/// training up to the end of that epoch (steps, the per-epoch validation and checkpoint; start-up
/// and kernel compilation excluded), the seconds from the process's start to the same moment
/// (everything included), and the epoch whose weights the model file holds and the test figures
/// measure: the last epoch trained, or with --early-stop the lowest validation loss's, which may
/// come before the target's (null in files written before it was recorded).</summary>
public sealed record TargetRecord(double ValAccuracy, int? ReachedEpoch, double? TrainSeconds, double? SinceStartSeconds, int? WeightsEpoch = null);
