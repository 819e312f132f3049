using System.CommandLine;
using System.Globalization;
using GpuMlp.Training;

namespace GpuMlp.Cli;

/// <summary>`gpumlp train`'s optimiser flags: --optimizer and the torch.optim hyperparameters. A flag
/// the chosen optimiser does not use is a usage error, even with a value that changes nothing.</summary>
public sealed class OptimizerOptions
{
    public Option<string> Optimizer { get; } = new("--optimizer")
    {
        Description = Optimizers.JoinNames(Optimizers.Names.Select(n => n == "adam" ? "adam (the report's)" : n).ToList(), "or")
            + "; the update rules are torch.optim's",
        DefaultValueFactory = _ => "adam",
    };

    public Option<float?> LearningRate { get; } = new("--lr")
    {
        Description = $"Learning rate (default: {DefaultLearningRates()})",
    };

    public Option<float?> WeightDecay { get; } = new(OptimizerFlags.WeightDecay)
    {
        Description = "adam, sgd, rmsprop: L2 penalty added to the gradient (default 0); adamw: decoupled decay (default 0.01)",
    };

    public Option<string?> Betas { get; } = new(OptimizerFlags.Betas)
    {
        Description = $"{UsedBy(OptimizerFlags.Betas)}: BETA1,BETA2 (default 0.9,0.999)",
    };

    public Option<float?> Epsilon { get; } = new(OptimizerFlags.Eps)
    {
        Description = $"{UsedBy(OptimizerFlags.Eps)}: added to the denominator (default 1e-8)",
    };

    public Option<float?> Momentum { get; } = new(OptimizerFlags.Momentum)
    {
        Description = $"{UsedBy(OptimizerFlags.Momentum)}: momentum factor (default 0)",
    };

    public Option<float?> Dampening { get; } = new(OptimizerFlags.Dampening)
    {
        Description = $"{UsedBy(OptimizerFlags.Dampening)}: dampening of the momentum (default 0)",
    };

    public Option<bool> Nesterov { get; } = new(OptimizerFlags.Nesterov)
    {
        Description = $"{UsedBy(OptimizerFlags.Nesterov)}: Nesterov momentum (needs --momentum > 0 and --dampening 0)",
    };

    public Option<float?> Alpha { get; } = new(OptimizerFlags.Alpha)
    {
        Description = $"{UsedBy(OptimizerFlags.Alpha)}: smoothing constant (default 0.99)",
    };

    public Option<bool> Centered { get; } = new(OptimizerFlags.Centered)
    {
        Description = $"{UsedBy(OptimizerFlags.Centered)}: normalise by the estimated variance of the gradient",
    };

    public IEnumerable<Option> All => [Optimizer, LearningRate, WeightDecay, Betas, Epsilon, Momentum, Dampening, Nesterov, Alpha, Centered];

    /// <summary>The hyperparameter flags (all but --optimizer and --lr), one per
    /// <see cref="OptimizerFlags.All"/>.</summary>
    public IReadOnlyList<Option> Hyperparameters => [WeightDecay, Betas, Epsilon, Momentum, Dampening, Nesterov, Alpha, Centered];

    /// <summary>The settings the flags ask for: torch's defaults for the kind, overridden by the flags
    /// given, the learning rate included. Throws <see cref="OptionException"/> for a flag the kind does
    /// not use or a value out of range.</summary>
    public OptimizerSettings Parse(ParseResult parse)
    {
        ArgumentNullException.ThrowIfNull(parse);
        OptimizerKind kind;
        try
        {
            kind = Optimizers.Parse(parse.GetValue(Optimizer) ?? "adam");
        }
        catch (ArgumentException error)
        {
            throw new OptionException(error.Message);
        }
        var used = Optimizers.FlagsUsedBy(kind);
        foreach (var option in Hyperparameters)
        {
            if (CommonOptions.Given(parse, option) && !used.Contains(option.Name, StringComparer.Ordinal))
                throw new OptionException(Optimizers.NotUsedMessage(option.Name, kind));
        }
        var defaults = new OptimizerSettings(kind);
        var (beta1, beta2) = parse.GetValue(Betas) is string betas ? ParseBetas(betas) : (defaults.Beta1, defaults.Beta2);
        var settings = defaults with
        {
            LearningRate = parse.GetValue(LearningRate) ?? defaults.LearningRate,
            WeightDecay = parse.GetValue(WeightDecay) ?? defaults.WeightDecay,
            Beta1 = beta1,
            Beta2 = beta2,
            Epsilon = parse.GetValue(Epsilon) ?? defaults.Epsilon,
            Momentum = parse.GetValue(Momentum) ?? defaults.Momentum,
            Dampening = parse.GetValue(Dampening) ?? defaults.Dampening,
            Nesterov = parse.GetValue(Nesterov),
            Alpha = parse.GetValue(Alpha) ?? defaults.Alpha,
            Centered = parse.GetValue(Centered),
        };
        try
        {
            settings.Validate();
        }
        catch (ArgumentException error) when (error is not OptionException)
        {
            throw new OptionException(error.Message);
        }
        return settings;
    }

    /// <summary>With --resume the run continues with its saved optimiser: --optimizer naming another
    /// one is refused, and so is any hyperparameter flag (they cannot change mid-run).</summary>
    public void CheckResume(ParseResult parse, OptimizerSettings saved, string folder)
    {
        ArgumentNullException.ThrowIfNull(parse);
        ArgumentNullException.ThrowIfNull(saved);
        if (CommonOptions.Given(parse, Optimizer))
        {
            OptimizerKind requested;
            try
            {
                requested = Optimizers.Parse(parse.GetValue(Optimizer) ?? "");
            }
            catch (ArgumentException error)
            {
                throw new OptionException(error.Message);
            }
            if (requested != saved.Kind)
                throw new OptionException(
                    $"--resume {folder}: the run trains with {saved.Kind.Name()}; it cannot continue with --optimizer {requested.Name()} (start a new run instead)");
        }
        var given = Hyperparameters.Append(LearningRate).Where(o => CommonOptions.Given(parse, o)).Select(o => o.Name).ToList();
        if (given.Count > 0)
            throw new OptionException(
                $"--resume continues with the run's saved optimizer, {saved.Describe()}; do not combine it with {string.Join(", ", given)}");
    }

    // "sgd, rmsprop": the optimisers that accept the flag, from their definitions.
    private static string UsedBy(string flag) => string.Join(", ", Optimizers.NamesUsing(flag));

    // "0.001 for adam and adamw, 0.01 for sgd and rmsprop", from the definitions' defaults.
    private static string DefaultLearningRates() => string.Join(", ", Optimizers.All
        .GroupBy(kind => new OptimizerSettings(kind).LearningRate)
        .Select(group => $"{group.Key.ToString(CultureInfo.InvariantCulture)} for {Optimizers.JoinNames(group.Select(k => k.Name()).ToList(), "and")}"));

    private static (float Beta1, float Beta2) ParseBetas(string text)
    {
        var parts = text.Split(',', StringSplitOptions.TrimEntries);
        if (parts.Length == 2
            && float.TryParse(parts[0], NumberStyles.Float, CultureInfo.InvariantCulture, out float beta1)
            && float.TryParse(parts[1], NumberStyles.Float, CultureInfo.InvariantCulture, out float beta2))
            return (beta1, beta2);
        throw new OptionException($"--betas must be two numbers BETA1,BETA2, e.g. 0.9,0.999 (got '{text}')");
    }
}
