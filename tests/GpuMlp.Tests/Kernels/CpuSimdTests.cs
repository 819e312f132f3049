// The CPU accelerator's SIMD kernel set (kernels/Cpu) on every path, whatever the hardware:
// Vector512, Vector256 and scalar are each forced (a path the machine lacks runs through .NET's
// software vectors, the same operations, slowly), and the portable kernels with CPU launches
// (--cpu-simd off) run as well. The GEMM's layouts and epilogues are DenseGemmTests' Cpu* paths;
// here: every other kernel's test class rerun per path, the fused weight+bias gradient, the bits
// the SIMD kernels share with the portable ones, determinism per path (including across worker
// counts), and the path selection itself.
using GpuMlp.Compute;
using GpuMlp.Kernels;
using GpuMlp.Kernels.Cpu;
using GpuMlp.Tests.Data;
using GpuMlp.Tests.Reference;
using GpuMlp.Tests.Training;
using GpuMlp.Training;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;

namespace GpuMlp.Tests.Kernels;

[Collection(DeviceCollection.Name)]
public sealed class GatherOnCpuVector512Tests(DeviceFixture fixture) : GatherTests(fixture)
{
    protected override KernelSet Set => Fixture.Cpu(CpuSimdRequest.Vector512);
}

[Collection(DeviceCollection.Name)]
public sealed class GatherOnCpuVector256Tests(DeviceFixture fixture) : GatherTests(fixture)
{
    protected override KernelSet Set => Fixture.Cpu(CpuSimdRequest.Vector256);
}

[Collection(DeviceCollection.Name)]
public sealed class GatherOnCpuScalarTests(DeviceFixture fixture) : GatherTests(fixture)
{
    protected override KernelSet Set => Fixture.Cpu(CpuSimdRequest.Scalar);
}

[Collection(DeviceCollection.Name)]
public sealed class GatherOnCpuPortableTests(DeviceFixture fixture) : GatherTests(fixture)
{
    protected override KernelSet Set => Fixture.Cpu(CpuSimdRequest.Off);
}

[Collection(DeviceCollection.Name)]
public sealed class SoftmaxCrossEntropyOnCpuVector512Tests(DeviceFixture fixture) : SoftmaxCrossEntropyTests(fixture)
{
    protected override KernelSet Set => Fixture.Cpu(CpuSimdRequest.Vector512);
}

[Collection(DeviceCollection.Name)]
public sealed class SoftmaxCrossEntropyOnCpuVector256Tests(DeviceFixture fixture) : SoftmaxCrossEntropyTests(fixture)
{
    protected override KernelSet Set => Fixture.Cpu(CpuSimdRequest.Vector256);
}

[Collection(DeviceCollection.Name)]
public sealed class SoftmaxCrossEntropyOnCpuScalarTests(DeviceFixture fixture) : SoftmaxCrossEntropyTests(fixture)
{
    protected override KernelSet Set => Fixture.Cpu(CpuSimdRequest.Scalar);
}

[Collection(DeviceCollection.Name)]
public sealed class SoftmaxCrossEntropyOnCpuPortableTests(DeviceFixture fixture) : SoftmaxCrossEntropyTests(fixture)
{
    protected override KernelSet Set => Fixture.Cpu(CpuSimdRequest.Off);
}

[Collection(DeviceCollection.Name)]
public sealed class AdamOnCpuVector512Tests(DeviceFixture fixture) : AdamTests(fixture)
{
    protected override KernelSet Set => Fixture.Cpu(CpuSimdRequest.Vector512);
}

[Collection(DeviceCollection.Name)]
public sealed class AdamOnCpuVector256Tests(DeviceFixture fixture) : AdamTests(fixture)
{
    protected override KernelSet Set => Fixture.Cpu(CpuSimdRequest.Vector256);
}

[Collection(DeviceCollection.Name)]
public sealed class AdamOnCpuScalarTests(DeviceFixture fixture) : AdamTests(fixture)
{
    protected override KernelSet Set => Fixture.Cpu(CpuSimdRequest.Scalar);
}

[Collection(DeviceCollection.Name)]
public sealed class AdamOnCpuPortableTests(DeviceFixture fixture) : AdamTests(fixture)
{
    protected override KernelSet Set => Fixture.Cpu(CpuSimdRequest.Off);
}

[Collection(DeviceCollection.Name)]
public sealed class EvaluationOnCpuVector512Tests(DeviceFixture fixture) : EvaluationTests(fixture)
{
    protected override KernelSet Set => Fixture.Cpu(CpuSimdRequest.Vector512);
}

