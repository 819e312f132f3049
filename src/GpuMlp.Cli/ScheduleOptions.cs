using System.CommandLine;
using GpuMlp.Training;

namespace GpuMlp.Cli;

/// <summary>`gpumlp train`'s schedule and regularisation flags: --lr-schedule with OneCycle's and the
/// warm-up's parameters, --label-smoothing and --ema. A parameter of a schedule not chosen is a usage
/// error, as an optimiser flag the optimiser does not use is.</summary>
public sealed class ScheduleOptions
{
    public Option<string> Schedule { get; } = new("--lr-schedule")
    {
        Description = "Per epoch: constant, step (halve every 5 epochs) or cosine; per step: onecycle (torch's OneCycleLR, max_lr = --lr), "
            + "linear or cosine-steps (to 0 at the last step, after --warmup-steps)",
        DefaultValueFactory = _ => "constant",
    };

    public Option<double?> OneCyclePct { get; } = new("--onecycle-pct")
    {
        Description = "onecycle: fraction of the steps spent raising the rate (pct_start, default 0.3)",
    };

    public Option<double?> DivFactor { get; } = new("--div-factor")
    {
        Description = "onecycle: initial lr = --lr / div_factor (default 25)",
    };

    public Option<double?> FinalDivFactor { get; } = new("--final-div-factor")
    {
        Description = "onecycle: final lr = initial lr / final_div_factor (default 1e4)",
    };

    public Option<string?> Anneal { get; } = new("--anneal")
    {
        Description = "onecycle: cos (default) or linear",
    };

    public Option<string?> CycleMomentum { get; } = new("--cycle-momentum")
    {
        Description = "onecycle: on (default; beta1 or momentum cycles inversely to the rate, replacing --betas' first or --momentum) or off",
    };

    public Option<double?> BaseMomentum { get; } = new("--base-momentum")
    {
        Description = "onecycle with --cycle-momentum on: the momentum (beta1) at the peak rate (base_momentum, default 0.85)",
    };

    public Option<double?> MaxMomentum { get; } = new("--max-momentum")
    {
        Description = "onecycle with --cycle-momentum on: the momentum (beta1) at the start and end (max_momentum, default 0.95)",
    };

    public Option<bool> ThreePhase { get; } = new("--three-phase")
    {
        Description = "onecycle: torch's three_phase (up, back down to the initial lr, then down to the final lr)",
    };

    public Option<int?> WarmupSteps { get; } = new("--warmup-steps")
    {
        Description = "constant, linear, cosine-steps: raise the rate linearly over this many steps first (torch's LinearLR)",
    };

    public Option<double?> WarmupStartFactor { get; } = new("--warmup-start-factor")
    {
        Description = "with --warmup-steps: the first step's fraction of --lr, in (0, 1] (default 1/3, torch's)",
    };

    public Option<float?> LabelSmoothing { get; } = new("--label-smoothing")
    {
        Description = "Label smoothing of the training loss, in [0, 1] (torch's CrossEntropyLoss(label_smoothing); default 0)",
    };

    public Option<float?> Ema { get; } = new("--ema")
    {
        Description = "Keep an exponential moving average of the weights with this decay, in [0, 1), updated every step; "
            + "validation, test and the saved model use it (default: off)",
    };

    public IEnumerable<Option> All =>
        [Schedule, OneCyclePct, DivFactor, FinalDivFactor, Anneal, CycleMomentum, BaseMomentum, MaxMomentum, ThreePhase, WarmupSteps, WarmupStartFactor, LabelSmoothing, Ema];

    /// <summary>OneCycle's own flags.</summary>
    private IReadOnlyList<Option> OneCycleFlags => [OneCyclePct, DivFactor, FinalDivFactor, Anneal, CycleMomentum, BaseMomentum, MaxMomentum, ThreePhase];

    /// <summary><paramref name="options"/> with the flags' schedule, label smoothing and EMA. Throws
    /// <see cref="OptionException"/> for a OneCycle flag without --lr-schedule onecycle or a value
    /// that does not parse; ranges are TrainingOptions.Validate's to check.</summary>
    public TrainingOptions Apply(ParseResult parse, TrainingOptions options)
    {
        ArgumentNullException.ThrowIfNull(parse);
        ArgumentNullException.ThrowIfNull(options);
        var schedule = LearningRateSchedules.Parse(parse.GetValue(Schedule) ?? "constant");
        OneCycleSettings? oneCycle = null;
        if (schedule == LearningRateSchedule.OneCycle)
        {
            var torch = new OneCycleSettings();
            oneCycle = torch with
            {
                PctStart = parse.GetValue(OneCyclePct) ?? torch.PctStart,
                DivFactor = parse.GetValue(DivFactor) ?? torch.DivFactor,
                FinalDivFactor = parse.GetValue(FinalDivFactor) ?? torch.FinalDivFactor,
                Anneal = parse.GetValue(Anneal) is string anneal ? ParseAnneal(anneal) : torch.Anneal,
                CycleMomentum = parse.GetValue(CycleMomentum) is string cycle ? ParseOnOff(cycle, CycleMomentum.Name) : torch.CycleMomentum,
                BaseMomentum = parse.GetValue(BaseMomentum) ?? torch.BaseMomentum,
                MaxMomentum = parse.GetValue(MaxMomentum) ?? torch.MaxMomentum,
                ThreePhase = parse.GetValue(ThreePhase),
            };
        }
        else if (OneCycleFlags.FirstOrDefault(option => CommonOptions.Given(parse, option)) is Option stray)
        {
            throw new OptionException($"{stray.Name} applies to --lr-schedule onecycle, not {schedule.Name()}");
        }
        return options with
        {
            Schedule = schedule,
            OneCycle = oneCycle,
            WarmupSteps = parse.GetValue(WarmupSteps) ?? 0,
            WarmupStartFactor = parse.GetValue(WarmupStartFactor),
            LabelSmoothing = parse.GetValue(LabelSmoothing) ?? 0f,
            EmaDecay = parse.GetValue(Ema),
        };
    }

    /// <summary>With --resume the run continues with its saved schedule, smoothing and average: any of
    /// these flags is refused (they cannot change mid-run).</summary>
    public void CheckResume(ParseResult parse, string folder)
    {
        ArgumentNullException.ThrowIfNull(parse);
        var given = All.Where(o => CommonOptions.Given(parse, o)).Select(o => o.Name).ToList();
        if (given.Count > 0)
            throw new OptionException($"--resume {folder} continues with the run's saved schedule; do not combine it with {string.Join(", ", given)}");
    }

    /// <summary>"cos" or "linear".</summary>
    public static AnnealStrategy ParseAnneal(string text) => text.Trim().ToLowerInvariant() switch
    {
        "cos" => AnnealStrategy.Cos,
        "linear" => AnnealStrategy.Linear,
        _ => throw new OptionException($"--anneal must be cos or linear (got '{text}')"),
    };

    private static bool ParseOnOff(string text, string flag) => text.Trim().ToLowerInvariant() switch
    {
        "on" => true,
        "off" => false,
        _ => throw new OptionException($"{flag} must be on or off (got '{text}')"),
    };
}
