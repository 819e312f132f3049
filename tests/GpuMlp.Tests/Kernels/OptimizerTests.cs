// Every optimiser (kernels/AdamKernels.cs, SgdKernels.cs, RmspropKernels.cs, launched through
// DeviceOptimizer) against torch.optim's update rules in float64 (Reference/TorchOptimizerReference.cs),
// step by step from the first, with weight decay, momentum, dampening, Nesterov and centering; plus
// determinism, checkpoint capture/restore and the refusals. OptimizerOnGpuLaunchShapesTests (bottom)
// reruns every test with the GPU launch profile.
using GpuMlp.Compute;
using GpuMlp.Kernels;
using GpuMlp.Tests.Reference;
using GpuMlp.Training;
using ILGPU;
using ILGPU.Runtime;

namespace GpuMlp.Tests.Kernels;

[Collection(DeviceCollection.Name)]
public class OptimizerTests(DeviceFixture fixture)
{
    /// <summary>The kernels under test: the test device's (a derived class runs every test again with
    /// the GPU launch profile).</summary>
    protected DeviceFixture Fixture => fixture;

    protected virtual KernelSet Set => fixture.Main;

    /// <summary>1001 parameters: not a multiple of any group size.</summary>
    private const int Count = 1001;
    private const int Steps = 6;

    /// <summary>The configurations every optimiser test runs: each optimiser at PyTorch's defaults and
    /// with every option that changes its arithmetic. Weight decays are large (0.1 .. 0.5) so that a
    /// decay applied in the wrong place (coupled vs decoupled, before vs after the momentum) moves
    /// parameters by far more than the tolerance.</summary>
    private static readonly Dictionary<string, OptimizerSettings> Configurations = new(StringComparer.Ordinal)
    {
        ["adam"] = new(OptimizerKind.Adam),
        ["adam-weight-decay"] = new(OptimizerKind.Adam) { LearningRate = 1e-2f, WeightDecay = 0.5f },
        ["adamw"] = new(OptimizerKind.AdamW),
        ["adamw-strong-decay"] = new(OptimizerKind.AdamW) { LearningRate = 1e-2f, WeightDecay = 0.5f, Beta1 = 0.8f, Beta2 = 0.99f },
        ["sgd"] = new(OptimizerKind.Sgd) { LearningRate = 0.05f },
        ["sgd-weight-decay"] = new(OptimizerKind.Sgd) { LearningRate = 0.05f, WeightDecay = 0.3f },
        ["sgd-momentum"] = new(OptimizerKind.Sgd) { LearningRate = 0.05f, Momentum = 0.9f },
        ["sgd-momentum-dampening-weight-decay"] = new(OptimizerKind.Sgd) { LearningRate = 0.05f, Momentum = 0.8f, Dampening = 0.3f, WeightDecay = 0.2f },
        ["sgd-nesterov-weight-decay"] = new(OptimizerKind.Sgd) { LearningRate = 0.05f, Momentum = 0.9f, Nesterov = true, WeightDecay = 0.1f },
        ["rmsprop"] = new(OptimizerKind.Rmsprop),
        ["rmsprop-momentum-weight-decay"] = new(OptimizerKind.Rmsprop) { Alpha = 0.9f, Momentum = 0.9f, WeightDecay = 0.3f },
        ["rmsprop-centered"] = new(OptimizerKind.Rmsprop) { Centered = true },
        ["rmsprop-centered-momentum-weight-decay"] = new(OptimizerKind.Rmsprop) { Alpha = 0.9f, Centered = true, Momentum = 0.5f, WeightDecay = 0.1f, Epsilon = 1e-6f },
    };

    public static TheoryData<string> ConfigurationNames() => new(Configurations.Keys);

