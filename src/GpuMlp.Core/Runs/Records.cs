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
