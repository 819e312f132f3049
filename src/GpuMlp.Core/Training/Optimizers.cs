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

    public static IReadOnlyList<OptimizerKind> All { get; } =
        [OptimizerKind.Adam, OptimizerKind.AdamW, OptimizerKind.Sgd, OptimizerKind.Rmsprop];

    public static string Name(this OptimizerKind kind) => kind switch
    {
        OptimizerKind.Adam => "adam",
        OptimizerKind.AdamW => "adamw",
        OptimizerKind.Sgd => "sgd",
        OptimizerKind.Rmsprop => "rmsprop",
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "unknown optimizer"),
    };

    /// <summary>The hyperparameter flags each optimiser uses (--lr applies to all). Giving any other
    /// is a usage error, even with a value that changes nothing.</summary>
    public static IReadOnlyList<string> FlagsUsedBy(OptimizerKind kind) => kind switch
    {
        OptimizerKind.Adam or OptimizerKind.AdamW => ["--weight-decay", "--betas", "--eps"],
        OptimizerKind.Sgd => ["--weight-decay", "--momentum", "--dampening", "--nesterov"],
        _ => ["--weight-decay", "--alpha", "--eps", "--momentum", "--centered"],
    };

    /// <summary>"--momentum applies to sgd and rmsprop, not adam": the one-line refusal of a flag
    /// the chosen optimiser does not use (the same words <see cref="OptimizerSettings.Validate"/> uses).</summary>
    public static string NotUsedMessage(string flag, OptimizerKind kind)
    {
        var users = All.Where(k => FlagsUsedBy(k).Contains(flag, StringComparer.Ordinal)).Select(k => k.Name()).ToList();
        string list = users.Count switch
        {
            0 => "no optimizer",
            1 => users[0],
            _ => string.Join(", ", users.Take(users.Count - 1)) + " and " + users[^1],
        };
        return $"{flag} applies to {list}, not {kind.Name()}";
    }

    /// <summary>Parses a command-line name (case-insensitive); the error is a one-line usage message.</summary>
    public static OptimizerKind Parse(string text)
    {
        string name = text.Trim().ToLowerInvariant();
        foreach (var kind in All)
        {
            if (kind.Name() == name)
                return kind;
        }
        throw new ArgumentException($"--optimizer must be adam, adamw, sgd or rmsprop (got '{text}')");
    }
}

/// <summary>One optimiser's hyperparameters. <c>new OptimizerSettings(kind)</c> holds PyTorch's
/// defaults for that kind (torch.optim, 2.x):
/// <list type="bullet">
/// <item>adam: lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight_decay 0</item>
/// <item>adamw: the same with weight_decay 1e-2</item>
/// <item>sgd: lr 1e-2 (our choice: torch once required lr, and its 2.x default of 1e-3 is too small for
/// plain SGD on this network), momentum 0, dampening 0, nesterov off, weight_decay 0</item>
/// <item>rmsprop: lr 1e-2, alpha 0.99, eps 1e-8, weight_decay 0, momentum 0, centered off</item>
/// </list>
/// A hyperparameter the kind does not use is 0 (false) and must stay so (Validate refuses it, so a
/// flag given to the wrong optimiser is an error rather than silently ignored). Override with an
/// initializer or <c>with</c>: <c>new OptimizerSettings(OptimizerKind.Sgd) { Momentum = 0.9f }</c>.
/// Hyperparameters are float32, as the kernels compute.</summary>
public sealed record OptimizerSettings
{
    public OptimizerSettings(OptimizerKind kind)
    {
        Kind = kind;
        switch (kind)
        {
            case OptimizerKind.Adam:
            case OptimizerKind.AdamW:
                LearningRate = 1e-3f;
                Beta1 = 0.9f;
                Beta2 = 0.999f;
                Epsilon = 1e-8f;
                WeightDecay = kind == OptimizerKind.AdamW ? 1e-2f : 0f;
                break;
            case OptimizerKind.Sgd:
                LearningRate = 1e-2f;
                break;
            case OptimizerKind.Rmsprop:
                LearningRate = 1e-2f;
                Alpha = 0.99f;
                Epsilon = 1e-8f;
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(kind), kind, "unknown optimizer");
        }
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
    public IReadOnlyList<string> StateNames => Kind switch
    {
        OptimizerKind.Adam or OptimizerKind.AdamW => [Optimizers.ExpAvg, Optimizers.ExpAvgSq],
        OptimizerKind.Sgd => Momentum != 0f ? [Optimizers.MomentumBuffer] : [],
        _ => [Optimizers.SquareAvg, .. Momentum > 0f ? new[] { Optimizers.MomentumBuffer } : [],
            .. Centered ? new[] { Optimizers.GradAvg } : []],
    };

