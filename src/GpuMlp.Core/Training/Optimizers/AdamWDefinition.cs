using GpuMlp.Kernels;
using ILGPU;

namespace GpuMlp.Training;

/// <summary>torch.optim.AdamW: Adam's defaults with weight_decay 1e-2, the decay shrinking the
/// parameters (p *= 1 - lr * wd) before the Adam step; keeps exp_avg and exp_avg_sq.</summary>
public sealed class AdamWDefinition : OptimizerDefinition
{
    public static AdamWDefinition Instance { get; } = new();

    private AdamWDefinition()
    {
    }

    public override OptimizerKind Kind => OptimizerKind.AdamW;
    public override string Name => "adamw";
    public override string Description => "torch.optim.AdamW: weight decay shrinks the parameters (p *= 1 - lr * wd) before the Adam step";
    public override IReadOnlyList<string> Flags { get; } = [OptimizerFlags.WeightDecay, OptimizerFlags.Betas, OptimizerFlags.Eps];
    public override IReadOnlyList<string> PossibleStateNames { get; } = [Optimizers.ExpAvg, Optimizers.ExpAvgSq];
    public override IReadOnlyList<string> NonNegativeStateNames { get; } = [Optimizers.ExpAvgSq];

    public override IReadOnlyList<string> StateNames(OptimizerSettings settings) => PossibleStateNames;

    public override string DescribeHyperparameters(OptimizerSettings settings) => AdamDefinition.DescribeAdam(settings);

    internal override OptimizerSettings WithDefaults(OptimizerSettings blank) =>
        blank with { LearningRate = 1e-3f, Beta1 = 0.9f, Beta2 = 0.999f, Epsilon = 1e-8f, WeightDecay = 1e-2f };

    internal override void Step(DeviceOptimizer optimizer, ArrayView<float> parameters, ArrayView<float> gradients,
        float learningRate, float? momentum, long steps)
    {
        var s = optimizer.Settings;
        float beta1 = momentum ?? s.Beta1;
        optimizer.Kernels.OptimizerStep(
            new OptimizerOperands(parameters, gradients, optimizer.State(Optimizers.ExpAvg), optimizer.State(Optimizers.ExpAvgSq)),
            optimizer.ParameterCount,
            new AdamWStep
            {
                LearningRate = learningRate,
                Beta1 = beta1,
                Beta2 = s.Beta2,
                Epsilon = s.Epsilon,
                BiasCorrection1 = AdamDefinition.BiasCorrection(beta1, steps),
                BiasCorrection2 = AdamDefinition.BiasCorrection(s.Beta2, steps),
                DecayFactor = (float)(1.0 - ((double)learningRate * s.WeightDecay)),
            });
    }
}