    /// <summary>A new optimiser is not tested against torch until a configuration here uses it, and
    /// every state tensor it may keep is kept by one of them.</summary>
    [Fact]
    public void Configurations_EveryOptimizer_IsCoveredWithEveryStateTensor()
    {
        foreach (var kind in Optimizers.All)
        {
            var kept = Configurations.Values.Where(c => c.Kind == kind).SelectMany(c => c.StateNames).ToHashSet(StringComparer.Ordinal);
            Assert.True(kept.Count > 0 || kind.Definition().PossibleStateNames.Count == 0, $"{kind.Name()} has no configuration");
            Assert.Equal(kind.Definition().PossibleStateNames.Order(StringComparer.Ordinal), kept.Order(StringComparer.Ordinal));
        }
        Assert.Equal(Optimizers.All, Configurations.Values.Select(c => c.Kind).Distinct().Order());
    }

    /// <summary>This step's learning rate: the base rate, lowered a little every step, so that a step
    /// that used the base rate (or last step's) instead of the one it is given would show.</summary>
    private static float LearningRateAt(OptimizerSettings settings, int t) => settings.LearningRate * (1f - (0.1f * (t - 1)));

    /// <summary>Six steps, each with new gradients and its own learning rate, against the float64
    /// torch.optim reference: parameters and every state tensor after every step (from the first),
    /// the state names against those torch creates, the gradients unchanged, nothing written outside
    /// the parameter and gradient views.</summary>
    [Theory]
    [MemberData(nameof(ConfigurationNames))]
    public void Optimizer_SixSteps_MatchTorchReference(string configuration)
    {
        KernelSet set = Set;
        OptimizerSettings settings = Configurations[configuration];
        var random = new Random(31);
        float[] initial = TestData.Uniform(random, Count);
        var reference = new TorchOptimizerReference(settings, NaiveReference.ToDouble(initial));
        using var optimizer = new DeviceOptimizer(set.Kernels, settings, Count);
        using var p = set.Accelerator.Input(initial);
        for (int t = 1; t <= Steps; t++)
        {
            float[] gradients = TestData.Gradients(random, Count);
            float learningRate = LearningRateAt(settings, t);
            using var g = set.Accelerator.Input(gradients);
            optimizer.Step(p.View, g.View, learningRate);
            reference.Step(NaiveReference.ToDouble(gradients), learningRate);

            string where = $"{set.Name} {configuration} after step {t}";
            Assert.Equal(reference.State.Keys.Order(StringComparer.Ordinal), optimizer.StateNames.Order(StringComparer.Ordinal));
            foreach (string name in optimizer.StateNames)
            {
                double[] expected = reference.State[name];
                Compare.AllClose(optimizer.GetState(name), expected,
                    Tolerance.OptimizerState(set.Backend, expected.Max(Math.Abs)), $"{where}: {name}");
            }
            Compare.AllClose(p.Download("parameters"), reference.Parameters, Tolerance.OptimizerParameters(set.Backend), $"{where}: parameters");
            Assert.Equal(gradients, g.Download("gradients"));
            Assert.Equal(t, optimizer.Steps);
        }
    }

    /// <summary>Same settings and inputs twice ⇒ the same bits in the parameters and every state tensor.</summary>
    [Theory]
    [MemberData(nameof(ConfigurationNames))]
    public void Optimizer_SameInputsTwice_AreBitIdentical(string configuration)
    {
        var first = Run(Configurations[configuration], Steps, restoreAfter: null);
        var second = Run(Configurations[configuration], Steps, restoreAfter: null);
        AssertBitIdentical(first, second, configuration);
    }

    /// <summary>Capturing the state after 3 steps and restoring it (with the parameters) into a new
    /// optimiser continues bit-identically to the run that never stopped (SGD's first-step buffer
    /// and Adam's bias corrections depend on the restored step count).</summary>
    [Theory]
    [MemberData(nameof(ConfigurationNames))]
    public void CaptureRestore_MidRun_ContinuesBitIdentically(string configuration)
    {
        var uninterrupted = Run(Configurations[configuration], Steps, restoreAfter: null);
        var resumed = Run(Configurations[configuration], Steps, restoreAfter: 3);
        AssertBitIdentical(uninterrupted, resumed, configuration);
    }