[Collection(DeviceCollection.Name)]
public sealed class EvaluationOnCpuVector256Tests(DeviceFixture fixture) : EvaluationTests(fixture)
{
    protected override KernelSet Set => Fixture.Cpu(CpuSimdRequest.Vector256);
}

[Collection(DeviceCollection.Name)]
public sealed class EvaluationOnCpuScalarTests(DeviceFixture fixture) : EvaluationTests(fixture)
{
    protected override KernelSet Set => Fixture.Cpu(CpuSimdRequest.Scalar);
}

[Collection(DeviceCollection.Name)]
public sealed class EvaluationOnCpuPortableTests(DeviceFixture fixture) : EvaluationTests(fixture)
{
    protected override KernelSet Set => Fixture.Cpu(CpuSimdRequest.Off);
}

[Collection(DeviceCollection.Name)]
public sealed class NetworkGradientOnCpuVector512Tests(DeviceFixture fixture) : NetworkGradientTests(fixture)
{
    protected override KernelSet Set => Fixture.Cpu(CpuSimdRequest.Vector512);
}

[Collection(DeviceCollection.Name)]
public sealed class NetworkGradientOnCpuVector256Tests(DeviceFixture fixture) : NetworkGradientTests(fixture)
{
    protected override KernelSet Set => Fixture.Cpu(CpuSimdRequest.Vector256);
}

[Collection(DeviceCollection.Name)]
public sealed class NetworkGradientOnCpuScalarTests(DeviceFixture fixture) : NetworkGradientTests(fixture)
{
    protected override KernelSet Set => Fixture.Cpu(CpuSimdRequest.Scalar);
}

[Collection(DeviceCollection.Name)]
public sealed class NetworkGradientOnCpuPortableTests(DeviceFixture fixture) : NetworkGradientTests(fixture)
{
    protected override KernelSet Set => Fixture.Cpu(CpuSimdRequest.Off);
}

[Collection(DeviceCollection.Name)]
public sealed class CpuSimdKernelTests(DeviceFixture fixture)
{
    public static TheoryData<CpuSimdRequest> Paths() =>
        [CpuSimdRequest.Vector512, CpuSimdRequest.Vector256, CpuSimdRequest.Scalar];

    public static TheoryData<CpuSimdRequest, int, int, int> WeightGradientCases()
    {
        var data = new TheoryData<CpuSimdRequest, int, int, int>();
        foreach (CpuSimdRequest path in Paths())
        {
            // fan-in x fan-out x rows: one element; ragged in every dimension; the report's last layer;
            // a long K taken in chunks (a convolution's weight gradient: K = batch x pixels).
            foreach ((int m, int n, int k) in new[] { (1, 1, 1), (33, 7, 129), (7, 129, 33), (65, 17, 130), (256, 10, 37), (13, 70, 2500) })
                data.Add(path, m, n, k);
        }
        return data;
    }

    /// <summary>DeviceKernels.WeightGradient on the SIMD path is ONE launch computing dW = X^T dZ and
    /// db = column sums of dZ: both against the float64 reference, and db bit-identical to the
    /// portable DenseBiasGradientKernel on the CPU accelerator (both add the rows in order).</summary>
    [Theory]
    [MemberData(nameof(WeightGradientCases))]
    public void WeightGradient_AnyPath_MatchesReferenceAndPortableBiasGradientBits(CpuSimdRequest path, int fanIn, int fanOut, int rows)
    {
        KernelSet set = fixture.Cpu(path);
        var random = new Random((fanIn * 1000) + (fanOut * 10) + rows);
        float[] x = TestData.Uniform(random, rows * fanIn);
        float[] dz = TestData.Uniform(random, rows * fanOut);
        var shape = GemmShape.TransposedA(fanIn, fanOut, rows);
        double[] expectedDw = NaiveReference.MatMul(NaiveReference.ToDouble(TestData.Transpose(x, rows, fanIn)), NaiveReference.ToDouble(dz), fanIn, fanOut, rows);
        double[] expectedDb = NaiveReference.BiasGradient(NaiveReference.ToDouble(dz), rows, fanOut);

        using var xBuffer = set.Accelerator.Input(x);
        using var dzBuffer = set.Accelerator.Input(dz);
        using var dw = set.Accelerator.Output(fanIn * fanOut);
        using var db = set.Accelerator.Output(fanOut);
        set.Kernels.WeightGradient(shape, xBuffer.View, dzBuffer.View, dw.View, db.View);

        Compare.AllClose(dw.Download("dW"), expectedDw, Tolerance.Gemm(Backend.Cpu, rows), $"{set.Name} dW {fanIn}x{fanOut}x{rows}", fanOut);
        float[] dbOut = db.Download("db");
        Compare.AllClose(dbOut, expectedDb, Tolerance.Sum(Backend.Cpu, rows), $"{set.Name} db");

        KernelSet portable = fixture.Cpu(CpuSimdRequest.Off);
        using var dzPortable = portable.Accelerator.Input(dz);
        using var dbPortable = portable.Accelerator.Output(fanOut);
        portable.Kernels.BiasGradient(dzPortable.View, rows, fanOut, dbPortable.View);
        Assert.Equal(dbPortable.Download("db (portable)"), dbOut);

        // The standalone SIMD bias gradient gives the same bits as well.
        set.Bind();
        using var dbAlone = set.Accelerator.Output(fanOut);
        set.Kernels.BiasGradient(dzBuffer.View, rows, fanOut, dbAlone.View);
        Assert.Equal(dbOut, dbAlone.Download("db (standalone)"));
    }

