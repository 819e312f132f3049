using GpuMlp.Kernels;
using ILGPU;

namespace GpuMlp.Training;

/// <summary>torch.optim.Adam: lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight_decay 0 (an L2 term added
/// to the gradient); keeps exp_avg and exp_avg_sq.</summary>
public sealed class AdamDefinition : OptimizerDefinition
{
    public static AdamDefinition Instance { get; } = new();

    private AdamDefinition()
    {
    }

    public override OptimizerKind Kind => OptimizerKind.Adam;
    public override string Name => "adam";
    public override string Description => "torch.optim.Adam: weight decay is an L2 term added to the gradient";
    public override IReadOnlyList<string> Flags { get; } = [OptimizerFlags.WeightDecay, OptimizerFlags.Betas, OptimizerFlags.Eps];
    public override IReadOnlyList<string> PossibleStateNames { get; } = [Optimizers.ExpAvg, Optimizers.ExpAvgSq];
    public override IReadOnlyList<string> NonNegativeStateNames { get; } = [Optimizers.ExpAvgSq];

    public override IReadOnlyList<string> StateNames(OptimizerSettings settings) => PossibleStateNames;

    public override string DescribeHyperparameters(OptimizerSettings settings) => DescribeAdam(settings);

    /// <summary>Adam's and AdamW's description: the same hyperparameters, in torch's names.</summary>
    internal static string DescribeAdam(OptimizerSettings s) =>
        $"lr {Format(s.LearningRate)}, betas {Format(s.Beta1)}/{Format(s.Beta2)}, eps {Format(s.Epsilon)}, weight_decay {Format(s.WeightDecay)}";

    internal override OptimizerSettings WithDefaults(OptimizerSettings blank) =>
        blank with { LearningRate = 1e-3f, Beta1 = 0.9f, Beta2 = 0.999f, Epsilon = 1e-8f };

    internal override void Step(DeviceOptimizer optimizer, ArrayView<float> parameters, ArrayView<float> gradients,
        float learningRate, float? momentum, long steps)
    {
        var s = optimizer.Settings;
        float beta1 = momentum ?? s.Beta1;
        optimizer.Kernels.OptimizerStep(
            new OptimizerOperands(parameters, gradients, optimizer.State(Optimizers.ExpAvg), optimizer.State(Optimizers.ExpAvgSq)),
            optimizer.ParameterCount,
            new AdamStep
            {
                LearningRate = learningRate,
                Beta1 = beta1,
                Beta2 = s.Beta2,
                Epsilon = s.Epsilon,
                BiasCorrection1 = BiasCorrection(beta1, steps),
                BiasCorrection2 = BiasCorrection(s.Beta2, steps),
                WeightDecay = s.WeightDecay,
            });
    }

    /// <summary>Adam's and AdamW's bias correction 1 - beta^t, in double from the float beta and
    /// rounded once: the arithmetic Adam has always used, so Adam runs stay bit-identical.</summary>
    internal static float BiasCorrection(float beta, long steps) => (float)(1.0 - Math.Pow(beta, steps));
}
