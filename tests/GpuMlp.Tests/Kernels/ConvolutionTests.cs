// The convolution layer (kernels/ConvolutionKernels.cs through DeviceKernels.ConvForward,
// ConvParameterGradients and ConvInputGradient) against the float64 direct definition
// (Reference/ConvolutionReference.cs: seven loops, no im2col), on tiny odd shapes: every padding
// from 0 to KH - 1, kernels 1x1, 3x3, 5x5 and non-square, outputs of one column, batch > 1.
//
// Backward: L = sum(G ⊙ y) for a fixed random G, so dL/dy = G is what the kernels are given. L is
// linear in each single x, weight or bias (bilinear overall), and with the ReLU piecewise linear
// with every pre-activation kept further than 2h from the kink (asserted), so central differences
// with h = 1e-4 are exact up to float64 rounding (~1e-11). What remains is the kernels' float32
// rounding of sums of `terms` products of size <= 1: dx sums O * KH * KW terms, dW and db sum
// B * OutH * OutW, and the forward sums C * KH * KW; Tolerance.Gemm(backend, terms) bounds that
// (16 * terms * 2^-24 absolute, 4x on GPUs; see TestDevice.cs).
using GpuMlp.Kernels;
using GpuMlp.Tests.Reference;

namespace GpuMlp.Tests.Kernels;

[Collection(DeviceCollection.Name)]
public class ConvolutionTests(DeviceFixture fixture)
{
    private const double H = 1e-4;

    /// <summary>The kernels under test: the test device's; ConvolutionOnGpuLaunchShapesTests reruns
    /// every test with the GPU launch profile.</summary>
    protected DeviceFixture Fixture => fixture;

    protected virtual KernelSet Set => fixture.Main;

    /// <summary>B, C, H, W, O, KH, KW, padding.</summary>
    public static TheoryData<int, int, int, int, int, int, int, int> Shapes() => new()
    {
        { 2, 3, 7, 5, 4, 3, 3, 0 },
        { 2, 3, 7, 5, 4, 3, 3, 1 },
        { 2, 3, 7, 5, 4, 3, 3, 2 },
        { 2, 3, 7, 5, 4, 5, 5, 0 },
        { 2, 3, 7, 5, 4, 5, 5, 2 },
        { 1, 2, 4, 6, 3, 3, 2, 1 },
        { 3, 2, 3, 3, 5, 1, 1, 0 },
        { 2, 2, 9, 8, 3, 7, 7, 0 },
        { 2, 2, 9, 8, 3, 7, 7, 3 },
    };

    internal static ConvShape ShapeOf(int batch, int channels, int height, int width, int outChannels, int kernelH, int kernelW, int padding) =>
        new(batch, channels, height, width, outChannels, kernelH, kernelW, padding);

    internal sealed record ConvRun(float[] Y, float[] Dx, float[] DWeights, float[] DBias);

    /// <summary>Forward, parameter gradients and input gradient, every buffer guarded (NaN inside
    /// the outputs and scratch, so an element left unwritten shows; sentinels around, so a write
    /// past the end shows). With reuseColumns the input gradient's dCols is the forward's cols.</summary>
    internal static ConvRun Run(KernelSet set, ConvShape s, bool relu, float[] x, float[] w, float[] bias, float[] g,
        bool reuseColumns = false)
    {
        var accelerator = set.Accelerator;
        using var xBuffer = accelerator.Input(x);
        using var wBuffer = accelerator.Input(w);
        using var bBuffer = accelerator.Input(bias);
        using var gBuffer = accelerator.Input(g);
        using var cols = accelerator.Output(s.ColumnsLength);
        using var nhwc = accelerator.Output(s.OutputLength);
        using var y = accelerator.Output(s.OutputLength);
        using var dz = accelerator.Output(s.OutputLength);
        using var partials = accelerator.Output(s.Batch * s.OutChannels);
        using var dW = accelerator.Output(s.WeightLength);
        using var dB = accelerator.Output(s.OutChannels);
        using var dCols = accelerator.Output(s.ColumnsLength);
        using var dx = accelerator.Output(s.InputLength);
        var kernels = set.Kernels;
        kernels.ConvForward(s, relu, xBuffer.View, wBuffer.View, bBuffer.View, cols.View, nhwc.View, y.View);
        kernels.ConvParameterGradients(s, relu, gBuffer.View, y.View, xBuffer.View, cols.View, dz.View, partials.View, dW.View, dB.View);
        kernels.ConvInputGradient(s, dz.View, wBuffer.View, reuseColumns ? cols.View : dCols.View, dx.View);
        return new ConvRun(y.Download("y"), dx.Download("dx"), dW.Download("dW"), dB.Download("db"));
    }