    /// <summary>Checks every hyperparameter; the message is a one-line usage error naming the flag.
    /// The ranges are torch's (lr, eps, weight_decay, momentum, alpha &gt;= 0, betas in [0, 1), Nesterov
    /// needs momentum and no dampening) with three refusals torch does not make because the run could
    /// only fail: lr and eps must be positive, and momentum, dampening and alpha must be below (alpha,
    /// momentum) or at most (dampening) 1.</summary>
    public void Validate()
    {
        string name = Kind.Name();
        if (!(LearningRate > 0f) || float.IsInfinity(LearningRate))
            throw new ArgumentException($"--lr must be a positive number (got {Format(LearningRate)})");
        if (!(WeightDecay >= 0f) || float.IsInfinity(WeightDecay))
            throw new ArgumentException($"--weight-decay must be zero or a positive number (got {Format(WeightDecay)})");

        bool adamFamily = Kind is OptimizerKind.Adam or OptimizerKind.AdamW;
        if (adamFamily)
        {
            if (!(Beta1 is >= 0f and < 1f) || !(Beta2 is >= 0f and < 1f))
                throw new ArgumentException($"--betas must both be in [0, 1) (got {Format(Beta1)},{Format(Beta2)})");
        }
        else if (Beta1 != 0f || Beta2 != 0f)
        {
            throw new ArgumentException($"--betas applies to adam and adamw, not {name}");
        }

        if (Kind != OptimizerKind.Sgd)
        {
            if (!(Epsilon > 0f) || float.IsInfinity(Epsilon))
                throw new ArgumentException($"--eps must be a positive number (got {Format(Epsilon)})");
        }
        else if (Epsilon != 0f)
        {
            throw new ArgumentException($"--eps applies to adam, adamw and rmsprop, not {name}");
        }

        if (Kind is OptimizerKind.Sgd or OptimizerKind.Rmsprop)
        {
            if (!(Momentum is >= 0f and < 1f))
                throw new ArgumentException($"--momentum must be in [0, 1) (got {Format(Momentum)})");
        }
        else if (Momentum != 0f)
        {
            throw new ArgumentException($"--momentum applies to sgd and rmsprop, not {name}");
        }

        if (Kind == OptimizerKind.Sgd)
        {
            if (!(Dampening is >= 0f and <= 1f))
                throw new ArgumentException($"--dampening must be in [0, 1] (got {Format(Dampening)})");
            if (Nesterov && (Momentum <= 0f || Dampening != 0f))
                throw new ArgumentException(
                    $"--nesterov needs --momentum above 0 and --dampening 0 (got momentum {Format(Momentum)}, dampening {Format(Dampening)})");
        }
        else if (Dampening != 0f)
        {
            throw new ArgumentException($"--dampening applies to sgd, not {name}");
        }
        else if (Nesterov)
        {
            throw new ArgumentException($"--nesterov applies to sgd, not {name}");
        }

        if (Kind == OptimizerKind.Rmsprop)
        {
            if (!(Alpha is >= 0f and < 1f))
                throw new ArgumentException($"--alpha must be in [0, 1) (got {Format(Alpha)})");
        }
        else if (Alpha != 0f)
        {
            throw new ArgumentException($"--alpha applies to rmsprop, not {name}");
        }
        else if (Centered)
        {
            throw new ArgumentException($"--centered applies to rmsprop, not {name}");
        }
    }

    /// <summary>"sgd (lr 0.01, momentum 0.9, dampening 0, nesterov true, weight_decay 0)": the kind and
    /// the hyperparameters it uses, in torch's names, for logs and result tables.</summary>
    public string Describe()
    {
        string details = Kind switch
        {
            OptimizerKind.Adam or OptimizerKind.AdamW =>
                $"lr {Format(LearningRate)}, betas {Format(Beta1)}/{Format(Beta2)}, eps {Format(Epsilon)}, weight_decay {Format(WeightDecay)}",
            OptimizerKind.Sgd =>
                $"lr {Format(LearningRate)}, momentum {Format(Momentum)}, dampening {Format(Dampening)}, nesterov {(Nesterov ? "true" : "false")}, weight_decay {Format(WeightDecay)}",
            _ =>
                $"lr {Format(LearningRate)}, alpha {Format(Alpha)}, eps {Format(Epsilon)}, weight_decay {Format(WeightDecay)}, momentum {Format(Momentum)}, centered {(Centered ? "true" : "false")}",
        };
        return $"{Kind.Name()} ({details})";
    }

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