    private sealed record RunResult(float[] Parameters, OptimizerState State);

    private RunResult Run(OptimizerSettings settings, int steps, int? restoreAfter)
    {
        KernelSet set = Set;
        var random = new Random(41);
        float[] initial = TestData.Uniform(random, Count);
        using var p = set.Accelerator.Upload(initial);
        var optimizer = new DeviceOptimizer(set.Kernels, settings, Count);
        try
        {
            for (int t = 1; t <= steps; t++)
            {
                using var g = set.Accelerator.Upload(TestData.Gradients(random, Count));
                optimizer.Step(p.View, g.View, LearningRateAt(settings, t));
                if (t == restoreAfter)
                {
                    OptimizerState saved = optimizer.Capture();
                    float[] parameters = p.Download();
                    optimizer.Dispose();
                    p.MemSetToZero();
                    optimizer = new DeviceOptimizer(set.Kernels, settings, Count);
                    optimizer.Restore(saved);
                    p.CopyFromCPU(parameters);
                }
            }
            return new RunResult(p.Download(), optimizer.Capture());
        }
        finally
        {
            optimizer.Dispose();
        }
    }

    private static void AssertBitIdentical(RunResult expected, RunResult actual, string configuration)
    {
        Assert.Equal(expected.State.Steps, actual.State.Steps);
        Assert.Equal(Bits(expected.Parameters), Bits(actual.Parameters));
        Assert.Equal(expected.State.Tensors.Keys.Order(StringComparer.Ordinal), actual.State.Tensors.Keys.Order(StringComparer.Ordinal));
        foreach (var (name, values) in expected.State.Tensors)
            Assert.True(Bits(values).SequenceEqual(Bits(actual.State.Tensors[name])), $"{configuration}: {name} differs");
    }

    private static int[] Bits(float[] values) => values.Select(BitConverter.SingleToInt32Bits).ToArray();

    /// <summary>torch's SGD starts the momentum buffer as the gradient itself, without dampening: with
    /// dampening 0.5, b after the first step equals the gradient bit for bit (a kernel that damped it
    /// or started from a zero buffer would give 0.5 g or 0.1 g), and the parameters moved by lr * g.</summary>
    [Fact]
    public void Sgd_FirstStep_MomentumBufferIsTheUndampedGradient()
    {
        KernelSet set = Set;
        var settings = new OptimizerSettings(OptimizerKind.Sgd) { LearningRate = 0.1f, Momentum = 0.9f, Dampening = 0.5f };
        var random = new Random(51);
        float[] parameters = TestData.Uniform(random, Count);
        float[] gradients = TestData.AwayFromZero(random, Count, 0.01f);
        using var optimizer = new DeviceOptimizer(set.Kernels, settings, Count);
        using var p = set.Accelerator.Upload(parameters);
        using var g = set.Accelerator.Upload(gradients);
        optimizer.Step(p.View, g.View, settings.LearningRate);

        Assert.Equal(Bits(gradients), Bits(optimizer.GetState(Optimizers.MomentumBuffer)));
        double[] expected = parameters.Select((x, i) => x - (0.1 * gradients[i])).ToArray();
        Compare.AllClose(p.Download(), expected, Tolerance.OptimizerParameters(set.Backend), $"{set.Name} first SGD step");
    }

