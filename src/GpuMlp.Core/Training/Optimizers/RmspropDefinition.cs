using GpuMlp.Kernels;
using ILGPU;

namespace GpuMlp.Training;

/// <summary>torch.optim.RMSprop, optionally centered and with momentum: lr 1e-2, alpha 0.99, eps 1e-8,
/// weight_decay 0, momentum 0, centered off; keeps square_avg, then momentum_buffer (momentum &gt; 0)
/// and grad_avg (centered).</summary>
public sealed class RmspropDefinition : OptimizerDefinition
{
    public static RmspropDefinition Instance { get; } = new();

    private RmspropDefinition()
    {
    }

    public override OptimizerKind Kind => OptimizerKind.Rmsprop;
    public override string Name => "rmsprop";
    public override string Description => "torch.optim.RMSprop, optionally centered and with momentum";
    public override IReadOnlyList<string> Flags { get; } =
        [OptimizerFlags.WeightDecay, OptimizerFlags.Alpha, OptimizerFlags.Eps, OptimizerFlags.Momentum, OptimizerFlags.Centered];
    public override IReadOnlyList<string> PossibleStateNames { get; } = [Optimizers.SquareAvg, Optimizers.MomentumBuffer, Optimizers.GradAvg];
    public override IReadOnlyList<string> NonNegativeStateNames { get; } = [Optimizers.SquareAvg];

    public override IReadOnlyList<string> StateNames(OptimizerSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        return [Optimizers.SquareAvg, .. settings.Momentum > 0f ? new[] { Optimizers.MomentumBuffer } : [],
            .. settings.Centered ? new[] { Optimizers.GradAvg } : []];
    }

    public override string DescribeHyperparameters(OptimizerSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        return $"lr {Format(settings.LearningRate)}, alpha {Format(settings.Alpha)}, eps {Format(settings.Epsilon)}, weight_decay {Format(settings.WeightDecay)}, momentum {Format(settings.Momentum)}, centered {Format(settings.Centered)}";
    }

    internal override OptimizerSettings WithDefaults(OptimizerSettings blank) =>
        blank with { LearningRate = 1e-2f, Alpha = 0.99f, Epsilon = 1e-8f };

    internal override void Step(DeviceOptimizer optimizer, ArrayView<float> parameters, ArrayView<float> gradients,
        float learningRate, float? momentum, long steps)
    {
        var s = optimizer.Settings;
        optimizer.Kernels.OptimizerStep(
            new OptimizerOperands(parameters, gradients, optimizer.State(Optimizers.SquareAvg),
                optimizer.OptionalState(Optimizers.MomentumBuffer), optimizer.OptionalState(Optimizers.GradAvg)), optimizer.ParameterCount,
            new RmspropStep
            {
                LearningRate = learningRate,
                Alpha = s.Alpha,
                Epsilon = s.Epsilon,
                WeightDecay = s.WeightDecay,
                Momentum = momentum ?? s.Momentum,
                Centered = s.Centered ? 1 : 0,
            });
    }
}
