using System.Globalization;
using System.Text.Json.Serialization;

namespace GpuMlp.Training;

/// <summary>The parameter update rule, each as the torch.optim class of the same name.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<OptimizerKind>))]
public enum OptimizerKind
{
    /// <summary>torch.optim.Adam: weight decay is an L2 term added to the gradient.</summary>
    [JsonStringEnumMemberName("adam")]
    Adam,

    /// <summary>torch.optim.AdamW: weight decay shrinks the parameters (p *= 1 - lr * wd) before the Adam step.</summary>
    [JsonStringEnumMemberName("adamw")]
    AdamW,

    /// <summary>torch.optim.SGD with optional momentum, dampening and Nesterov momentum.</summary>
    [JsonStringEnumMemberName("sgd")]
    Sgd,

    /// <summary>torch.optim.RMSprop, optionally centered and with momentum.</summary>
    [JsonStringEnumMemberName("rmsprop")]
    Rmsprop,
}

/// <summary>The optimisers' command-line names (adam, adamw, sgd, rmsprop) and the names of the state
/// tensors they keep, as torch.optim's state_dict() names them.</summary>
public static class Optimizers
{
    /// <summary>Adam/AdamW first moment m.</summary>
    public const string ExpAvg = "exp_avg";

    /// <summary>Adam/AdamW second moment v.</summary>
    public const string ExpAvgSq = "exp_avg_sq";

    /// <summary>SGD's and RMSprop's momentum buffer b.</summary>
    public const string MomentumBuffer = "momentum_buffer";

    /// <summary>RMSprop's running average of squared gradients v.</summary>
    public const string SquareAvg = "square_avg";

    /// <summary>Centered RMSprop's running average of gradients.</summary>
    public const string GradAvg = "grad_avg";

    /// <summary>Every optimiser, in the enum's order (adam, adamw, sgd, rmsprop).</summary>
    public static IReadOnlyList<OptimizerKind> All { get; } = Enum.GetValues<OptimizerKind>();

    /// <summary>The registry: the one definition of each optimiser. The switch has no discard arm on
    /// purpose, so an enum member without a definition is a compile error (CS8509, warnings are
    /// errors); CS8524, the warning for unnamed values such as (OptimizerKind)99, is silenced
    /// because the guard above the switch refuses those.</summary>
    public static OptimizerDefinition Definition(this OptimizerKind kind)
    {
        if (!Enum.IsDefined(kind))
            throw new ArgumentOutOfRangeException(nameof(kind), kind, "unknown optimizer");
#pragma warning disable CS8524
        return kind switch
        {
            OptimizerKind.Adam => AdamDefinition.Instance,
            OptimizerKind.AdamW => AdamWDefinition.Instance,
            OptimizerKind.Sgd => SgdDefinition.Instance,
            OptimizerKind.Rmsprop => RmspropDefinition.Instance,
        };
#pragma warning restore CS8524
    }

    public static string Name(this OptimizerKind kind) => kind.Definition().Name;

    /// <summary>The hyperparameter flags each optimiser uses (--lr applies to all). Giving any other
    /// is a usage error, even with a value that changes nothing.</summary>
    public static IReadOnlyList<string> FlagsUsedBy(OptimizerKind kind) => kind.Definition().Flags;

    /// <summary>"--momentum applies to sgd and rmsprop, not adam": the one-line refusal of a flag
    /// the chosen optimiser does not use (the same words <see cref="OptimizerSettings.Validate"/> uses).</summary>
    public static string NotUsedMessage(string flag, OptimizerKind kind)
    {
        var users = NamesUsing(flag);
        string list = users.Count == 0 ? "no optimizer" : JoinNames(users, "and");
        return $"{flag} applies to {list}, not {kind.Name()}";
    }

    /// <summary>Parses a command-line name (case-insensitive); the error is a one-line usage message.</summary>
    public static OptimizerKind Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        string name = text.Trim().ToLowerInvariant();
        foreach (var kind in All)
        {
            if (kind.Name() == name)
                return kind;
        }
        throw new ArgumentException($"--optimizer must be {JoinNames(Names, "or")} (got '{text}')");
    }

    /// <summary>Every optimiser's name, in <see cref="All"/>'s order.</summary>
    public static IReadOnlyList<string> Names => All.Select(k => k.Name()).ToList();

    /// <summary>The names of the optimisers that accept <paramref name="flag"/>.</summary>
    public static IReadOnlyList<string> NamesUsing(string flag) =>
        All.Where(k => k.Definition().Uses(flag)).Select(k => k.Name()).ToList();

    /// <summary>"adam, adamw, sgd or rmsprop": a list in prose.</summary>
    public static string JoinNames(IReadOnlyList<string> names, string conjunction) => names.Count switch
    {
        0 => "",
        1 => names[0],
        _ => string.Join(", ", names.Take(names.Count - 1)) + $" {conjunction} " + names[^1],
    };
}

