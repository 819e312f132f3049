// 2x2/stride-2 max-pooling (kernels/PoolingKernels.cs through DeviceKernels.MaxPool2Forward/Backward)
// against the float64 definition with PyTorch's rule (Reference/ConvolutionReference.MaxPool2).
// Both directions only select or copy values, so every comparison is exact (zero tolerance):
// values, argmax indices, tie-breaking, NaN and -infinity, odd sizes whose last row/column is
// dropped. The backward is also checked against central finite differences of the float64
// forward (exact for L = sum(G ⊙ pool(x)) when no window's top two values are within 2h).
using GpuMlp.Kernels;
using GpuMlp.Tests.Reference;

namespace GpuMlp.Tests.Kernels;

[Collection(DeviceCollection.Name)]
public class PoolingTests(DeviceFixture fixture)
{
    private const double H = 1e-4;

    /// <summary>The kernels under test: the test device's; PoolingOnGpuLaunchShapesTests reruns
    /// every test with the GPU launch profile.</summary>
    protected DeviceFixture Fixture => fixture;

    protected virtual KernelSet Set => fixture.Main;

    /// <summary>B, C, H, W: odd height and width, even, a 2x2 input, and a 3x2 input.</summary>
    private static readonly (int Batch, int Channels, int Height, int Width)[] ShapeList = [(2, 3, 7, 5), (1, 2, 4, 6), (2, 1, 2, 2), (1, 1, 3, 2)];

    public static TheoryData<int, int, int, int> Shapes()
    {
        var data = new TheoryData<int, int, int, int>();
        foreach (var (batch, channels, height, width) in ShapeList)
            data.Add(batch, channels, height, width);
        return data;
    }

    private (float[] Y, int[] Argmax) Forward(PoolShape s, float[] x)
    {
        KernelSet set = Set;
        using var xBuffer = set.Accelerator.Input(x);
        using var y = set.Accelerator.Output(s.OutputLength);
        using var argmax = set.Accelerator.Filled(s.OutputLength + 1, -7);
        set.Kernels.MaxPool2Forward(s, xBuffer.View, y.View, argmax.View.SubView(0, s.OutputLength));
        int[] indices = argmax.Download();
        Assert.Equal(-7, indices[^1]);
        return (y.Download("y"), indices[..^1]);
    }

    private float[] Backward(PoolShape s, float[] x, float[] g)
    {
        KernelSet set = Set;
        using var xBuffer = set.Accelerator.Input(x);
        using var y = set.Accelerator.Output(s.OutputLength);
        using var argmax = set.Accelerator.Filled(s.OutputLength, -7);
        using var gBuffer = set.Accelerator.Input(g);
        using var dx = set.Accelerator.Output(s.InputLength);
        set.Kernels.MaxPool2Forward(s, xBuffer.View, y.View, argmax.View);
        set.Kernels.MaxPool2Backward(s, gBuffer.View, argmax.View, dx.View);
        return dx.Download("dx");
    }

    /// <summary>dx of the reference: g routed to each window's argmax, 0 elsewhere.</summary>
    private static double[] RouteGradient(PoolShape s, int[] argmax, float[] g)
    {
        var dx = new double[s.InputLength];
        int outPlane = s.OutH * s.OutW, plane = s.Height * s.Width;
        for (int i = 0; i < g.Length; i++)
            dx[(i / outPlane * plane) + argmax[i]] = g[i];
        return dx;
    }

    /// <summary>Inputs drawn from {-1, 0, 1}: most windows hold ties, so this also pins the
    /// first-maximum rule on many windows.</summary>
    [Theory]
    [MemberData(nameof(Shapes))]
    public void Forward_WithTies_MatchesReferenceExactly(int batch, int channels, int height, int width)
    {
        var s = new PoolShape(batch, channels, height, width);
        var random = new Random((batch * 1000) + (channels * 100) + (height * 10) + width);
        float[] x = Enumerable.Range(0, s.InputLength).Select(_ => (float)(random.Next(3) - 1)).ToArray();
        var (y, argmax) = Forward(s, x);
        var (expectedY, expectedArgmax) = ConvolutionReference.MaxPool2(s, NaiveReference.ToDouble(x));
        Compare.AllClose(y, expectedY, 0, 0, $"{Set.Name} maxpool [{batch},{channels},{height},{width}] values", s.OutW);
        Assert.Equal(expectedArgmax, argmax);
    }