    /// <summary>Adam through DeviceOptimizer (weight decay 0) is the update training used before it
    /// (the former MlpNetwork.AdamUpdate, reproduced here: the Adam kernel with torch's defaults and the bias
    /// corrections in double from the float betas) bit for bit: parameters and both moments after
    /// five steps, so the trainer on DeviceOptimizer leaves recorded Adam runs unchanged.</summary>
    [Fact]
    public void AdamDefaults_FiveSteps_MatchTheFormerNetworkAdamUpdateBitForBit()
    {
        KernelSet set = Set;
        var shape = Architecture.Mlp(7, [6, 5], 3, 0f);
        float[] initial = shape.InitialParameters(3);
        var random = new Random(61);
        using var network = new LayerNetwork(set.Kernels, shape, 1);
        network.SetParameters(initial);
        using var optimizer = new DeviceOptimizer(set.Kernels, new OptimizerSettings(OptimizerKind.Adam), shape.ParameterCount);
        using var p = set.Accelerator.Upload(initial);
        using var g = set.Accelerator.Allocate1D<float>(shape.ParameterCount);
        using var firstMoment = set.Accelerator.Upload(new float[shape.ParameterCount]);
        using var secondMoment = set.Accelerator.Upload(new float[shape.ParameterCount]);
        long adamSteps = 0;
        void AdamUpdate(float learningRate, float beta1 = 0.9f, float beta2 = 0.999f, float epsilon = 1e-8f)
        {
            adamSteps++;
            set.Kernels.OptimizerStep(new OptimizerOperands(network.Parameters, network.Gradients, firstMoment.View, secondMoment.View), shape.ParameterCount, new AdamStep
            {
                LearningRate = learningRate,
                Beta1 = beta1,
                Beta2 = beta2,
                Epsilon = epsilon,
                BiasCorrection1 = (float)(1.0 - Math.Pow(beta1, adamSteps)),
                BiasCorrection2 = (float)(1.0 - Math.Pow(beta2, adamSteps)),
            });
        }
        for (int t = 1; t <= 5; t++)
        {
            float[] gradients = TestData.Uniform(random, shape.ParameterCount, -0.5f, 0.5f);
            network.Gradients.CopyFromCPU(gradients);
            g.CopyFromCPU(gradients);
            const float learningRate = 0.01f;
            AdamUpdate(learningRate);
            optimizer.Step(p.View, g.View, learningRate);
        }
        var (first, second) = (firstMoment.Download(), secondMoment.Download());
        Assert.Equal(Bits(network.GetParameters()), Bits(p.Download()));
        Assert.Equal(Bits(first), Bits(optimizer.GetState(Optimizers.ExpAvg)));
        Assert.Equal(Bits(second), Bits(optimizer.GetState(Optimizers.ExpAvgSq)));
        Assert.Equal(adamSteps, optimizer.Steps);
    }

    /// <summary>Every state tensor is one float per parameter, allocated zero.</summary>
    [Theory]
    [MemberData(nameof(ConfigurationNames))]
    public void NewOptimizer_AnyKind_StateIsZeroAndSized(string configuration)
    {
        OptimizerSettings settings = Configurations[configuration];
        using var optimizer = new DeviceOptimizer(Set.Kernels, settings, Count);
        Assert.Equal(settings.StateNames, optimizer.StateNames);
        Assert.Equal((long)settings.StateNames.Count * Count * sizeof(float), optimizer.DeviceBytes);
        foreach (string name in optimizer.StateNames)
            Assert.All(optimizer.GetState(name), value => Assert.Equal(0f, value));
        Assert.Equal(0, optimizer.Steps);
    }

    [Fact]
    public void Restore_AnotherOptimizersState_IsRefusedAndChangesNothing()
    {
        using var adam = new DeviceOptimizer(Set.Kernels, new OptimizerSettings(OptimizerKind.Adam), Count);
        using var adamW = new DeviceOptimizer(Set.Kernels, new OptimizerSettings(OptimizerKind.AdamW), Count);
        var saved = adamW.Capture() with { Steps = 7 };
        var error = Assert.Throws<ArgumentException>(() => adam.Restore(saved));
        Assert.Equal("the saved optimizer state is adamw's; this run uses adam", error.Message);
        Assert.Equal(0, adam.Steps);
    }

