using GpuMlp.Kernels;
using GpuMlp.Tests.Reference;

namespace GpuMlp.Tests.Kernels;

[Collection(DeviceCollection.Name)]
public class AdamTests(DeviceFixture fixture)
{
    /// <summary>The kernels under test: the test device's (GpuLaunchShapeTests derives a class that
    /// runs every test again with the GPU launch profile).</summary>
    protected DeviceFixture Fixture => fixture;

    protected virtual KernelSet Set => fixture.Main;

    private const float LearningRate = 1e-3f, Beta1 = 0.9f, Beta2 = 0.999f, Epsilon = 1e-8f;

    /// <summary>The step the trainer passes: bias corrections 1 - beta^t computed on the host per step
    /// t = 1, 2, ... in float32.</summary>
    internal static AdamStep StepFor(int t) => new()
    {
        LearningRate = LearningRate,
        Beta1 = Beta1,
        Beta2 = Beta2,
        Epsilon = Epsilon,
        BiasCorrection1 = 1f - MathF.Pow(Beta1, t),
        BiasCorrection2 = 1f - MathF.Pow(Beta2, t),
    };

    /// <summary>Five steps on one flat buffer of 1001 parameters (not a multiple of any group size),
    /// each with new gradients, against torch.optim.Adam semantics in float64; parameters and both
    /// moments are compared after every step.</summary>
    [Fact]
    public void Adam_FiveSteps_MatchTorchAdam()
    {
        KernelSet set = Set;
        const int count = 1001;
        var random = new Random(21);
        float[] parameters = TestData.Uniform(random, count);
        var reference = new NaiveReference.Adam(NaiveReference.ToDouble(parameters));

        using var p = set.Accelerator.Input(parameters);
        using var m = set.Accelerator.Input(new float[count]);
        using var v = set.Accelerator.Input(new float[count]);
        for (int t = 1; t <= 5; t++)
        {
            float[] gradients = TestData.Gradients(random, count);
            using var g = set.Accelerator.Input(gradients);
            set.Kernels.OptimizerStep(new OptimizerOperands(p.View, g.View, m.View, v.View), count, StepFor(t));
            reference.Step(NaiveReference.ToDouble(gradients), LearningRate, Beta1, Beta2, Epsilon);

            Compare.AllClose(m.Download("m"), reference.FirstMoment, Tolerance.AdamMoments(set.Backend), $"{set.Name} first moment after step {t}");
            Compare.AllClose(v.Download("v"), reference.SecondMoment, 1e-12, Tolerance.AdamMoments(set.Backend).Rtol, $"{set.Name} second moment after step {t}");
            Compare.AllClose(p.Download("parameters"), reference.Parameters, Tolerance.AdamParameters(set.Backend), $"{set.Name} parameters after step {t}");
            // The gradient buffer is read only.
            Assert.Equal(gradients, g.Download("gradients"));
        }
    }

    /// <summary>The first step moves every parameter with a non-negligible gradient by almost exactly
    /// lr against the gradient's sign (m_hat / sqrt(v_hat) = g / |g|): a direct check of both bias
    /// corrections that does not depend on the reference.</summary>
    [Fact]
    public void Adam_FirstStep_MovesByLearningRate()
    {
        KernelSet set = Set;
        const int count = 257;
        float[] parameters = new float[count];
        float[] gradients = TestData.AwayFromZero(new Random(22), count, 0.01f);
        using var p = set.Accelerator.Input(parameters);
        using var g = set.Accelerator.Input(gradients);
        using var m = set.Accelerator.Input(new float[count]);
        using var v = set.Accelerator.Input(new float[count]);
        set.Kernels.OptimizerStep(new OptimizerOperands(p.View, g.View, m.View, v.View), count, StepFor(1));

        double[] expected = gradients.Select(x => -LearningRate * Math.Sign(x) * (Math.Abs(x) / (Math.Abs(x) + 1e-8))).ToArray();
        Compare.AllClose(p.Download("parameters"), expected, 1e-9, 1e-4, $"{set.Name} first Adam step");
    }
}