    /// <summary>A K longer than the GEMM packs at once is taken in chunks with the tiles' accumulators
    /// parked between them: every element still sees its products added in k order, so dW has the bits
    /// of a float accumulation in k order (fused multiply-add on the vector paths, as their
    /// MultiplyAdd is; multiply then add on the scalar path), across chunk edges and ragged tiles.</summary>
    /// <remarks>fanOut 16, 32 and 64 make dz one panel as wide as its rows on some paths, which the
    /// tiles then read in place; fanIn 9 is two row tiles, which two workers share.</remarks>
    [Theory]
    [MemberData(nameof(LongKCases))]
    public void WeightGradient_LongKInChunks_HasTheBitsOfOneInOrderPass(CpuSimdRequest path, int fanOut)
    {
        KernelSet set = fixture.Cpu(path);
        const int fanIn = 9, rows = 4500;
        var random = new Random(4500);
        float[] x = TestData.Uniform(random, rows * fanIn);
        float[] dz = TestData.Uniform(random, rows * fanOut);
        using var xBuffer = set.Accelerator.Input(x);
        using var dzBuffer = set.Accelerator.Input(dz);
        using var dw = set.Accelerator.Output(fanIn * fanOut);
        using var db = set.Accelerator.Output(fanOut);
        set.Kernels.WeightGradient(GemmShape.TransposedA(fanIn, fanOut, rows), xBuffer.View, dzBuffer.View, dw.View, db.View);

        bool fused = path != CpuSimdRequest.Scalar;
        var expected = new float[fanIn * fanOut];
        for (int m = 0; m < fanIn; m++)
        {
            for (int n = 0; n < fanOut; n++)
            {
                float sum = 0f;
                for (int k = 0; k < rows; k++)
                {
                    float a = x[(k * fanIn) + m], b = dz[(k * fanOut) + n];
                    sum = fused ? MathF.FusedMultiplyAdd(a, b, sum) : (a * b) + sum;
                }
                expected[(m * fanOut) + n] = sum;
            }
        }
        Assert.Equal(expected, dw.Download("dW"));
        var expectedDb = new float[fanOut];
        for (int n = 0; n < fanOut; n++)
        {
            for (int k = 0; k < rows; k++)
                expectedDb[n] += dz[(k * fanOut) + n];
        }
        Assert.Equal(expectedDb, db.Download("db"));
    }

    public static TheoryData<CpuSimdRequest, int> LongKCases()
    {
        var cases = new TheoryData<CpuSimdRequest, int>();
        foreach (CpuSimdRequest path in new[] { CpuSimdRequest.Vector512, CpuSimdRequest.Vector256, CpuSimdRequest.Scalar })
        {
            foreach (int fanOut in new[] { 16, 25, 32, 64 })
                cases.Add(path, fanOut);
        }
        return cases;
    }

    /// <summary>Adam does the portable kernel's operations in its order, none fused, so every path
    /// produces the portable kernel's bits (the tolerance tests are AdamOnCpu*Tests).</summary>
    [Theory]
    [MemberData(nameof(Paths))]
    public void Adam_AnyPath_GivesThePortableKernelsBits(CpuSimdRequest path)
    {
        const int count = 1001;
        var random = new Random(5);
        float[] start = TestData.Uniform(random, count);
        float[][] gradients = [.. Enumerable.Range(0, 3).Select(_ => TestData.Uniform(random, count, -2f, 2f))];
        (float[] P, float[] M, float[] V) Run(KernelSet set)
        {
            using var p = set.Accelerator.Input(start);
            using var m = set.Accelerator.Input(new float[count]);
            using var v = set.Accelerator.Input(new float[count]);
            for (int t = 1; t <= gradients.Length; t++)
            {
                using var g = set.Accelerator.Input(gradients[t - 1]);
                set.Kernels.OptimizerStep(new OptimizerOperands(p.View, g.View, m.View, v.View), count, AdamTests.StepFor(t));
            }
            return (p.Download("p"), m.Download("m"), v.Download("v"));
        }
        var simd = Run(fixture.Cpu(path));
        var portable = Run(fixture.Cpu(CpuSimdRequest.Off));
        Assert.Equal(portable.M, simd.M);
        Assert.Equal(portable.V, simd.V);
        Assert.Equal(portable.P, simd.P);
    }

