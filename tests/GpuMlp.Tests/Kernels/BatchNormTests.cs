// Batch normalisation (kernels/BatchNormKernels.cs through DeviceKernels.BatchNorm*) against the
// float64 definition (Reference/BatchNormReference.cs, PyTorch's): the training statistics and the
// running update (momentum 0.1, unbiased variance, the batch count), the normalisation in training
// and evaluation, and the backward (dWeight, dBias, dx), also against central finite differences of
// the float64 forward. 2-D shapes (Spatial > 1, after a convolution) and 1-D ones (Spatial = 1, after
// a dense layer), with and without the fused ReLU.
//
// Tolerances |a - r| <= atol + rtol |r|: the kernels sum at most ~100 values per channel in float,
// so the statistics and y carry a few float ulps of relative error (atol = rtol = 2e-5); dx subtracts
// two channel means from g and so loses some relative precision where it cancels (atol 5e-5, rtol
// 1e-4). Finite differences (h = 1e-3 on the float64 forward, whose truncation error is O(h^2) ~1e-6)
// are compared with atol 2e-4, rtol 1e-3: the device's float gradient, not the reference, is the
// larger error.
using GpuMlp.Compute;
using GpuMlp.Kernels;
using GpuMlp.Tests.Reference;

namespace GpuMlp.Tests.Kernels;

[Collection(DeviceCollection.Name)]
public class BatchNormTests(DeviceFixture fixture)
{
    private static readonly Tol Values = new(2e-5, 2e-5);
    private static readonly Tol InputGradient = new(5e-5, 1e-4);
    private static readonly Tol FiniteDifference = new(2e-4, 1e-3);

    protected DeviceFixture Fixture => fixture;

    /// <summary>The kernels under test: the test device's; BatchNormOnCpuPortableTests reruns every
    /// test with the portable kernels on the CPU.</summary>
    protected virtual KernelSet Set => fixture.Main;

    /// <summary>Batch, Channels, Spatial, relu: a 2-D map (5x3 per channel), 1-D vectors, a batch of 2.</summary>
    public static TheoryData<int, int, int, bool> Shapes() => new()
    {
        { 3, 4, 15, false },
        { 3, 4, 15, true },
        { 7, 5, 1, false },
        { 7, 5, 1, true },
        { 2, 3, 1, false },
    };

    /// <summary>The inputs of one problem, drawn from the shape: x uniform in [-2, 3) (not centred, so
    /// the mean matters), weight in [0.5, 1.5), bias, running statistics and dy.</summary>
    internal sealed record Problem(BatchNormShape Shape, float[] X, float[] Weight, float[] Bias, float[] RunningMean, float[] RunningVariance, float[] Dy)
    {
        public static Problem Of(BatchNormShape s)
        {
            var random = new Random(TestData.StableSeed(s.Batch, s.Channels, s.Spatial));
            return new Problem(s, TestData.Uniform(random, s.Length, -2f, 3f), TestData.Uniform(random, s.Channels, 0.5f, 1.5f),
                TestData.Uniform(random, s.Channels), TestData.Uniform(random, s.Channels), TestData.Uniform(random, s.Channels, 0.5f, 2f),
                TestData.Uniform(random, s.Length));
        }

        public double[] D(float[] values) => NaiveReference.ToDouble(values);
    }

    /// <summary>What one training step of the layer writes.</summary>
    internal sealed record Results(float[] Mean, float[] Variance, float[] RunningMean, float[] RunningVariance, float[] Count, float[] Y,
        float[] DWeight, float[] DBias, float[] Dx);