    /// <summary>One 2x2 window per case (plane indices 0, 1 | 2, 3): ties go to the first maximum in
    /// row-major order; a NaN wins (the last NaN if several); all -infinity keeps the first element.</summary>
    [Theory]
    [InlineData(new float[] { 2, 2, 2, 2 }, 0)]
    [InlineData(new float[] { 1, 3, 3, 0 }, 1)]
    [InlineData(new float[] { -1, -2, -1, -3 }, 0)]
    [InlineData(new float[] { 0, -0f, 0, 0 }, 0)]
    [InlineData(new float[] { 5, float.NaN, 7, 1 }, 1)]
    [InlineData(new float[] { float.NaN, 1, float.NaN, 1 }, 2)]
    [InlineData(new float[] { float.NegativeInfinity, float.NegativeInfinity, float.NegativeInfinity, float.NegativeInfinity }, 0)]
    [InlineData(new float[] { float.NegativeInfinity, float.NegativeInfinity, -3, float.NegativeInfinity }, 2)]
    public void Forward_SingleWindow_FollowsPyTorchTieAndNaNRule(float[] window, int expectedIndex)
    {
        var s = new PoolShape(1, 1, 2, 2);
        var (y, argmax) = Forward(s, window);
        Assert.Equal(expectedIndex, argmax[0]);
        Assert.Equal(BitConverter.SingleToInt32Bits(window[expectedIndex]), BitConverter.SingleToInt32Bits(y[0]));
    }

