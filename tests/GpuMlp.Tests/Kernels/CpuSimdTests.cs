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
            // fan-in x fan-out x rows: one element; ragged in every dimension; the report's last layer.
            foreach ((int m, int n, int k) in new[] { (1, 1, 1), (33, 7, 129), (7, 129, 33), (65, 17, 130), (256, 10, 37) })
                data.Add(path, m, n, k);
        }
        return data;
    }

    /// <summary>MlpKernels.WeightGradient on the SIMD path is ONE launch computing dW = X^T dZ and
    /// db = column sums of dZ: both against the float64 reference, and db bit-identical to the
    /// portable DenseBiasGradientKernel on the CPU accelerator (both add the rows in order).</summary>
    [Theory]
    [MemberData(nameof(WeightGradientCases))]
    public void WeightGradient_MatchesReferenceAndPortableBiasGradientBits(CpuSimdRequest path, int fanIn, int fanOut, int rows)
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

    /// <summary>Adam does the portable kernel's operations in its order, none fused, so every path
    /// produces the portable kernel's bits (the tolerance tests are AdamOnCpu*Tests).</summary>
    [Theory]
    [MemberData(nameof(Paths))]
    public void Adam_GivesThePortableKernelsBits(CpuSimdRequest path)
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
                set.Kernels.Adam(p.View, g.View, m.View, v.View, count, AdamTests.StepFor(t));
            }
            return (p.Download("p"), m.Download("m"), v.Download("v"));
        }
        var simd = Run(fixture.Cpu(path));
        var portable = Run(fixture.Cpu(CpuSimdRequest.Off));
        Assert.Equal(portable.M, simd.M);
        Assert.Equal(portable.V, simd.V);
        Assert.Equal(portable.P, simd.P);
    }

    /// <summary>The gather's vector conversion (exact int-to-float, one correctly rounded division by
    /// 255) and the portable kernel's (divide in double, round once) agree on every byte.</summary>
    [Fact]
    public void ByteOver255InFloat_EqualsTheDoubleRoundedValueForEveryByte()
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
            var kernels = new MlpKernels(device.Accelerator, cpuSimd: path);
            Assert.Equal(GemmVariant.CpuSimd, kernels.Variant);
            using var trainer = new Trainer(device, kernels, data, options);
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
    public void Training_PathsAgreeToRounding()
    {
        var options = new TrainingOptions { Epochs = 1, BatchSize = 50, LimitTrain = 300, ValidationSplit = 0, Seed = 7, Hidden = [40, 24] };
        var data = RealMnist.Load();
        float[] Run(CpuSimdRequest path)
        {
            KernelSet set = fixture.Cpu(path);
            using var trainer = new Trainer(set.Device, set.Kernels, data, options);
            trainer.TrainEpoch(1, cancel: TestContext.Current.CancellationToken);
            return trainer.Network.GetParameters();
        }
        double[] portable = NaiveReference.ToDouble(Run(CpuSimdRequest.Off));
        foreach (CpuSimdRequest path in Paths())
            Compare.AllClose(Run(path), portable, 2e-5, 1e-3, $"{path} weights vs the portable kernels' after 6 steps");
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
    public void Describe_NamesThePathAndEmulation()
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
    public void MlpKernels_UsesTheSimdSetOnlyOnTheCpuWithAutoVariant()
    {
        using var device = ComputeDevice.Open(DeviceRequest.Cpu);
        var simd = new MlpKernels(device.Accelerator, cpuSimd: CpuSimdRequest.Vector256);
        Assert.Equal(GemmVariant.CpuSimd, simd.Variant);
        Assert.Equal(CpuSimdWidth.Vector256, simd.CpuSimd);
        Assert.Equal(Math.Max(2, Environment.ProcessorCount), simd.CpuWorkers);
        Assert.Equal(simd.CpuWorkers, simd.PartialCount);

        var off = new MlpKernels(device.Accelerator, cpuSimd: CpuSimdRequest.Off);
        Assert.Equal(GemmVariant.RegisterTiled, off.Variant);
        Assert.Null(off.CpuSimd);

        var forced = new MlpKernels(device.Accelerator, GemmVariant.RegisterTiled, cpuSimd: CpuSimdRequest.Vector512);
        Assert.Null(forced.CpuSimd);
        Assert.Throws<ArgumentException>(() => new MlpKernels(device.Accelerator, GemmVariant.CpuSimd, cpuSimd: CpuSimdRequest.Off));
    }
}