    /// <summary>Statistics, forward, parameter gradients and input gradient, one launch each (inside
    /// one fused scope when fused), on <paramref name="set"/>.</summary>
    internal static Results TrainingStep(KernelSet set, Problem p, bool relu, bool maskInput = false, float keepScale = 1f, bool fused = false)
    {
        BatchNormShape s = p.Shape;
        var accelerator = set.Accelerator;
        using var x = accelerator.Input(p.X);
        using var weight = accelerator.Input(p.Weight);
        using var bias = accelerator.Input(p.Bias);
        using var runningMean = accelerator.Input(p.RunningMean);
        using var runningVariance = accelerator.Input(p.RunningVariance);
        using var count = accelerator.Input([3f]);
        using var dy = accelerator.Input(p.Dy);
        using var mean = accelerator.Output(s.Channels);
        using var variance = accelerator.Output(s.Channels);
        using var y = accelerator.Output(s.Length);
        using var dWeight = accelerator.Output(s.Channels);
        using var dBias = accelerator.Output(s.Channels);
        using var dx = accelerator.Output(s.Length);
        DeviceKernels kernels = set.Kernels;
        using (fused ? kernels.FuseLaunches() : default(DeviceKernels.FusedLaunches?))
        {
            kernels.BatchNormStatistics(s, x.View, mean.View, variance.View, runningMean.View, runningVariance.View, count.View);
            kernels.BatchNormForward(s, relu, x.View, mean.View, variance.View, weight.View, bias.View, y.View);
            kernels.BatchNormParameterGradients(s, relu, dy.View, y.View, x.View, mean.View, variance.View, dWeight.View, dBias.View);
            kernels.BatchNormInputGradient(s, relu, maskInput, keepScale,
                new BatchNormOperands(dy.View, y.View, x.View, mean.View, variance.View, weight.View, dWeight.View, dBias.View, dx.View));
        }
        return new Results(mean.Download("mean"), variance.Download("variance"), runningMean.Download("runningMean"),
            runningVariance.Download("runningVariance"), count.Download("numBatchesTracked"), y.Download("y"), dWeight.Download("dWeight"),
            dBias.Download("dBias"), dx.Download("dx"));
    }

    private static string Name(BatchNormShape s, bool relu) => $"[{s.Batch},{s.Channels},{s.Spatial}]{(relu ? " relu" : "")}";