    /// <summary>Every optimiser option that changes the arithmetic: weight decay (coupled and
    /// decoupled), momentum with and without dampening, Nesterov, centering, RMSprop momentum.</summary>
    private static readonly Dictionary<string, OptimizerSettings> OptimizerConfigurations = new(StringComparer.Ordinal)
    {
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

    public static TheoryData<CpuSimdRequest, string> OptimizerCases()
    {
        var data = new TheoryData<CpuSimdRequest, string>();
        foreach (CpuSimdRequest path in Paths())
        {
            foreach (string name in OptimizerConfigurations.Keys)
                data.Add(path, name);
        }
        return data;
    }

    /// <summary>AdamW, SGD and RMSprop (and Adam with weight decay) on the SIMD kernels do the portable
    /// kernels' operations in their order, none fused, with the per-launch branches (decay, momentum,
    /// first step, Nesterov, centered) taken for every element: four steps from the first, each with
    /// new gradients and its own learning rate, over 1001 parameters (not a multiple of any vector,
    /// so the last vector is partial), give the portable kernels' parameters and state bit for bit.
    /// Odd steps run standalone, even ones recorded in a fused scope (the CpuProgram command); the
    /// parameter views sit between NaN guards, so a write past the end fails the download.</summary>
    [Theory]
    [MemberData(nameof(OptimizerCases))]
    public void Optimizer_AnyPathStandaloneAndFused_GivesThePortableKernelsBits(CpuSimdRequest path, string configuration)
    {
        const int count = 1001, steps = 4;
        OptimizerSettings settings = OptimizerConfigurations[configuration];
        var random = new Random(17);
        float[] start = TestData.Uniform(random, count);
        float[][] gradients = [.. Enumerable.Range(0, steps).Select(_ => TestData.Gradients(random, count))];
        (float[] Parameters, OptimizerState State, long Launches) Run(KernelSet set)
        {
            using var optimizer = new DeviceOptimizer(set.Kernels, settings, count);
            using var p = set.Accelerator.Input(start);
            long before = set.Kernels.CpuLaunches;
            for (int t = 1; t <= steps; t++)
            {
                using var g = set.Accelerator.Input(gradients[t - 1]);
                float learningRate = settings.LearningRate * (1f - (0.1f * (t - 1)));
                using (t % 2 == 0 ? set.Kernels.FuseLaunches() : default(DeviceKernels.FusedLaunches?))
                    optimizer.Step(p.View, g.View, learningRate);
            }
            long launches = set.Kernels.CpuLaunches - before;
            return (p.Download("parameters"), optimizer.Capture(), launches);
        }
        var simd = Run(fixture.Cpu(path));
        var portable = Run(fixture.Cpu(CpuSimdRequest.Off));
        Assert.Equal(steps, simd.Launches); // one SIMD launch (or one-command program) per step
        Assert.Equal(portable.State.Steps, simd.State.Steps);
        foreach (var (name, values) in portable.State.Tensors)
            AssertSameBits(values, simd.State.Tensors[name], $"{path} {configuration} {name}");
        AssertSameBits(portable.Parameters, simd.Parameters, $"{path} {configuration} parameters");
        Assert.NotEqual(start, simd.Parameters);
    }

    /// <summary>Equal bit patterns (so -0 differs from +0 and NaNs must match); the failure names the
    /// first index that differs and both values.</summary>
    private static void AssertSameBits(float[] expected, float[] actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            if (BitConverter.SingleToInt32Bits(expected[i]) != BitConverter.SingleToInt32Bits(actual[i]))
                Assert.Fail($"{what}: element {i} is {actual[i]:R}, the portable kernel's {expected[i]:R}");
        }
    }

    /// <summary>The gather's vector conversion (exact int-to-float, one correctly rounded division by
    /// 255) and the portable kernel's (divide in double, round once) agree on every byte.</summary>
    [Fact]
    public void ByteOver255_InFloat_EqualsTheDoubleRoundedValueForEveryByte()
    {
        for (int b = 0; b < 256; b++)
            Assert.Equal((float)(b / 255.0), b / 255f);
    }

