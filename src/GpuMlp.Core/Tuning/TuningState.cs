using System.Text.Json.Serialization;
using GpuMlp.Data;

namespace GpuMlp.Tuning;

/// <summary>Where a trial stands.</summary>
public enum TrialStatus
{
    /// <summary>Not trained yet (or never, when the budget ran out first).</summary>
    Pending,
    /// <summary>Trained through its latest rung and still in the race.</summary>
    Active,
    /// <summary>Eliminated by successive halving after its latest rung.</summary>
    Stopped,
    /// <summary>Trained to the maximum epochs.</summary>
    Completed,
    /// <summary>Its loss became NaN or infinite; never promoted.</summary>
    Diverged,
    /// <summary>Still in the race when the budget ran out.</summary>
    OutOfBudget,
}

/// <summary>Everything that defines a search; stored in tune.json so --resume needs no flags.</summary>
public sealed record TuningSettings
{
    public int Trials { get; init; } = 16;
    public int Eta { get; init; } = 3;
    public int MinEpochs { get; init; } = 1;
    public int MaxEpochs { get; init; } = 20;
    /// <summary>Seeds the configuration sampling and every trial's training (initialisation,
    /// shuffles, dropout), so trials differ only in their configuration.</summary>
    public int Seed { get; init; } = 1;
    /// <summary>Stop starting trial rungs that would take the trained epochs (summed over
    /// trials) past this; null for no limit.</summary>
    public long? BudgetEpochs { get; init; }
    /// <summary>Start no trial rung after this many minutes of search; null for no limit.</summary>
    public double? BudgetMinutes { get; init; }
    public double ValidationSplit { get; init; } = 0.1;
    public int? LimitTrain { get; init; }
    /// <summary>Retrain the best configuration on the whole training file, not only LimitTrain images.</summary>
    public bool FinalFull { get; init; }
    public required SearchSpaceDocument Space { get; init; }
    /// <summary>The --device request (auto, cuda, opencl, cpu).</summary>
    public string Device { get; init; } = "auto";
    public string? Data { get; init; }

    /// <summary>How the data was read (--image-size, --channels, --test-split, ...), so that a
    /// resumed search reads the same images; null for the defaults (and in files from before it was
    /// saved).</summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public Data.ImageLoadOptions? DataOptions { get; init; }

    public HalvingSchedule Schedule() => new(Trials, Eta, MinEpochs, MaxEpochs);

    /// <summary>--budget: a whole number is epochs summed over trials ("60"); a number with a unit
    /// is time: "90s", "10m" (or "10min"), "1.5h".</summary>
    public static (long? Epochs, double? Minutes) ParseBudget(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        string t = text.Trim().ToLowerInvariant();
        string error = $"--budget must be epochs (e.g. 60) or a time (e.g. 90s, 10m, 1.5h), got '{text}'";
        if (long.TryParse(t, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out long epochs))
            return epochs >= 1 ? (epochs, null) : throw new OptionException(error);
        (string number, double scale) = t.EndsWith("min", StringComparison.Ordinal) ? (t[..^3], 1.0)
            : t.EndsWith('m') ? (t[..^1], 1.0)
            : t.EndsWith('h') ? (t[..^1], 60.0)
            : t.EndsWith('s') ? (t[..^1], 1 / 60.0)
            : throw new OptionException(error);
        if (!double.TryParse(number.Trim(), System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out double value)
            || !double.IsFinite(value) || value <= 0)
            throw new OptionException(error);
        return (null, value * scale);
    }

    /// <summary>Checks ranges, and the space's architectures for data of <paramref name="schema"/>;
    /// messages start with the flag name.</summary>
    public void Validate(ImageSchema schema)
    {
        _ = Schedule();
        SearchSpace.FromDocument(Space, schema);
        if (BudgetEpochs is < 1)
            throw new OptionException($"--budget must be at least 1 epoch (got {BudgetEpochs})");
        if (BudgetMinutes is double minutes && !(minutes > 0 && double.IsFinite(minutes)))
            throw new OptionException($"--budget must be a positive time (got {minutes} minutes)");
        if (!(ValidationSplit > 0 && ValidationSplit < 1))
            throw new OptionException($"--val-split must be in (0, 1) for tuning: trials are scored on the validation split (got {ValidationSplit})");
        if (LimitTrain is < 1)
            throw new OptionException($"--limit-train must be at least 1 (got {LimitTrain})");
    }
}

