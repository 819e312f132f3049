using System.Globalization;
using System.Text.Json.Serialization;
using GpuMlp.Data;
using GpuMlp.Training;

namespace GpuMlp.Tuning;

/// <summary>The hyperparameters one trial trains with (epochs are the search's to choose).
/// Values are rounded when sampled (lr to 3 significant digits, dropout to 2 decimals), so they
/// print exactly and a <c>gpumlp train</c> command line reproduces them. LearningRate is the
/// trial's sampled rate, one of the search's axes; Optimizer holds the update rule and its other
/// hyperparameters (the rate it carries is replaced by LearningRate, see <see cref="Settings"/>);
/// null, as in searches saved before the optimiser could be searched, is Adam with torch's defaults.
///
/// Architecture is the network: null (and absent from the JSON) is the report's MLP of Hidden
/// with Dropout after each hidden ReLU; otherwise the canonical text of a layer stack
/// (<see cref="Training.Architecture"/>), whose own dropout layers apply. Dropout and Hidden
/// describe the MLP alone, so a stack trial has neither (null: not applicable). AugmentShift is
/// the training images' random shift in pixels (<see cref="TrainingOptions.AugmentShift"/>): the
/// CNN preset's for a "cnn" choice, else 0 (absent from the JSON). Distortion is the trial's
/// sampled training distortion (<see cref="TrainingOptions.Distortion"/>); null (absent) is none.</summary>
public sealed record TrialConfig(
    int BatchSize,
    float LearningRate,
    float? Dropout,
    IReadOnlyList<int>? Hidden,
    OptimizerSettings? Optimizer = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Architecture = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] int AugmentShift = 0,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Schedule = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] float LabelSmoothing = 0f,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] float? EmaDecay = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] ImageDistortion? Distortion = null)
{
    /// <summary>The trial's learning-rate schedule: <see cref="Schedule"/>'s name, null the constant rate.</summary>
    [JsonIgnore]
    public LearningRateSchedule ScheduleKind => Schedule is null ? LearningRateSchedule.Constant : LearningRateSchedules.Parse(Schedule, "schedule");

    /// <summary>", schedule onecycle, label smoothing 0.1, ema 0.999" for what the trial sets; empty
    /// for none (trials of searches without them print as they always did).</summary>
    [JsonIgnore]
    public string RecipeText =>
        (Schedule is null ? "" : $", schedule {Schedule}")
        + (LabelSmoothing == 0f ? "" : $", label smoothing {Format(LabelSmoothing)}")
        + (EmaDecay is float decay ? $", ema {Format(decay)}" : "");

    /// <summary>A trial of the report's MLP.</summary>
    public static TrialConfig Mlp(int batchSize, float learningRate, float dropout, IReadOnlyList<int> hidden, OptimizerSettings? optimizer = null) =>
        new(batchSize, learningRate, dropout, hidden, optimizer);

    /// <summary>A trial of a layer stack (canonical text), its training images shifted by up to
    /// <paramref name="augmentShift"/> pixels.</summary>
    public static TrialConfig Stack(int batchSize, float learningRate, string architectureText, OptimizerSettings? optimizer = null, int augmentShift = 0) =>
        new(batchSize, learningRate, null, null, optimizer, architectureText ?? throw new ArgumentNullException(nameof(architectureText)), augmentShift);

    /// <summary>True for the report's MLP (Dropout and Hidden apply).</summary>
    [JsonIgnore]
    public bool IsMlp => Architecture is null;

    /// <summary>"mlp", "cnn" (the preset: its stack with its shifts) or the stack's text: the
    /// choice as the search space lists it, and the name tune.csv and the printed table show.</summary>
    [JsonIgnore]
    public string ArchitectureName => ArchitectureChoice.Name(Architecture, AugmentShift);

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

    /// <summary>"512,256": the <c>--hidden</c> flag's form; empty for a stack.</summary>
    [JsonIgnore]
    public string HiddenText => Hidden is null ? "" : string.Join(",", Hidden.Select(h => h.ToString(CultureInfo.InvariantCulture)));

    /// <summary>Checks what a file may get wrong: an MLP trial needs Dropout and Hidden, a stack
    /// trial has neither and a canonical text that fits data of <paramref name="schema"/>. The
    /// message is one line.</summary>
    /// <exception cref="InvalidDataException">The configuration is inconsistent.</exception>
    public void Check(ImageSchema schema)
    {
        if (AugmentShift is < 0 or > TrainingOptions.MaxAugmentShift)
            throw new InvalidDataException($"augment_shift must be in 0..{TrainingOptions.MaxAugmentShift} (got {AugmentShift})");
        try
        {
            _ = ScheduleKind;
        }
        catch (OptionException error)
        {
            throw new InvalidDataException(error.Message, error);
        }
        try
        {
            Distortion?.Validate();
        }
        catch (OptionException error)
        {
            throw new InvalidDataException($"distortion: {error.Message}", error);
        }
        if (!(LabelSmoothing is >= 0f and <= 1f))
            throw new InvalidDataException($"label_smoothing must be in [0, 1] (got {Format(LabelSmoothing)})");
        if (EmaDecay is float ema && !(ema is >= 0f and < 1f))
            throw new InvalidDataException($"ema_decay must be in [0, 1) (got {Format(ema)})");
        if (IsMlp)
        {
            if (Dropout is null || Hidden is not { Count: > 0 })
                throw new InvalidDataException("an MLP trial (no architecture) needs dropout and hidden");
            return;
        }
        if (Dropout is not null || Hidden is not null)
            throw new InvalidDataException($"trial of architecture {Architecture}: dropout and hidden apply to the MLP only and must be null");
        try
        {
            if (ArchitectureChoice.Resolve(Architecture!, schema) != Architecture)
                throw new InvalidDataException($"architecture '{Architecture}' is not in its canonical form");
        }
        catch (ArchitectureException error)
        {
            throw new InvalidDataException(error.Message, error);
        }
    }

    /// <summary>The template (seed, split, data limit ...) with this trial's hyperparameters and
    /// <paramref name="epochs"/> epochs, its schedule (with that schedule's defaults) spanning them,
    /// its label smoothing and EMA. A stack trial keeps the template's
    /// Dropout and Hidden, which a stack ignores.</summary>
    public TrainingOptions ToOptions(TrainingOptions template, int epochs)
    {
        ArgumentNullException.ThrowIfNull(template);
        return template with
        {
            Epochs = epochs,
            BatchSize = BatchSize,
            Optimizer = Settings,
            Dropout = Dropout ?? template.Dropout,
            Hidden = Hidden?.ToArray() ?? template.Hidden,
            ArchitectureText = Architecture,
            AugmentShift = AugmentShift,
            Schedule = ScheduleKind,
            OneCycle = null,
            WarmupSteps = 0,
            WarmupStartFactor = null,
            LabelSmoothing = LabelSmoothing,
            EmaDecay = EmaDecay,
            Distortion = Distortion,
            EarlyStopPatience = null,
        };
    }

    /// <summary>Shortest round-trip text of a float ("0.00123").</summary>
    public static string Format(float value) => value.ToString(CultureInfo.InvariantCulture);

    /// <summary>"batch 64, lr 0.001, dropout 0.2, hidden 512,256" for the MLP (as before stacks
    /// could be searched), "batch 64, lr 0.001, arch cnn" for a stack; then the optimiser when
    /// it is not Adam with its defaults.</summary>
    public override string ToString() =>
        $"batch {BatchSize.ToString(CultureInfo.InvariantCulture)}, lr {Format(LearningRate)}, "
        + (IsMlp ? $"dropout {Format(Dropout.GetValueOrDefault())}, hidden {HiddenText}" : $"arch {ArchitectureName}")
        + (AugmentShift > 0 && ArchitectureName != ArchitectureChoice.Cnn ? $", shift {AugmentShift.ToString(CultureInfo.InvariantCulture)}" : "")
        + (Settings.CommandLineFlags().Length == 0 ? "" : $", optimizer {OptimizerText}")
        + RecipeText
        + (Distortion is { IsActive: true } distortion ? $", distortion {distortion}" : "");

    // Value equality over the hidden widths too (the generated one compares the list reference).
    public bool Equals(TrialConfig? other) =>
        other is not null && BatchSize == other.BatchSize && LearningRate.Equals(other.LearningRate)
        && Nullable.Equals(Dropout, other.Dropout)
        && (Hidden is null ? other.Hidden is null : other.Hidden is not null && Hidden.SequenceEqual(other.Hidden))
        && Settings.Equals(other.Settings) && Architecture == other.Architecture && AugmentShift == other.AugmentShift
        && Schedule == other.Schedule && LabelSmoothing.Equals(other.LabelSmoothing) && Nullable.Equals(EmaDecay, other.EmaDecay)
        && Distortion == other.Distortion;

    public override int GetHashCode()
    {
        var hash = new HashCode();
        hash.Add(BatchSize);
        hash.Add(LearningRate);
        hash.Add(Dropout);
        hash.Add(Settings);
        hash.Add(Architecture);
        hash.Add(AugmentShift);
        hash.Add(Schedule);
        hash.Add(LabelSmoothing);
        hash.Add(EmaDecay);
        hash.Add(Distortion);
        foreach (int h in Hidden ?? [])
            hash.Add(h);
        return hash.ToHashCode();
    }
}