    /// <summary>With ties everywhere the gradient still goes to exactly one element per window (the
    /// argmax), and the dropped last row/column of odd sizes gets 0.</summary>
    [Theory]
    [MemberData(nameof(Shapes))]
    public void Backward_AnyInput_RoutesToArgmaxOnlyExactly(int batch, int channels, int height, int width)
    {
        var s = new PoolShape(batch, channels, height, width);
        var random = new Random((batch * 1000) + (channels * 100) + (height * 10) + width + 1);
        float[] x = Enumerable.Range(0, s.InputLength).Select(_ => (float)(random.Next(3) - 1)).ToArray();
        float[] g = TestData.Uniform(random, s.OutputLength);
        var (_, expectedArgmax) = ConvolutionReference.MaxPool2(s, NaiveReference.ToDouble(x));
        Compare.AllClose(Backward(s, x, g), RouteGradient(s, expectedArgmax, g), 0, 0,
            $"{Set.Name} maxpool [{batch},{channels},{height},{width}] backward", width);
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Backward_TinyShapes_MatchFiniteDifferences(int batch, int channels, int height, int width)
    {
        var s = new PoolShape(batch, channels, height, width);
        var random = new Random((batch * 1000) + (channels * 100) + (height * 10) + width + 2);
        float[] x = TestData.Uniform(random, s.InputLength);
        float[] g = TestData.Uniform(random, s.OutputLength);
        double[] x64 = NaiveReference.ToDouble(x), g64 = NaiveReference.ToDouble(g);
        Assert.True(SmallestWindowGap(s, x64) > 2 * H, "test data: a window's top two values are within 2h; pick another seed");
        double[] fd = TestData.FiniteDifference(x64, H, v => TestData.Dot(g64, ConvolutionReference.MaxPool2(s, v).Y));
        Compare.AllClose(Backward(s, x, g), fd, 1e-9, 0, $"{Set.Name} maxpool [{batch},{channels},{height},{width}] backward vs finite differences", width);
    }

    /// <summary>x [B, C, H, W] as a convolution's output rows [B * H * W, C].</summary>
    private static float[] ToRows(PoolShape s, float[] x)
    {
        int plane = s.Height * s.Width;
        var rows = new float[x.Length];
        for (int b = 0; b < s.Batch; b++)
        {
            for (int c = 0; c < s.Channels; c++)
            {
                for (int p = 0; p < plane; p++)
                    rows[(((b * plane) + p) * s.Channels) + c] = x[(((b * s.Channels) + c) * plane) + p];
            }
        }
        return rows;
    }

    private static double[] ToRows(PoolShape s, double[] x) =>
        NaiveReference.ToDouble(ToRows(s, x.Select(v => (float)v).ToArray()));

    /// <summary>Ties, NaN and -infinity in rows: the NHWC forward picks what the NCHW definition
    /// picks, value and plane index.</summary>
    [Theory]
    [MemberData(nameof(Shapes))]
    public void ForwardNhwc_RowsOfAMap_MatchReferenceOfTheMapExactly(int batch, int channels, int height, int width)
    {
        var s = new PoolShape(batch, channels, height, width);
        var random = new Random((batch * 1000) + (channels * 100) + (height * 10) + width + 3);
        float[] x = Enumerable.Range(0, s.InputLength).Select(_ => random.Next(12) switch
        {
            0 => float.NaN,
            1 => float.NegativeInfinity,
            int v => (float)((v % 3) - 1),
        }).ToArray();
        KernelSet set = Set;
        using var rows = set.Accelerator.Input(ToRows(s, x));
        using var y = set.Accelerator.Output(s.OutputLength);
        using var argmax = set.Accelerator.Filled(s.OutputLength + 1, -7);
        set.Kernels.MaxPool2ForwardNhwc(s, rows.View, y.View, argmax.View.SubView(0, s.OutputLength));
        int[] indices = argmax.Download();
        Assert.Equal(-7, indices[^1]);
        var (expectedY, expectedArgmax) = ConvolutionReference.MaxPool2(s, NaiveReference.ToDouble(x));
        float[] values = y.Download("y");
        for (int i = 0; i < values.Length; i++)
        {
            Assert.True(double.IsNaN(expectedY[i]) ? float.IsNaN(values[i]) : values[i] == expectedY[i],
                $"{Set.Name} NHWC maxpool [{batch},{channels},{height},{width}]: y[{i}] = {values[i]}, expected {expectedY[i]}");
        }
        Assert.Equal(expectedArgmax, indices[..^1]);
    }

    /// <summary>The backward into a convolution's rows: g routed to each window's argmax and, with
    /// the ReLU, 0 where the pooled value is not positive (inputs in {-1, 0, 1}: many windows are),
    /// laid out as rows, exactly; the bias partials are each image's channel sums of those rows.</summary>
    [Theory]
    [MemberData(nameof(ReluShapes))]
    public void BackwardNhwc_AnyInput_IsTheRoutedMaskedGradientAsRowsWithItsChannelSums(
        bool relu, int batch, int channels, int height, int width)
    {
        var s = new PoolShape(batch, channels, height, width);
        var random = new Random((batch * 1000) + (channels * 100) + (height * 10) + width + (relu ? 5 : 4));
        float[] x = Enumerable.Range(0, s.InputLength).Select(_ => (float)(random.Next(3) - 1)).ToArray();
        float[] g = TestData.Uniform(random, s.OutputLength);
        KernelSet set = Set;
        using var rows = set.Accelerator.Input(ToRows(s, x));
        using var y = set.Accelerator.Output(s.OutputLength);
        using var argmax = set.Accelerator.Filled(s.OutputLength, -7);
        using var gBuffer = set.Accelerator.Input(g);
        using var dz = set.Accelerator.Filled(s.InputLength, float.NaN);
        using var partials = set.Accelerator.Filled(s.Batch * s.Channels, float.NaN);
        set.Kernels.MaxPool2ForwardNhwc(s, rows.View, y.View, argmax.View);
        set.Kernels.MaxPool2BackwardNhwc(s, relu, gBuffer.View, argmax.View, y.View, dz.View, partials.View);

        var (expectedY, expectedArgmax) = ConvolutionReference.MaxPool2(s, NaiveReference.ToDouble(x));
        float[] masked = g.Select((v, i) => !relu || expectedY[i] > 0 ? v : 0f).ToArray();
        double[] expectedRows = ToRows(s, RouteGradient(s, expectedArgmax, masked));
        string what = $"{Set.Name} NHWC maxpool [{batch},{channels},{height},{width}] backward, relu {relu}";
        Compare.AllClose(dz.Download(), expectedRows, 0, 0, what, channels);
        var expectedSums = new double[s.Batch * s.Channels];
        int plane = s.Height * s.Width;
        for (int i = 0; i < expectedRows.Length; i++)
            expectedSums[(i / (plane * s.Channels) * s.Channels) + (i % s.Channels)] += expectedRows[i];
        // float sums of at most H * W / 4 values in [-1, 1] against float64.
        Compare.AllClose(partials.Download(), expectedSums, 1e-5, 1e-5, what + " partials", channels);
    }

    /// <summary>Shapes() with and without the convolution's ReLU.</summary>
    public static TheoryData<bool, int, int, int, int> ReluShapes()
    {
        var data = new TheoryData<bool, int, int, int, int>();
        foreach (bool relu in new[] { false, true })
        {
            foreach (var (batch, channels, height, width) in ShapeList)
                data.Add(relu, batch, channels, height, width);
        }
        return data;
    }

    [Fact]
    public void MaxPool2Forward_OneByOneMap_Throws()
    {
        KernelSet set = Set;
        using var buffer = set.Accelerator.Output(4);
        using var indices = set.Accelerator.Filled(4, 0);
        var error = Assert.Throws<ArgumentException>(() =>
            set.Kernels.MaxPool2Forward(new PoolShape(1, 4, 1, 1), buffer.View, buffer.View, indices.View));
        Assert.Contains("at least 2x2", error.Message, StringComparison.Ordinal);
    }

    private static double SmallestWindowGap(PoolShape s, double[] x)
    {
        double smallest = double.PositiveInfinity;
        for (int plane = 0; plane < s.Batch * s.Channels; plane++)
        {
            for (int oy = 0; oy < s.OutH; oy++)
            {
                for (int ox = 0; ox < s.OutW; ox++)
                {
                    var window = new List<double>();
                    for (int iy = 2 * oy; iy < (2 * oy) + 2; iy++)
                    {
                        for (int ix = 2 * ox; ix < (2 * ox) + 2; ix++)
                            window.Add(x[(plane * s.Height * s.Width) + (iy * s.Width) + ix]);
                    }
                    window.Sort();
                    smallest = Math.Min(smallest, window[3] - window[2]);
                }
            }
        }
        return smallest;
    }
}

/// <summary>Every pooling test with the GPU launch profile (256-thread element-wise groups), on a
/// CPU accelerator with 256-thread groups unless the test device is a GPU.</summary>
[Collection(DeviceCollection.Name)]
public sealed class PoolingOnGpuLaunchShapesTests(DeviceFixture fixture) : PoolingTests(fixture)
{
    protected override KernelSet Set => Fixture.GpuProfile;
}