    /// <summary>Same seed and same path give bit-identical weights, and so does a different number of
    /// worker threads: every output element is computed by one worker in a fixed order, so nothing
    /// depends on how the work is split or scheduled.</summary>
    [Theory]
    [MemberData(nameof(Paths))]
    public void Training_SameSeedAndPath_BitIdenticalForAnyWorkerCount(CpuSimdRequest path)
    {
        var options = new TrainingOptions { Epochs = 1, BatchSize = 50, LimitTrain = 300, ValidationSplit = 0, Seed = 7, Hidden = [40, 24] };
        var data = RealMnist.Load();
        float[] Run(CPUDevice shape)
        {
            using var device = ComputeDevice.Open(DeviceRequest.Cpu, shape);
            var kernels = new DeviceKernels(device.Accelerator, cpuSimd: path);
            Assert.Equal(GemmVariant.CpuSimd, kernels.Variant);
            using var trainer = new Trainer(new KernelDevice(device, kernels), data, options);
            trainer.TrainEpoch(1, cancel: TestContext.Current.CancellationToken);
            return trainer.Network.GetParameters();
        }
        float[] first = Run(ComputeDevice.CpuDeviceShape);
        float[] again = Run(ComputeDevice.CpuDeviceShape);
        float[] threeWorkers = Run(new CPUDevice(3, 1, 1));
        Assert.Equal(first, again);
        Assert.Equal(first, threeWorkers);
    }

    /// <summary>Different paths round differently (fused multiply-add, vector exp) but train the same
    /// model: after 6 steps the weights agree to float32 noise, far below what a wrong kernel moves.</summary>
    [Fact]
    public void Training_DifferentPaths_AgreeToRounding()
    {
        var options = new TrainingOptions { Epochs = 1, BatchSize = 50, LimitTrain = 300, ValidationSplit = 0, Seed = 7, Hidden = [40, 24] };
        var data = RealMnist.Load();
        float[] Run(CpuSimdRequest path)
        {
            KernelSet set = fixture.Cpu(path);
            using var trainer = new Trainer(set.KernelDevice, data, options);
            trainer.TrainEpoch(1, cancel: TestContext.Current.CancellationToken);
            return trainer.Network.GetParameters();
        }
        double[] portable = NaiveReference.ToDouble(Run(CpuSimdRequest.Off));
        foreach (CpuSimdRequest path in Paths())
            Compare.AllClose(Run(path), portable, 2e-5, 1e-3, $"{path} weights vs the portable kernels' after 6 steps");
    }
}

/// <summary>DeviceKernels.FuseLaunches: a training step's launches recorded and run as one
/// CpuProgram launch, with the bits of the launches run one by one.</summary>
[Collection(DeviceCollection.Name)]
public sealed class CpuFusedLaunchTests(DeviceFixture fixture)
{
    private static readonly Architecture Shape = Architecture.Mlp(29, [33, 17], 10, 0.25f);
    private const int Inputs = 29;
    private const int Rows = 13;

    /// <summary>One whole step (gather, forward with dropout, loss, backward, Adam) from the same
    /// state, fused and unfused: identical parameters, moments and per-sample results; the fused step
    /// is ONE launch, the unfused one 11 (gather, 3 forward GEMMs, softmax, 3 weight+bias gradients,
    /// 2 input gradients, Adam).</summary>
    [Theory]
    [MemberData(nameof(CpuSimdKernelTests.Paths), MemberType = typeof(CpuSimdKernelTests))]
    public void TrainingStep_Fused_IsOneLaunchWithTheUnfusedBits(CpuSimdRequest path)
    {
        KernelSet set = fixture.Cpu(path);
        DeviceKernels kernels = set.Kernels;
        Assert.True(kernels.FusesLaunches);
        var architecture = Shape;
        var random = new Random(3);
        const int samples = 40;
        byte[] images = TestData.Bytes(random, samples * Inputs);
        byte[] labels = TestData.Bytes(random, samples, Shape.Classes);
        int[] order = TestData.Permutation(random, samples);
        void Gather(DeviceKernels k, LayerNetwork network, FusedStep.Batch batch) =>
            k.Gather(batch.Images, batch.Labels, batch.Order, 7, Rows, Inputs, network.Input, network.Labels);
        var unfused = FusedStep.Run(set, architecture, Rows, images, labels, order, fused: false, Gather);
        var fused = FusedStep.Run(set, architecture, Rows, images, labels, order, fused: true, Gather);
        Assert.Equal(11, unfused.Launches);
        Assert.Equal(1, fused.Launches);
        FusedStep.AssertSameBits(unfused, fused);
        Assert.NotEqual(Shape.InitialParameters(9), fused.Parameters);
    }

