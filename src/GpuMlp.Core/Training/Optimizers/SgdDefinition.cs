using GpuMlp.Kernels;
using ILGPU;

namespace GpuMlp.Training;

/// <summary>torch.optim.SGD with optional momentum, dampening and Nesterov momentum: lr 1e-2 (our
/// choice: torch once required lr, and its 2.x default of 1e-3 is too small for plain SGD on this
/// network), momentum 0, dampening 0, nesterov off, weight_decay 0; keeps momentum_buffer only with
/// momentum.</summary>
public sealed class SgdDefinition : OptimizerDefinition
{
    public static SgdDefinition Instance { get; } = new();

    private SgdDefinition()
    {
    }

    public override OptimizerKind Kind => OptimizerKind.Sgd;
    public override string Name => "sgd";
    public override string Description => "torch.optim.SGD with optional momentum, dampening and Nesterov momentum";
    public override IReadOnlyList<string> Flags { get; } =
        [OptimizerFlags.WeightDecay, OptimizerFlags.Momentum, OptimizerFlags.Dampening, OptimizerFlags.Nesterov];
    public override IReadOnlyList<string> PossibleStateNames { get; } = [Optimizers.MomentumBuffer];

    public override IReadOnlyList<string> StateNames(OptimizerSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        return settings.Momentum != 0f ? PossibleStateNames : [];
    }

    public override string DescribeHyperparameters(OptimizerSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        return $"lr {Format(settings.LearningRate)}, momentum {Format(settings.Momentum)}, dampening {Format(settings.Dampening)}, nesterov {Format(settings.Nesterov)}, weight_decay {Format(settings.WeightDecay)}";
    }

    internal override OptimizerSettings WithDefaults(OptimizerSettings blank) => blank with { LearningRate = 1e-2f };

    internal override void Step(DeviceOptimizer optimizer, ArrayView<float> parameters, ArrayView<float> gradients,
        float learningRate, float? momentum, long steps)
    {
        var s = optimizer.Settings;
        optimizer.Kernels.OptimizerStep(
            new OptimizerOperands(parameters, gradients, optimizer.OptionalState(Optimizers.MomentumBuffer)), optimizer.ParameterCount,
            new SgdStep
            {
                LearningRate = learningRate,
                Momentum = momentum ?? s.Momentum,
                Dampening = s.Dampening,
                WeightDecay = s.WeightDecay,
                Nesterov = s.Nesterov ? 1 : 0,
                // The first step starts the momentum buffer from the gradient instead of decaying it.
                FirstStep = steps == 1 ? 1 : 0,
            });
    }
}