/// <summary>The hyperparameter flags, one per hyperparameter of <see cref="OptimizerSettings"/> but
/// the learning rate; each definition lists those it accepts.</summary>
public static class OptimizerFlags
{
    public const string WeightDecay = "--weight-decay";
    public const string Betas = "--betas";
    public const string Eps = "--eps";
    public const string Momentum = "--momentum";
    public const string Dampening = "--dampening";
    public const string Nesterov = "--nesterov";
    public const string Alpha = "--alpha";
    public const string Centered = "--centered";

    /// <summary>Every flag, in the order Validate checks them.</summary>
    public static IReadOnlyList<string> All { get; } = [WeightDecay, Betas, Eps, Momentum, Dampening, Nesterov, Alpha, Centered];
}

/// <summary>One optimiser's hyperparameters. <c>new OptimizerSettings(kind)</c> holds PyTorch's
/// defaults for that kind (torch.optim, 2.x), as its definition (AdamDefinition, AdamWDefinition,
/// SgdDefinition, RmspropDefinition) fills them in.
/// A hyperparameter the kind does not use is 0 (false) and must stay so (Validate refuses it, so a
/// flag given to the wrong optimiser is an error rather than silently ignored). Override with an
/// initializer or <c>with</c>: <c>new OptimizerSettings(OptimizerKind.Sgd) { Momentum = 0.9f }</c>.
/// Hyperparameters are float32, as the kernels compute.</summary>
public sealed record OptimizerSettings
{
    public OptimizerSettings(OptimizerKind kind)
        : this(kind.Definition().WithDefaults(new OptimizerSettings(kind, blank: true)))
    {
    }

    // Every hyperparameter 0 or false: what a definition fills its defaults into.
    private OptimizerSettings(OptimizerKind kind, bool blank)
    {
        _ = blank;
        Kind = kind;
    }

    public OptimizerKind Kind { get; }

    /// <summary>The base learning rate (a schedule may scale it per epoch; every step takes its own lr).</summary>
    public float LearningRate { get; init; }

    /// <summary>adam: L2 penalty added to the gradient; adamw: decoupled decay; sgd, rmsprop: L2 penalty.</summary>
    public float WeightDecay { get; init; }

    /// <summary>adam, adamw: decay of the first moment.</summary>
    public float Beta1 { get; init; }

    /// <summary>adam, adamw: decay of the second moment.</summary>
    public float Beta2 { get; init; }

    /// <summary>adam, adamw, rmsprop: added to the denominator after the square root.</summary>
    public float Epsilon { get; init; }

    /// <summary>sgd, rmsprop: momentum factor (0: no momentum buffer is kept).</summary>
    public float Momentum { get; init; }

    /// <summary>sgd: dampening of the gradient added to the momentum buffer (not on the first step).</summary>
    public float Dampening { get; init; }

    /// <summary>sgd: Nesterov momentum (needs momentum &gt; 0 and dampening 0).</summary>
    public bool Nesterov { get; init; }

    /// <summary>rmsprop: smoothing constant of the squared-gradient average.</summary>
    public float Alpha { get; init; }

    /// <summary>rmsprop: normalise by an estimate of the gradient's variance (keeps grad_avg).</summary>
    public bool Centered { get; init; }

    /// <summary>The state tensors this optimiser keeps, each as long as the parameters, in torch's
    /// state_dict names and order: adam/adamw exp_avg, exp_avg_sq; sgd momentum_buffer (only with
    /// momentum); rmsprop square_avg, then momentum_buffer (momentum &gt; 0) and grad_avg (centered).</summary>
    [JsonIgnore]
    public IReadOnlyList<string> StateNames => Definition.StateNames(this);

    /// <summary>The optimiser's one definition (defaults, flags, state, step).</summary>
    [JsonIgnore]
    public OptimizerDefinition Definition => Kind.Definition();

    /// <summary>Checks every hyperparameter; the message is a one-line usage error naming the flag.
    /// The ranges are torch's (lr, eps, weight_decay, momentum, alpha &gt;= 0, betas in [0, 1), Nesterov
    /// needs momentum and no dampening) with three refusals torch does not make because the run could
    /// only fail: lr and eps must be positive, and momentum, dampening and alpha must be below (alpha,
    /// momentum) or at most (dampening) 1.</summary>
    public void Validate()
    {
        var definition = Definition;
        if (!(LearningRate > 0f) || float.IsInfinity(LearningRate))
            throw new ArgumentException($"--lr must be a positive number (got {Format(LearningRate)})");
        // In OptimizerFlags.All's order: a flag the optimiser uses is range-checked, any other must
        // keep its 0 (false).
        foreach (string flag in OptimizerFlags.All)
        {
            if (definition.Uses(flag))
                CheckRange(flag);
            else if (IsSet(flag))
                throw new ArgumentException(Optimizers.NotUsedMessage(flag, Kind));
        }
    }