    private static (float[] X, float[] W, float[] Bias, float[] G) Operands(ConvShape s, int seed)
    {
        var random = new Random(seed);
        return (TestData.Uniform(random, s.InputLength), TestData.Uniform(random, s.WeightLength),
            TestData.Uniform(random, s.OutChannels), TestData.Uniform(random, s.OutputLength));
    }

    private static int Seed(ConvShape s) =>
        TestData.StableSeed(s.Batch, s.Channels, s.Height, s.Width, s.OutChannels, s.KernelH, s.KernelW, s.Padding);

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Forward_TinyShapes_MatchDirectDefinition(int batch, int channels, int height, int width, int outChannels, int kernelH, int kernelW, int padding)
    {
        KernelSet set = Set;
        ConvShape s = ShapeOf(batch, channels, height, width, outChannels, kernelH, kernelW, padding);
        var (x, w, bias, g) = Operands(s, Seed(s));
        foreach (bool relu in new[] { false, true })
        {
            ConvRun run = Run(set, s, relu, x, w, bias, g);
            double[] expected = ConvolutionReference.Conv2d(s, NaiveReference.ToDouble(x), NaiveReference.ToDouble(w), NaiveReference.ToDouble(bias), relu);
            Compare.AllClose(run.Y, expected, Tolerance.Gemm(set.Backend, s.Patch + 1),
                $"{set.Name} conv {Describe(s)} relu={relu} forward", s.OutW);
        }
    }