    public static TheoryData<string, string?, int, bool> TrainerCases() => new()
    {
        { "adam", null, 0, false },
        { "adamw", null, 0, false },
        { "sgd", null, 0, false },
        { "rmsprop", null, 0, false },
        // The convolution, pooling and shifted-gather launches join the step as well.
        { "adam", "conv3x3x4p1,relu,pool2,flatten,dense10", 2, false },
        // So do the batch-norm launches, 2-D and 1-D.
        { "sgd", "conv3x3x4p1,bn,relu,pool2,flatten,dense8,bn,relu,dense10", 0, false },
        // So does the distorting gather (affine and elastic, with the shift).
        { "adam", null, 1, true },
    };

    /// <summary>The real Trainer's training step (Trainer.TrainEpoch through the public API, not a copy
    /// of its step) is ONE launch on the CPU SIMD path for every optimiser: the progress callback runs
    /// after each step, and between two callbacks (and from before the epoch to the first) exactly one
    /// launch happened. Momentum and centering are on, so every optimiser state buffer is in use; the
    /// last batch is partial (280 = 5 x 50 + 30).</summary>
    [Theory]
    [MemberData(nameof(TrainerCases))]
    public void TrainerStep_AnyOptimizer_IsOneLaunch(string optimizer, string? architecture, int augmentShift, bool distort)
    {
        KernelSet set = fixture.Cpu(CpuSimdRequest.Vector256);
        Assert.True(set.Kernels.FusesLaunches);
        OptimizerKind kind = Optimizers.Parse(optimizer);
        var settings = kind switch
        {
            OptimizerKind.Adam => new OptimizerSettings(kind),
            OptimizerKind.AdamW => new OptimizerSettings(kind),
            OptimizerKind.Sgd => new OptimizerSettings(kind) { Momentum = 0.9f, Nesterov = true },
            OptimizerKind.Rmsprop => new OptimizerSettings(kind) { Momentum = 0.5f, Centered = true },
            _ => throw new ArgumentOutOfRangeException(nameof(optimizer), optimizer, "not an optimiser"),
        };
        var options = new TrainingOptions
        {
            Epochs = 1,
            BatchSize = 50,
            LimitTrain = 280,
            ValidationSplit = 0,
            Seed = 5,
            Hidden = [24],
            ArchitectureText = architecture,
            AugmentShift = augmentShift,
            Distortion = distort ? new ImageDistortion { RotateDegrees = 10, Scale = 0.1f, ElasticAlpha = 34, ElasticSigma = 4 } : null,
            ProgressUpdatesPerEpoch = 1,
            Optimizer = settings,
        };
        using var trainer = new Trainer(set.KernelDevice, RealMnist.Load(), options);
        var launchesPerStep = new List<long>();
        long last = set.Kernels.CpuLaunches;
        trainer.TrainEpoch(1, progress: p =>
        {
            if (p.SamplesDone == p.SamplesPerEpoch && launchesPerStep.Count == trainer.StepsPerEpoch)
                return; // the end-of-epoch report, after the loss reduction's launch
            launchesPerStep.Add(set.Kernels.CpuLaunches - last);
            last = set.Kernels.CpuLaunches;
        }, cancel: TestContext.Current.CancellationToken);
        Assert.Equal(6, trainer.StepsPerEpoch);
        Assert.Equal(Enumerable.Repeat(1L, trainer.StepsPerEpoch), launchesPerStep);
        Assert.Equal(6, trainer.Optimizer.Steps);
    }

