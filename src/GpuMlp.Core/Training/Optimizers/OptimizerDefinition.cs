using System.Globalization;
using ILGPU;

namespace GpuMlp.Training;

/// <summary>Everything about one optimiser in one place: its command-line name, the torch defaults it
/// starts from, the hyperparameter flags it accepts, the state tensors it keeps and its device step.
/// One sealed subclass per <see cref="OptimizerKind"/> (AdamDefinition.cs, ...); the rest of the program
/// asks the definition instead of switching over kinds, so a new optimiser is its enum member, its
/// registry arm (<see cref="Optimizers.Definition"/>), its definition and its kernels.</summary>
public abstract class OptimizerDefinition
{
    // Only this assembly defines optimisers: the step launches internal kernels.
    private protected OptimizerDefinition()
    {
    }

    public abstract OptimizerKind Kind { get; }

    /// <summary>The command-line and config.json name (adam, adamw, sgd, rmsprop).</summary>
    public abstract string Name { get; }

    /// <summary>What the update rule is, as torch.optim defines it.</summary>
    public abstract string Description { get; }

    /// <summary>The hyperparameter flags this optimiser uses (--lr applies to all and is not listed).
    /// Giving any other is a usage error, even with a value that changes nothing; Validate refuses a
    /// setting of any other hyperparameter the same way.</summary>
    public abstract IReadOnlyList<string> Flags { get; }

    /// <summary>Every state tensor the optimiser may keep, in torch's state_dict names and order
    /// (<see cref="StateNames"/> picks those the settings need).</summary>
    public abstract IReadOnlyList<string> PossibleStateNames { get; }

    /// <summary>State tensors that are averages of squares: never negative, so a checkpoint holding a
    /// negative value is corrupt (it would put a NaN into every step).</summary>
    public virtual IReadOnlyList<string> NonNegativeStateNames => [];

    public bool Uses(string flag) => Flags.Contains(flag, StringComparer.Ordinal);

    /// <summary>The state tensors these settings keep, each as long as the parameters, in torch's
    /// state_dict names and order.</summary>
    public abstract IReadOnlyList<string> StateNames(OptimizerSettings settings);

    /// <summary>"lr 0.01, momentum 0.9, ...": the hyperparameters this optimiser uses, in torch's names.</summary>
    public abstract string DescribeHyperparameters(OptimizerSettings settings);

    /// <summary>Torch's defaults for this optimiser filled into <paramref name="blank"/> (every
    /// hyperparameter 0 or false).</summary>
    internal abstract OptimizerSettings WithDefaults(OptimizerSettings blank);

    /// <summary>One launch updating every parameter and the state tensors in place. The host computes
    /// the per-step scalars from the settings, this step's learning rate, this step's beta1 or momentum
    /// when a schedule sets it (null: the settings') and the step count (1 on the first step), exactly
    /// as torch.optim does for one parameter group.</summary>
    internal abstract void Step(DeviceOptimizer optimizer, ArrayView<float> parameters, ArrayView<float> gradients,
        float learningRate, float? momentum, long steps);

    private protected static string Format(float value) => value.ToString(CultureInfo.InvariantCulture);

    private protected static string Format(bool value) => value ? "true" : "false";
}