    [Theory]
    [MemberData(nameof(Shapes))]
    public void TrainingForward_AnyShape_MatchesReferenceAndUpdatesRunningStatistics(int batch, int channels, int spatial, bool relu)
    {
        var s = new BatchNormShape(batch, channels, spatial);
        var p = Problem.Of(s);
        Results r = TrainingStep(Set, p, relu);

        var (mean, variance) = BatchNormReference.Statistics(s, p.D(p.X));
        string what = $"{Set.Name} batch norm {Name(s, relu)}";
        Compare.AllClose(r.Mean, mean, Values, what + " mean");
        Compare.AllClose(r.Variance, variance, Values, what + " biased variance");
        Compare.AllClose(r.Y, BatchNormReference.Normalise(s, p.D(p.X), mean, variance, p.D(p.Weight), p.D(p.Bias), relu), Values, what + " y", spatial);
        var (runningMean, runningVariance) = BatchNormReference.RunningUpdate(s, p.D(p.RunningMean), p.D(p.RunningVariance), mean, variance);
        Compare.AllClose(r.RunningMean, runningMean, Values, what + " running_mean");
        Compare.AllClose(r.RunningVariance, runningVariance, Values, what + " running_var (unbiased)");
        Assert.Equal([4f], r.Count);
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void EvaluationForward_RunningStatistics_MatchesReference(int batch, int channels, int spatial, bool relu)
    {
        var s = new BatchNormShape(batch, channels, spatial);
        var p = Problem.Of(s);
        var accelerator = Set.Accelerator;
        using var x = accelerator.Input(p.X);
        using var weight = accelerator.Input(p.Weight);
        using var bias = accelerator.Input(p.Bias);
        using var runningMean = accelerator.Input(p.RunningMean);
        using var runningVariance = accelerator.Input(p.RunningVariance);
        using var y = accelerator.Output(s.Length);

        Set.Kernels.BatchNormForward(s, relu, x.View, runningMean.View, runningVariance.View, weight.View, bias.View, y.View);

        Compare.AllClose(y.Download("y"), BatchNormReference.Normalise(s, p.D(p.X), p.D(p.RunningMean), p.D(p.RunningVariance),
            p.D(p.Weight), p.D(p.Bias), relu), Values, $"{Set.Name} batch norm eval {Name(s, relu)} y", spatial);
        Assert.Equal(p.RunningMean, runningMean.Download("running_mean"));
        Assert.Equal(p.RunningVariance, runningVariance.Download("running_var"));
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Backward_AnyShape_MatchesReference(int batch, int channels, int spatial, bool relu)
    {
        var s = new BatchNormShape(batch, channels, spatial);
        var p = Problem.Of(s);
        Results r = TrainingStep(Set, p, relu);

        var (dWeight, dBias, dx) = BatchNormReference.Backward(s, p.D(p.X), p.D(p.Weight), p.D(p.Bias), p.D(p.Dy), relu);
        string what = $"{Set.Name} batch norm backward {Name(s, relu)}";
        Compare.AllClose(r.DWeight, dWeight, Values, what + " dWeight");
        Compare.AllClose(r.DBias, dBias, Values, what + " dBias");
        Compare.AllClose(r.Dx, dx, InputGradient, what + " dx", spatial);
    }

    /// <summary>L = sum(dy ⊙ y(x, weight, bias)) in training mode, differentiated numerically in
    /// float64: the device's dx, dWeight and dBias are its gradient (without ReLU, which has kinks).</summary>
    [Theory]
    [InlineData(2, 3, 4)]
    [InlineData(5, 4, 1)]
    public void Backward_TinyShapes_MatchFiniteDifferences(int batch, int channels, int spatial)
    {
        const double h = 1e-3;
        var s = new BatchNormShape(batch, channels, spatial);
        var p = Problem.Of(s);
        Results r = TrainingStep(Set, p, relu: false);
        double[] x = p.D(p.X), weight = p.D(p.Weight), bias = p.D(p.Bias), dy = p.D(p.Dy);
        double Loss() => BatchNormReference.TrainingForward(s, x, weight, bias, relu: false).Select((v, i) => v * dy[i]).Sum();
        double[] Differences(double[] values)
        {
            var gradient = new double[values.Length];
            for (int i = 0; i < values.Length; i++)
            {
                double saved = values[i];
                values[i] = saved + h;
                double plus = Loss();
                values[i] = saved - h;
                double minus = Loss();
                values[i] = saved;
                gradient[i] = (plus - minus) / (2 * h);
            }
            return gradient;
        }

        string what = $"{Set.Name} batch norm {Name(s, false)} vs finite differences";
        Compare.AllClose(r.Dx, Differences(x), FiniteDifference, what + " dx", spatial);
        Compare.AllClose(r.DWeight, Differences(weight), FiniteDifference, what + " dWeight");
        Compare.AllClose(r.DBias, Differences(bias), FiniteDifference, what + " dBias");
    }

    /// <summary>One value per channel has no variance: torch refuses such a batch in training; the
    /// kernels normalise it to the bias and leave the running statistics and the count as they were.</summary>
    [Fact]
    public void Statistics_OneValuePerChannel_LeavesRunningStatisticsAndCountUnchanged()
    {
        var s = new BatchNormShape(1, 3, 1);
        var p = Problem.Of(s);
        Results r = TrainingStep(Set, p, relu: false);

        Assert.Equal(p.RunningMean, r.RunningMean);
        Assert.Equal(p.RunningVariance, r.RunningVariance);
        Assert.Equal([3f], r.Count);
        Assert.Equal(p.Bias, r.Y);
    }

    /// <summary>After a dense layer with ReLU and dropout, dx goes through that layer's mask: times the
    /// keep scale where its output (this layer's x) is positive, 0 elsewhere.</summary>
    [Fact]
    public void InputGradient_MaskInput_ScalesPositiveInputsAndZeroesTheRest()
    {
        var s = new BatchNormShape(6, 4, 1);
        var p = Problem.Of(s);
        Results r = TrainingStep(Set, p, relu: true, maskInput: true, keepScale: 2f);

        var (_, _, dx) = BatchNormReference.Backward(s, p.D(p.X), p.D(p.Weight), p.D(p.Bias), p.D(p.Dy), relu: true);
        double[] masked = dx.Select((v, i) => p.X[i] > 0f ? 2 * v : 0).ToArray();
        Compare.AllClose(r.Dx, masked, InputGradient, $"{Set.Name} batch norm masked dx", s.Channels);
    }
}

[Collection(DeviceCollection.Name)]
public sealed class BatchNormOnCpuPortableTests(DeviceFixture fixture) : BatchNormTests(fixture)
{
    protected override KernelSet Set => Fixture.Cpu(CpuSimdRequest.Off);
}

/// <summary>The CPU SIMD set's batch-norm kernels (kernels/Cpu/CpuBatchNormKernels.cs) give the
/// portable kernels' bits, launched one by one and recorded into one fused program.</summary>
[Collection(DeviceCollection.Name)]
public sealed class CpuBatchNormKernelTests(DeviceFixture fixture)
{
    public static TheoryData<CpuSimdRequest, int, int, int, bool, bool> Cases()
    {
        var data = new TheoryData<CpuSimdRequest, int, int, int, bool, bool>();
        foreach (CpuSimdRequest path in CpuSimdKernelTests.Paths())
        {
            data.Add(path, 3, 4, 15, true, false);
            data.Add(path, 7, 5, 1, false, true);
            data.Add(path, 16, 8, 49, true, true);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void TrainingStep_AnyCpuPath_GivesThePortableKernelsBits(CpuSimdRequest path, int batch, int channels, int spatial, bool relu, bool maskInput)
    {
        var p = BatchNormTests.Problem.Of(new BatchNormShape(batch, channels, spatial));
        var portable = BatchNormTests.TrainingStep(fixture.Cpu(CpuSimdRequest.Off), p, relu, maskInput, 1.25f);
        KernelSet simd = fixture.Cpu(path);
        Assert.Equal(KernelSetKind.CpuSimd, simd.Kernels.KernelSetKind);
        foreach (bool fused in new[] { false, true })
        {
            var r = BatchNormTests.TrainingStep(simd, p, relu, maskInput, 1.25f, fused);
            Assert.Equal(Bits(portable.Mean), Bits(r.Mean));
            Assert.Equal(Bits(portable.Variance), Bits(r.Variance));
            Assert.Equal(Bits(portable.RunningMean), Bits(r.RunningMean));
            Assert.Equal(Bits(portable.RunningVariance), Bits(r.RunningVariance));
            Assert.Equal(portable.Count, r.Count);
            Assert.Equal(Bits(portable.Y), Bits(r.Y));
            Assert.Equal(Bits(portable.DWeight), Bits(r.DWeight));
            Assert.Equal(Bits(portable.DBias), Bits(r.DBias));
            Assert.Equal(Bits(portable.Dx), Bits(r.Dx));
        }
    }

    /// <summary>Inside a fused scope the four launches are recorded (one program launch at the end).</summary>
    [Fact]
    public void TrainingStep_FusedScope_IsOneLaunch()
    {
        KernelSet simd = fixture.Cpu(CpuSimdRequest.Vector256);
        var p = BatchNormTests.Problem.Of(new BatchNormShape(3, 2, 4));
        _ = BatchNormTests.TrainingStep(simd, p, relu: true);
        long before = simd.Kernels.CpuLaunches;
        _ = BatchNormTests.TrainingStep(simd, p, relu: true, fused: true);
        Assert.Equal(before + 1, simd.Kernels.CpuLaunches);
    }

    private static int[] Bits(float[] values) => values.Select(BitConverter.SingleToInt32Bits).ToArray();
}
