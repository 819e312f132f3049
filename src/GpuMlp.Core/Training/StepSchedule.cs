using System.Text.Json.Serialization;

namespace GpuMlp.Training;

/// <summary>How OneCycle moves between its rates (torch's anneal_strategy, by torch's names in JSON).</summary>
[JsonConverter(typeof(JsonStringEnumConverter<AnnealStrategy>))]
public enum AnnealStrategy
{
    /// <summary>Half a cosine from the start value to the end value (torch's "cos", the default).</summary>
    [JsonStringEnumMemberName("cos")]
    Cos,

    /// <summary>A straight line from the start value to the end value.</summary>
    [JsonStringEnumMemberName("linear")]
    Linear,
}

/// <summary>torch.optim.lr_scheduler.OneCycleLR's parameters, less max_lr (the optimiser's learning
/// rate, --lr) and total_steps (epochs x steps per epoch). Defaults are torch's.</summary>
public sealed record OneCycleSettings
{
    /// <summary>Fraction of the steps spent raising the rate (pct_start, in [0, 1]).</summary>
    public double PctStart { get; init; } = 0.3;

    /// <summary>initial_lr = max_lr / div_factor.</summary>
    public double DivFactor { get; init; } = 25;

    /// <summary>min_lr = initial_lr / final_div_factor.</summary>
    public double FinalDivFactor { get; init; } = 1e4;

    public AnnealStrategy Anneal { get; init; } = AnnealStrategy.Cos;

    /// <summary>Cycle Adam's/AdamW's beta1 or SGD's/RMSprop's momentum inversely to the rate, from
    /// <see cref="MaxMomentum"/> down to <see cref="BaseMomentum"/> and back (torch's cycle_momentum).
    /// The optimiser's own beta1/momentum is then replaced, as torch replaces it.</summary>
    public bool CycleMomentum { get; init; } = true;

    public double BaseMomentum { get; init; } = 0.85;

    public double MaxMomentum { get; init; } = 0.95;

    /// <summary>torch's three_phase: up, back down to initial_lr symmetrically, then annihilate to
    /// min_lr; false (two phases: up, then down to min_lr) is torch's default.</summary>
    public bool ThreePhase { get; init; }

    /// <summary>Checks every parameter with torch's ranges; the message is a one-line usage error.</summary>
    public void Validate()
    {
        if (!(PctStart is >= 0 and <= 1))
            throw new OptionException($"--onecycle-pct must be in [0, 1] (got {Format(PctStart)})");
        if (!(DivFactor > 0) || !double.IsFinite(DivFactor))
            throw new OptionException($"--div-factor must be a positive number (got {Format(DivFactor)})");
        if (!(FinalDivFactor > 0) || !double.IsFinite(FinalDivFactor))
            throw new OptionException($"--final-div-factor must be a positive number (got {Format(FinalDivFactor)})");
        if (!Enum.IsDefined(Anneal))
            throw new OptionException($"--anneal must be cos or linear (got {Anneal})");
        if (!(BaseMomentum is >= 0 and < 1) || !(MaxMomentum is >= 0 and < 1) || BaseMomentum > MaxMomentum)
            throw new OptionException($"--base-momentum and --max-momentum must satisfy 0 <= base <= max < 1 (got {Format(BaseMomentum)}, {Format(MaxMomentum)})");
    }

    /// <summary>The one step count torch's OneCycleLR divides by zero at: a first phase that ends at
    /// step 0 (pct_start x total_steps = 1), which step 0 falls into. Null when the schedule is
    /// defined for every step of <paramref name="totalSteps"/>.</summary>
    public string? Problem(long totalSteps) =>
        (PctStart * totalSteps) - 1 == 0
            ? $"--onecycle-pct {Format(PctStart)} of {totalSteps} steps leaves a warm-up of one step, which torch's OneCycleLR cannot anneal over; choose another --onecycle-pct"
            : null;

    /// <summary>The learning rate and momentum (beta1) of 0-based step <paramref name="step"/> of
    /// <paramref name="totalSteps"/>, from <paramref name="maxLearningRate"/>: OneCycleLR.get_lr
    /// transcribed (the phase table, then the anneal between the phase's ends), in double. The
    /// momentum is null without <see cref="CycleMomentum"/>.</summary>
    public (double LearningRate, double? Momentum) At(long step, long totalSteps, double maxLearningRate)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(step);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(step, totalSteps);
        double initial = maxLearningRate / DivFactor;
        double min = initial / FinalDivFactor;
        // (end_step, start_lr, end_lr, start_momentum, end_momentum), as OneCycleLR._schedule_phases.
        (double End, double StartLr, double EndLr, double StartMomentum, double EndMomentum)[] phases = ThreePhase
            ?
            [
                ((PctStart * totalSteps) - 1, initial, maxLearningRate, MaxMomentum, BaseMomentum),
                ((2 * PctStart * totalSteps) - 2, maxLearningRate, initial, BaseMomentum, MaxMomentum),
                (totalSteps - 1, initial, min, MaxMomentum, MaxMomentum),
            ]
            :
            [
                ((PctStart * totalSteps) - 1, initial, maxLearningRate, MaxMomentum, BaseMomentum),
                (totalSteps - 1, maxLearningRate, min, BaseMomentum, MaxMomentum),
            ];
        double start = 0;
        for (int i = 0; i < phases.Length; i++)
        {
            var phase = phases[i];
            if (step <= phase.End || i == phases.Length - 1)
            {
                double pct = (step - start) / (phase.End - start);
                double learningRate = Interpolate(phase.StartLr, phase.EndLr, pct);
                return (learningRate, CycleMomentum ? Interpolate(phase.StartMomentum, phase.EndMomentum, pct) : null);
            }
            start = phase.End;
        }
        throw new InvalidOperationException("OneCycle has no phases");
    }

    /// <summary>OneCycleLR._annealing_cos and _annealing_linear. Validate refuses undefined strategies,
    /// so the switch names every member and has no catch-all (CS8524 silenced, as in the optimiser
    /// registry).</summary>
    private double Interpolate(double start, double end, double pct)
    {
#pragma warning disable CS8524
        return Anneal switch
        {
            AnnealStrategy.Cos => end + ((start - end) / 2.0 * (Math.Cos(Math.PI * pct) + 1)),
            AnnealStrategy.Linear => ((end - start) * pct) + start,
        };
#pragma warning restore CS8524
    }

    /// <summary>"pct_start 0.3, div_factor 25, final_div_factor 10000, anneal cos, momentum
    /// 0.95->0.85->0.95": torch's names, for logs.</summary>
    public string Describe() =>
        $"pct_start {Format(PctStart)}, div_factor {Format(DivFactor)}, final_div_factor {Format(FinalDivFactor)}, anneal {(Anneal == AnnealStrategy.Cos ? "cos" : "linear")}, "
        + (CycleMomentum ? $"momentum {Format(MaxMomentum)}->{Format(BaseMomentum)}->{Format(MaxMomentum)}" : "momentum not cycled")
        + (ThreePhase ? ", three phases" : "");

    /// <summary>torch's defaults, the settings of a OneCycle run without OneCycle flags.</summary>
    internal static OneCycleSettings Torch { get; } = new();

    private static string Format(double value) => value.ToString(System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary>The optimiser's hyperparameters a per-step schedule sets before one step: the learning
/// rate, and (OneCycle with cycle_momentum) Adam's beta1 or SGD's/RMSprop's momentum; null keeps the
/// optimiser's own.</summary>
public readonly record struct StepHyperparameters(float LearningRate, float? Momentum);