    /// <summary>x = 1, weights = 1, bias = 0: each output is C times the number of kernel taps that
    /// land inside the image, an exact small integer, so the padding edges are checked exactly.</summary>
    [Theory]
    [InlineData(1, 2, 5, 4, 3, 3, 3, 1)]
    [InlineData(1, 1, 7, 5, 2, 5, 5, 2)]
    [InlineData(2, 3, 3, 6, 1, 3, 5, 2)]
    public void Forward_PaddingEdges_CountInBoundsTaps(int batch, int channels, int height, int width, int outChannels, int kernelH, int kernelW, int padding)
    {
        KernelSet set = Set;
        ConvShape s = ShapeOf(batch, channels, height, width, outChannels, kernelH, kernelW, padding);
        float[] Ones(int n) => Enumerable.Repeat(1f, n).ToArray();
        ConvRun run = Run(set, s, relu: false, Ones(s.InputLength), Ones(s.WeightLength), new float[s.OutChannels], new float[s.OutputLength]);
        var expected = new double[s.OutputLength];
        for (int i = 0; i < expected.Length; i++)
        {
            int oy = i / s.OutW % s.OutH, ox = i % s.OutW;
            int rows = Enumerable.Range(0, kernelH).Count(ky => oy + ky - padding >= 0 && oy + ky - padding < height);
            int columns = Enumerable.Range(0, kernelW).Count(kx => ox + kx - padding >= 0 && ox + kx - padding < width);
            expected[i] = channels * rows * columns;
        }
        Compare.AllClose(run.Y, expected, 0, 0, $"{set.Name} conv {Describe(s)} in-bounds tap counts", s.OutW);
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Backward_TinyShapes_MatchFiniteDifferences(int batch, int channels, int height, int width, int outChannels, int kernelH, int kernelW, int padding)
    {
        KernelSet set = Set;
        ConvShape s = ShapeOf(batch, channels, height, width, outChannels, kernelH, kernelW, padding);
        var (x, w, bias, g) = Operands(s, Seed(s) + 1);
        double[] x64 = NaiveReference.ToDouble(x), w64 = NaiveReference.ToDouble(w), b64 = NaiveReference.ToDouble(bias), g64 = NaiveReference.ToDouble(g);
        // One x, weight or bias moves every pre-activation by at most h (coefficients are <= 1), so a
        // margin of 2h keeps every finite difference on one side of the ReLU kink.
        double margin = ConvolutionReference.Conv2d(s, x64, w64, b64, relu: false).Min(Math.Abs);
        Assert.True(margin > 2 * H, $"test data: a pre-activation is within {margin} of the ReLU kink; pick another seed");

        foreach (bool relu in new[] { false, true })
        {
            double Loss(double[] xs, double[] ws, double[] bs) => TestData.Dot(g64, ConvolutionReference.Conv2d(s, xs, ws, bs, relu));
            double[] fdX = TestData.FiniteDifference(x64, H, v => Loss(v, w64, b64));
            double[] fdW = TestData.FiniteDifference(w64, H, v => Loss(x64, v, b64));
            double[] fdB = TestData.FiniteDifference(b64, H, v => Loss(x64, w64, v));

            ConvRun run = Run(set, s, relu, x, w, bias, g);
            string what = $"{set.Name} conv {Describe(s)} relu={relu}";
            Compare.AllClose(run.Dx, fdX, Tolerance.Gemm(set.Backend, s.OutChannels * kernelH * kernelW), $"{what} dx vs finite differences", width);
            Compare.AllClose(run.DWeights, fdW, Tolerance.Gemm(set.Backend, s.Rows), $"{what} dW vs finite differences", kernelW);
            Compare.AllClose(run.DBias, fdB, Tolerance.Gemm(set.Backend, s.Rows), $"{what} db vs finite differences");
        }
    }

    /// <summary>The same launches twice give the same bits (every sum has a fixed order), and the
    /// input gradient written through the forward's cols buffer (allowed by ConvInputGradient) is
    /// the one written through a buffer of its own.</summary>
    [Fact]
    public void ForwardAndBackward_RunTwice_RepeatBitForBit()
    {
        KernelSet set = Set;
        ConvShape s = ShapeOf(2, 3, 7, 5, 4, 5, 5, 2);
        var (x, w, bias, g) = Operands(s, 7);
        ConvRun first = Run(set, s, relu: true, x, w, bias, g);
        ConvRun second = Run(set, s, relu: true, x, w, bias, g, reuseColumns: true);
        Assert.Equal(Bits(first.Y), Bits(second.Y));
        Assert.Equal(Bits(first.Dx), Bits(second.Dx));
        Assert.Equal(Bits(first.DWeights), Bits(second.DWeights));
        Assert.Equal(Bits(first.DBias), Bits(second.DBias));
    }

    private static int[] Bits(float[] values) => Array.ConvertAll(values, BitConverter.SingleToInt32Bits);

    [Fact]
    public void ConvForward_BufferTooSmall_NamesTheBuffer()
    {
        KernelSet set = Set;
        ConvShape s = ShapeOf(1, 1, 4, 4, 2, 3, 3, 0);
        using var small = set.Accelerator.Output(3);
        using var big = set.Accelerator.Output(1000);
        var error = Assert.Throws<ArgumentException>(() =>
            set.Kernels.ConvForward(s, true, big.View, small.View, big.View, big.View, big.View, big.View));
        Assert.StartsWith("weights holds 3 elements", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ConvForward_KernelLargerThanPaddedInput_Throws()
    {
        KernelSet set = Set;
        using var big = set.Accelerator.Output(1000);
        var error = Assert.Throws<ArgumentException>(() =>
            set.Kernels.ConvForward(ShapeOf(1, 1, 2, 2, 1, 5, 5, 1), false, big.View, big.View, big.View, big.View, big.View, big.View));
        Assert.Contains("does not fit", error.Message, StringComparison.Ordinal);
    }

    internal static string Describe(ConvShape s) =>
        $"[{s.Batch},{s.Channels},{s.Height},{s.Width}]*[{s.OutChannels},{s.Channels},{s.KernelH},{s.KernelW}] p{s.Padding}";
}

/// <summary>Every convolution test with the GPU launch profile (256-thread element-wise groups, the
/// shared-memory GEMM with 32x32 blocks), on a CPU accelerator with 256-thread groups unless the
/// test device is a GPU (see GpuLaunchShapeTests.cs).</summary>
[Collection(DeviceCollection.Name)]
public sealed class ConvolutionOnGpuLaunchShapesTests(DeviceFixture fixture) : ConvolutionTests(fixture)
{
    protected override KernelSet Set => Fixture.GpuProfile;
}