    /// <summary>A portable kernel called inside a fused scope (the standalone ReLU) runs after what was
    /// recorded before it, so it reads the GEMM's output; nested scopes run one program at the end.</summary>
    [Fact]
    public void PortableLaunch_InsideAFusedScope_RunsAfterTheRecordedOnes()
    {
        KernelSet set = fixture.Cpu(CpuSimdRequest.Vector256);
        DeviceKernels kernels = set.Kernels;
        const int m = 9, n = 21, k = 5;
        var random = new Random(8);
        float[] a = TestData.Uniform(random, m * k);
        float[] b = TestData.Uniform(random, k * n);
        double[] expected = NaiveReference.ReluForward(NaiveReference.MatMul(NaiveReference.ToDouble(a), NaiveReference.ToDouble(b), m, n, k));
        using var aBuffer = set.Accelerator.Input(a);
        using var bBuffer = set.Accelerator.Input(b);
        using var c = set.Accelerator.Output(m * n);
        using var h = set.Accelerator.Output(m * n);
        long before = kernels.CpuLaunches;
        using (kernels.FuseLaunches())
        {
            using (kernels.FuseLaunches())
                kernels.Gemm(GemmShape.Plain(m, n, k), DenseEpilogue.Of(EpilogueMode.Store), aBuffer.View, bBuffer.View, c.View, kernels.Unused, kernels.Unused);
            Assert.Equal(before, kernels.CpuLaunches); // still recorded: the outer scope is open
            set.Unfused.ReluForward(c.View, h.View, m * n);
        }
        Assert.Equal(before + 2, kernels.CpuLaunches); // the program (one GEMM), then the ReLU
        Compare.AllClose(h.Download("h"), expected, Tolerance.Gemm(Backend.Cpu, k), "ReLU of the fused GEMM's output", n);
    }

    /// <summary>The portable kernels do not fuse: inside the scope a launch runs at once, so the host
    /// can read its output before the scope ends (a recorded launch would leave the NaN the output
    /// starts with).</summary>
    [Fact]
    public void FuseLaunches_PortableKernels_RunEachLaunchAtOnce()
    {
        KernelSet set = fixture.Cpu(CpuSimdRequest.Off);
        DeviceKernels portable = set.Kernels;
        Assert.False(portable.FusesLaunches);
        const int m = 9, n = 21, k = 5;
        var random = new Random(8);
        float[] a = TestData.Uniform(random, m * k);
        float[] b = TestData.Uniform(random, k * n);
        double[] expected = NaiveReference.MatMul(NaiveReference.ToDouble(a), NaiveReference.ToDouble(b), m, n, k);
        using var aBuffer = set.Accelerator.Input(a);
        using var bBuffer = set.Accelerator.Input(b);
        using var c = set.Accelerator.Output(m * n);
        using (portable.FuseLaunches())
        {
            portable.Gemm(GemmShape.Plain(m, n, k), DenseEpilogue.Of(EpilogueMode.Store), aBuffer.View, bBuffer.View, c.View, portable.Unused, portable.Unused);
            Compare.AllClose(c.Download("c"), expected, Tolerance.Gemm(Backend.Cpu, k), "GEMM read inside the scope", n);
        }
    }
}

/// <summary>How the path is chosen, shown and forced.</summary>
public sealed class CpuSimdChoiceTests
{
    [Theory]
    [InlineData(null, CpuSimdRequest.Auto)]
    [InlineData("", CpuSimdRequest.Auto)]
    [InlineData(" AUTO ", CpuSimdRequest.Auto)]
    [InlineData("512", CpuSimdRequest.Vector512)]
    [InlineData("vector512", CpuSimdRequest.Vector512)]
    [InlineData("256", CpuSimdRequest.Vector256)]
    [InlineData("Vector256", CpuSimdRequest.Vector256)]
    [InlineData("scalar", CpuSimdRequest.Scalar)]
    [InlineData("off", CpuSimdRequest.Off)]
    public void Parse_KnownValues_Parse(string? text, CpuSimdRequest expected) =>
        Assert.Equal(expected, CpuSimdChoice.Parse(text));