/// <summary>One trial: its configuration, status and every epoch it trained.</summary>
public sealed class TrialState
{
    public required int Id { get; init; }
    public required TrialConfig Config { get; init; }
    public TrialStatus Status { get; set; }
    /// <summary>The highest rung it completed; -1 before the first.</summary>
    public int Rung { get; set; } = -1;
    public List<TrialEpoch> Epochs { get; init; } = [];

    [JsonIgnore]
    public int EpochsRun => Epochs.Count;

    [JsonIgnore]
    public double Seconds => Epochs.Sum(e => e.Seconds);

    [JsonIgnore]
    public bool HasDiverged => Epochs.Any(e => !e.IsFinite);

    /// <summary>The epoch with the lowest validation loss among epochs ≤ <paramref name="upToEpoch"/>
    /// (ties: higher accuracy, then the earlier epoch); null when none is finite.</summary>
    public TrialEpoch? Best(int upToEpoch = int.MaxValue)
    {
        TrialEpoch? best = null;
        foreach (var e in Epochs)
        {
            if (e.Epoch > upToEpoch || !e.IsFinite)
                continue;
            if (best is null || Ranking.Compare(e.ValLoss, e.ValAccuracy, best.ValLoss, best.ValAccuracy) < 0)
                best = e;
        }
        return best;
    }
}

/// <summary>The ranking rule: lower validation loss first; equal losses, higher accuracy first.</summary>
public static class Ranking
{
    public static int Compare(double lossA, double accuracyA, double lossB, double accuracyB)
    {
        int byLoss = lossA.CompareTo(lossB);
        return byLoss != 0 ? byLoss : accuracyB.CompareTo(accuracyA);
    }

    /// <summary>Trials by their best epoch up to <paramref name="upToEpoch"/>, best first; trials
    /// with no finite epoch last; equal scores by id.</summary>
    public static List<TrialState> Order(IEnumerable<TrialState> trials, int upToEpoch = int.MaxValue) =>
        trials.Order(Comparer<TrialState>.Create((a, b) =>
        {
            var x = a.Best(upToEpoch);
            var y = b.Best(upToEpoch);
            int c = (x, y) switch
            {
                (null, null) => 0,
                (null, _) => 1,
                (_, null) => -1,
                _ => Compare(x.ValLoss, x.ValAccuracy, y.ValLoss, y.ValAccuracy),
            };
            return c != 0 ? c : a.Id.CompareTo(b.Id);
        })).ToList();
}

/// <summary>A rung as run: which trials entered and (once decided) which were promoted.</summary>
public sealed class RungState
{
    public required int Index { get; init; }
    public required int Epochs { get; init; }
    public required List<int> Entered { get; init; }
    /// <summary>Null until every entered trial has finished the rung.</summary>
    public List<int>? Promoted { get; set; }
}

/// <summary>The whole search as stored in tune.json.</summary>
public sealed class TuningState
{
    public const int CurrentVersion = 1;

    public int Version { get; init; } = CurrentVersion;
    public required TuningSettings Settings { get; init; }
    /// <summary>The accelerator the trials ran on ("cpu: CPUAccelerator").</summary>
    public string? DeviceDescription { get; set; }
    public required List<TrialState> Trials { get; init; }
    public List<RungState> Rungs { get; init; } = [];
    /// <summary>Search wall time over all sessions (the final retrain not included).</summary>
    public double ElapsedSeconds { get; set; }
    /// <summary>Trained epochs summed over trials (what an epoch budget limits).</summary>
    public long SpentEpochs => Trials.Sum(t => (long)t.EpochsRun);
    public bool Finished { get; set; }
    /// <summary>completed, budget-epochs, budget-minutes or all-diverged; null while running.</summary>
    public string? StopReason { get; set; }
    public int? BestTrial { get; set; }
}