    private bool IsSet(string flag) => flag switch
    {
        OptimizerFlags.WeightDecay => WeightDecay != 0f,
        OptimizerFlags.Betas => Beta1 != 0f || Beta2 != 0f,
        OptimizerFlags.Eps => Epsilon != 0f,
        OptimizerFlags.Momentum => Momentum != 0f,
        OptimizerFlags.Dampening => Dampening != 0f,
        OptimizerFlags.Nesterov => Nesterov,
        OptimizerFlags.Alpha => Alpha != 0f,
        OptimizerFlags.Centered => Centered,
        _ => throw new ArgumentOutOfRangeException(nameof(flag), flag, "not a hyperparameter flag"),
    };

    private void CheckRange(string flag)
    {
        switch (flag)
        {
            case OptimizerFlags.WeightDecay:
                if (!(WeightDecay >= 0f) || float.IsInfinity(WeightDecay))
                    throw new ArgumentException($"--weight-decay must be zero or a positive number (got {Format(WeightDecay)})");
                break;
            case OptimizerFlags.Betas:
                if (!(Beta1 is >= 0f and < 1f) || !(Beta2 is >= 0f and < 1f))
                    throw new ArgumentException($"--betas must both be in [0, 1) (got {Format(Beta1)},{Format(Beta2)})");
                break;
            case OptimizerFlags.Eps:
                if (!(Epsilon > 0f) || float.IsInfinity(Epsilon))
                    throw new ArgumentException($"--eps must be a positive number (got {Format(Epsilon)})");
                break;
            case OptimizerFlags.Momentum:
                if (!(Momentum is >= 0f and < 1f))
                    throw new ArgumentException($"--momentum must be in [0, 1) (got {Format(Momentum)})");
                break;
            case OptimizerFlags.Dampening:
                if (!(Dampening is >= 0f and <= 1f))
                    throw new ArgumentException($"--dampening must be in [0, 1] (got {Format(Dampening)})");
                break;
            case OptimizerFlags.Nesterov:
                if (Nesterov && (Momentum <= 0f || Dampening != 0f))
                    throw new ArgumentException(
                        $"--nesterov needs --momentum above 0 and --dampening 0 (got momentum {Format(Momentum)}, dampening {Format(Dampening)})");
                break;
            case OptimizerFlags.Alpha:
                if (!(Alpha is >= 0f and < 1f))
                    throw new ArgumentException($"--alpha must be in [0, 1) (got {Format(Alpha)})");
                break;
            case OptimizerFlags.Centered:
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(flag), flag, "not a hyperparameter flag");
        }
    }

    /// <summary>"sgd (lr 0.01, momentum 0.9, dampening 0, nesterov true, weight_decay 0)": the kind and
    /// the hyperparameters it uses, in torch's names, for logs and result tables.</summary>
    public string Describe() => $"{Kind.Name()} ({Definition.DescribeHyperparameters(this)})";

    /// <summary>The train flags that reproduce these settings, the learning rate aside: nothing for
    /// Adam with torch's defaults, else "--optimizer sgd --momentum 0.9 ..." with every hyperparameter
    /// that differs from the kind's default.</summary>
    public string CommandLineFlags()
    {
        var defaults = new OptimizerSettings(Kind);
        var flags = new List<string>();
        if (Kind != OptimizerKind.Adam)
            flags.Add($"--optimizer {Kind.Name()}");
        if (!WeightDecay.Equals(defaults.WeightDecay))
            flags.Add($"--weight-decay {Format(WeightDecay)}");
        if (!Beta1.Equals(defaults.Beta1) || !Beta2.Equals(defaults.Beta2))
            flags.Add($"--betas {Format(Beta1)},{Format(Beta2)}");
        if (!Epsilon.Equals(defaults.Epsilon))
            flags.Add($"--eps {Format(Epsilon)}");
        if (!Momentum.Equals(defaults.Momentum))
            flags.Add($"--momentum {Format(Momentum)}");
        if (!Dampening.Equals(defaults.Dampening))
            flags.Add($"--dampening {Format(Dampening)}");
        if (Nesterov)
            flags.Add("--nesterov");
        if (!Alpha.Equals(defaults.Alpha))
            flags.Add($"--alpha {Format(Alpha)}");
        if (Centered)
            flags.Add("--centered");
        return string.Join(" ", flags);
    }

    private static string Format(float value) => value.ToString(CultureInfo.InvariantCulture);
}