    [Theory]
    [InlineData("128")]
    [InlineData("avx512")]
    public void Parse_UnknownValue_ListsTheValues(string text)
    {
        var error = Assert.Throws<ArgumentException>(() => CpuSimdChoice.Parse(text));
        Assert.Contains(CpuSimdChoice.Values, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Resolve_Auto_IsTheWidestHardwarePath()
    {
        Assert.Equal(CpuSimd.Best, CpuSimdChoice.Resolve(CpuSimdRequest.Auto));
        Assert.True(CpuSimd.IsHardwareAccelerated(CpuSimd.Best));
        Assert.Equal(CpuSimdWidth.Vector256, CpuSimdChoice.Resolve(CpuSimdRequest.Vector256));
        Assert.Null(CpuSimdChoice.Resolve(CpuSimdRequest.Off));
    }

    [Fact]
    public void Describe_AnyPath_NamesThePathAndEmulation()
    {
        Assert.Equal("off (portable kernels)", CpuSimdChoice.Describe(null));
        Assert.Equal("scalar", CpuSimdChoice.Describe(CpuSimdWidth.Scalar));
        Assert.StartsWith("vector512", CpuSimdChoice.Describe(CpuSimdWidth.Vector512), StringComparison.Ordinal);
        Assert.Equal(!CpuSimd.IsHardwareAccelerated(CpuSimdWidth.Vector512),
            CpuSimdChoice.Describe(CpuSimdWidth.Vector512).Contains("emulated", StringComparison.Ordinal));
    }

    /// <summary>The SIMD set runs only where it can: the CPU accelerator with CPU launches and the
    /// Auto (or CpuSimd) GEMM; a forced portable GEMM variant keeps every portable kernel.</summary>
    [Fact]
    public void DeviceKernels_CpuWithAutoVariant_IsTheOnlyPlaceTheSimdSetRuns()
    {
        using var device = ComputeDevice.Open(DeviceRequest.Cpu);
        var simd = new DeviceKernels(device.Accelerator, cpuSimd: CpuSimdRequest.Vector256);
        Assert.Equal(GemmVariant.CpuSimd, simd.Variant);
        Assert.Equal(CpuSimdWidth.Vector256, simd.CpuSimd);
        Assert.Equal(Math.Max(2, Environment.ProcessorCount), simd.CpuWorkers);
        Assert.Equal(simd.CpuWorkers, simd.PartialCount);

        var off = new DeviceKernels(device.Accelerator, cpuSimd: CpuSimdRequest.Off);
        Assert.Equal(GemmVariant.RegisterTiled, off.Variant);
        Assert.Null(off.CpuSimd);

        var forced = new DeviceKernels(device.Accelerator, GemmVariant.RegisterTiled, cpuSimd: CpuSimdRequest.Vector512);
        Assert.Null(forced.CpuSimd);
        Assert.Throws<ArgumentException>(() => new DeviceKernels(device.Accelerator, GemmVariant.CpuSimd, cpuSimd: CpuSimdRequest.Off));
    }
}
/// <summary>One training step (gather, forward, loss, backward, Adam) from a fixed state, inside a
/// FuseLaunches scope or launch by launch: what the fused-launch tests compare.</summary>
internal static class FusedStep
{
    /// <summary>The device copies of the step's data set, for the gather.</summary>
    internal sealed record Batch(ArrayView<byte> Images, ArrayView<byte> Labels, ArrayView<int> Order);

    internal sealed record Result(float[] Parameters, float[] First, float[] Second, float[] Loss, int[] Prediction, long Launches);

    /// <summary>Parameters start from architecture.InitialParameters(9); the step is drawn for seed 4,
    /// step 2, and writes its per-sample results at offset 5.</summary>
    public static Result Run(KernelSet set, Architecture architecture, int rows, byte[] images, byte[] labels, int[] order, bool fused,
        Action<DeviceKernels, LayerNetwork, Batch> gather)
    {
        DeviceKernels kernels = set.Kernels;
        using var imagesBuffer = set.Accelerator.Upload(images);
        using var labelsBuffer = set.Accelerator.Upload(labels);
        using var orderBuffer = set.Accelerator.Upload(order);
        using var network = new LayerNetwork(kernels, architecture, rows);
        using var adam = new DeviceOptimizer(kernels, new OptimizerSettings(OptimizerKind.Adam), architecture.ParameterCount);
        network.SetParameters(architecture.InitialParameters(9));
        using var loss = set.Accelerator.Allocate1D<float>(rows + 5);
        using var prediction = set.Accelerator.Allocate1D<int>(rows + 5);
        loss.MemSetToZero();
        prediction.MemSetToZero();
        long before = kernels.CpuLaunches;
        using (fused ? kernels.FuseLaunches() : default(DeviceKernels.FusedLaunches?))
        {
            gather(kernels, network, new Batch(imagesBuffer.View, labelsBuffer.View, orderBuffer.View));
            network.Forward(rows, training: true, seed: 4, step: 2);
            network.Loss(rows, writeGradient: true, 5, loss.View, prediction.View);
            network.Backward(rows);
            adam.Step(network.Parameters, network.Gradients, 1e-2f);
        }
        long launches = kernels.CpuLaunches - before;
        return new Result(network.GetParameters(), adam.GetState(Optimizers.ExpAvg), adam.GetState(Optimizers.ExpAvgSq),
            loss.GetAsArray1D(), prediction.GetAsArray1D(), launches);
    }

    /// <summary>Identical parameters, moments and per-sample results, and a step that moved the parameters.</summary>
    public static void AssertSameBits(Result unfused, Result fused)
    {
        Assert.Equal(unfused.Parameters, fused.Parameters);
        Assert.Equal(unfused.First, fused.First);
        Assert.Equal(unfused.Second, fused.Second);
        Assert.Equal(unfused.Loss, fused.Loss);
        Assert.Equal(unfused.Prediction, fused.Prediction);
    }
}