    [Fact]
    public void Restore_StateOfOtherSettings_IsRefused()
    {
        var withMomentum = new OptimizerSettings(OptimizerKind.Sgd) { Momentum = 0.9f };
        using var plain = new DeviceOptimizer(Set.Kernels, new OptimizerSettings(OptimizerKind.Sgd), Count);
        using var momentum = new DeviceOptimizer(Set.Kernels, withMomentum, Count);
        var error = Assert.Throws<ArgumentException>(() => plain.Restore(momentum.Capture()));
        Assert.Contains("momentum_buffer", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', error.Message);
    }

    [Fact]
    public void Restore_WrongLengthOrNegativeSteps_IsRefusedAndChangesNothing()
    {
        using var optimizer = new DeviceOptimizer(Set.Kernels, new OptimizerSettings(OptimizerKind.Rmsprop), Count);
        var shortState = new OptimizerState(OptimizerKind.Rmsprop, 3,
            new Dictionary<string, float[]> { [Optimizers.SquareAvg] = new float[Count - 1] });
        Assert.Contains("has 1000 values", Assert.Throws<ArgumentException>(() => optimizer.Restore(shortState)).Message, StringComparison.Ordinal);
        var negative = new OptimizerState(OptimizerKind.Rmsprop, -1,
            new Dictionary<string, float[]> { [Optimizers.SquareAvg] = Enumerable.Repeat(1f, Count).ToArray() });
        Assert.Contains("negative", Assert.Throws<ArgumentException>(() => optimizer.Restore(negative)).Message, StringComparison.Ordinal);
        Assert.Equal(0, optimizer.Steps);
        Assert.All(optimizer.GetState(Optimizers.SquareAvg), value => Assert.Equal(0f, value));
    }

    [Fact]
    public void GetState_NameItDoesNotKeep_IsRefused()
    {
        using var optimizer = new DeviceOptimizer(Set.Kernels, new OptimizerSettings(OptimizerKind.Sgd), Count);
        var error = Assert.Throws<ArgumentException>(() => optimizer.GetState(Optimizers.MomentumBuffer));
        Assert.Contains("keeps no state 'momentum_buffer'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void SetState_ThenReset_RoundTripsAndClears()
    {
        using var optimizer = new DeviceOptimizer(Set.Kernels, new OptimizerSettings(OptimizerKind.AdamW), Count);
        float[] values = TestData.Uniform(new Random(71), Count);
        optimizer.SetState(Optimizers.ExpAvgSq, values);
        Assert.Equal(values, optimizer.GetState(Optimizers.ExpAvgSq));
        Assert.Throws<ArgumentException>(() => optimizer.SetState(Optimizers.ExpAvg, new float[Count + 1]));
        optimizer.Reset();
        Assert.All(optimizer.GetState(Optimizers.ExpAvgSq), value => Assert.Equal(0f, value));
        Assert.Equal(0, optimizer.Steps);
    }

    [Fact]
    public void Step_ViewsOfAnotherLength_AreRefused()
    {
        using var optimizer = new DeviceOptimizer(Set.Kernels, new OptimizerSettings(OptimizerKind.Sgd), Count);
        using var p = Set.Accelerator.Allocate1D<float>(Count + 1);
        using var g = Set.Accelerator.Allocate1D<float>(Count);
        Assert.Throws<ArgumentException>(() => optimizer.Step(p.View, g.View, 0.1f));
        Assert.Throws<ArgumentOutOfRangeException>(() => optimizer.Step(p.View.SubView(0, Count), g.View, float.NaN));
        Assert.Equal(0, optimizer.Steps);
    }

    [Fact]
    public void Constructor_InvalidSettings_AreRefused()
    {
        var error = Assert.Throws<ArgumentException>(() =>
            new DeviceOptimizer(Set.Kernels, new OptimizerSettings(OptimizerKind.Sgd) { Nesterov = true }, Count));
        Assert.StartsWith("--nesterov", error.Message, StringComparison.Ordinal);
    }
}

/// <summary>Every optimiser test with the GPU launch profile (256-thread element-wise groups,
/// grid-stride loops; see GpuLaunchShapeTests.cs).</summary>
[Collection(DeviceCollection.Name)]
public sealed class OptimizerOnGpuLaunchShapesTests(DeviceFixture fixture) : OptimizerTests(fixture)
{
    protected override KernelSet Set => Fixture.GpuProfile;
}
