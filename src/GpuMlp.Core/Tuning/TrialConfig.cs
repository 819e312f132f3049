using System.Globalization;
using System.Text.Json.Serialization;
using GpuMlp.Training;

namespace GpuMlp.Tuning;

/// <summary>The hyperparameters one trial trains with (epochs are the search's to choose).
/// Values are rounded when sampled (lr to 3 significant digits, dropout to 2 decimals), so they
/// print exactly and a <c>gpumlp train</c> command line reproduces them. Optimizer holds the update
/// rule and its hyperparameters (its learning rate is ignored: LearningRate is the trial's); null, as
/// in searches saved before the optimiser could be searched, is Adam with torch's defaults.</summary>
public sealed record TrialConfig(int BatchSize, float LearningRate, float Dropout, IReadOnlyList<int> Hidden, OptimizerSettings? Optimizer = null)
{
    /// <summary>The trial's optimiser at its learning rate.</summary>
    [JsonIgnore]
    public OptimizerSettings Settings => (Optimizer ?? new OptimizerSettings(OptimizerKind.Adam)) with { LearningRate = LearningRate };

    /// <summary>"adam", or "sgd --momentum 0.9": the kind and the flags of its non-default hyperparameters.</summary>
    [JsonIgnore]
    public string OptimizerText
    {
        get
        {
            string flags = Settings.CommandLineFlags();
            string kind = Settings.Kind.Name();
            return flags.Length == 0 ? kind : flags.Replace($"--optimizer {kind}", kind, StringComparison.Ordinal).Trim();
        }
    }

    /// <summary>"512,256": the <c>--hidden</c> flag's form.</summary>
    [JsonIgnore]
    public string HiddenText => string.Join(",", Hidden.Select(h => h.ToString(CultureInfo.InvariantCulture)));

    /// <summary>The template (seed, split, data limit ...) with this trial's hyperparameters and
    /// <paramref name="epochs"/> epochs (constant learning rate).</summary>
    public TrainingOptions ToOptions(TrainingOptions template, int epochs)
    {
        ArgumentNullException.ThrowIfNull(template);
        return template with
        {
            Epochs = epochs,
            BatchSize = BatchSize,
            LearningRate = LearningRate,
            Optimizer = Settings,
            Dropout = Dropout,
            Hidden = Hidden.ToArray(),
            Schedule = LearningRateSchedule.Constant,
            EarlyStopPatience = null,
        };
    }

    /// <summary>Shortest round-trip text of a float ("0.00123").</summary>
    public static string Format(float value) => value.ToString(CultureInfo.InvariantCulture);

    public override string ToString() =>
        $"batch {BatchSize.ToString(CultureInfo.InvariantCulture)}, lr {Format(LearningRate)}, dropout {Format(Dropout)}, hidden {HiddenText}"
        + (Settings.CommandLineFlags().Length == 0 ? "" : $", optimizer {OptimizerText}");

    // Value equality over the hidden widths too (the generated one compares the list reference).
    public bool Equals(TrialConfig? other) =>
        other is not null && BatchSize == other.BatchSize && LearningRate.Equals(other.LearningRate)
        && Dropout.Equals(other.Dropout) && Hidden.SequenceEqual(other.Hidden) && Settings.Equals(other.Settings);

    public override int GetHashCode()
    {
        var hash = new HashCode();
        hash.Add(BatchSize);
        hash.Add(LearningRate);
        hash.Add(Dropout);
        hash.Add(Settings);
        foreach (int h in Hidden)
            hash.Add(h);
        return hash.ToHashCode();
    }
}
