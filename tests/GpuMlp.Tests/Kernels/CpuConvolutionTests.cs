// The CPU accelerator's convolution and pooling kernels (kernels/Cpu/CpuConvolutionKernels.cs,
// CpuPoolingKernels.cs). ConvolutionTests and PoolingTests run them already (the test device's
// kernel set on the CPU is the SIMD set); here: the portable kernels with CPU launches
// (--cpu-simd off) still tested as they were, the CPU kernels' bits against the portable kernels'
// where a sum's order matters (col2im, bias partials), and a CNN training step recorded into one
// CpuProgram launch with the bits of its launches run one by one.
using GpuMlp.Compute;
using GpuMlp.Kernels;
using GpuMlp.Tests.Reference;
using GpuMlp.Training;

namespace GpuMlp.Tests.Kernels;

[Collection(DeviceCollection.Name)]
public sealed class ConvolutionOnCpuPortableTests(DeviceFixture fixture) : ConvolutionTests(fixture)
{
    protected override KernelSet Set => Fixture.Cpu(CpuSimdRequest.Off);
}

[Collection(DeviceCollection.Name)]
public sealed class PoolingOnCpuPortableTests(DeviceFixture fixture) : PoolingTests(fixture)
{
    protected override KernelSet Set => Fixture.Cpu(CpuSimdRequest.Off);
}

[Collection(DeviceCollection.Name)]
public sealed class CpuConvolutionKernelTests(DeviceFixture fixture)
{
    /// <summary>B, C, H, W, O, KH, KW, padding: odd sizes, every padding edge, a 1x1 kernel, the
    /// CNN preset's second convolution at batch 3, the fast recipe's two and a 7-wide kernel.</summary>
    public static TheoryData<CpuSimdRequest, int, int, int, int, int, int, int, int> Cases()
    {
        var data = new TheoryData<CpuSimdRequest, int, int, int, int, int, int, int, int>();
        foreach (CpuSimdRequest path in CpuSimdKernelTests.Paths())
        {
            data.Add(path, 2, 3, 7, 5, 4, 5, 5, 2);
            data.Add(path, 3, 2, 6, 9, 5, 3, 2, 1);
            data.Add(path, 1, 4, 5, 5, 3, 1, 1, 0);
            data.Add(path, 3, 32, 14, 14, 64, 5, 5, 2);
            // The fast recipe's convolutions (whole kernel rows moved as one vector) and a 7-wide kernel.
            data.Add(path, 2, 1, 28, 28, 24, 5, 5, 0);
            data.Add(path, 3, 24, 12, 12, 32, 3, 3, 0);
            data.Add(path, 2, 2, 9, 9, 3, 7, 7, 1);
        }
        return data;
    }

    /// <summary>col2im and the bias partials sum in a fixed order that the CPU kernels share with the
    /// portable ones, so both give the same bits. The input gradient's GEMM differs between the paths
    /// (FMA, blocking), so dz is made one-hot per row: dCols = rows of the weights exactly, on every
    /// path, and dx then depends on col2im's order alone. The bias gradient sees random dz.</summary>
    [Theory]
    [MemberData(nameof(Cases))]
    public void Col2ImAndBiasPartials_AnyCpuPath_GiveThePortableKernelsBits(
        CpuSimdRequest path, int batch, int channels, int height, int width, int outChannels, int kernelH, int kernelW, int padding)
    {
        ConvShape s = ConvolutionTests.ShapeOf(batch, channels, height, width, outChannels, kernelH, kernelW, padding);
        var random = new Random(TestData.StableSeed(batch, channels, height, width, outChannels, kernelH, kernelW, padding));
        float[] x = TestData.Uniform(random, s.InputLength);
        float[] w = TestData.Uniform(random, s.WeightLength);
        float[] bias = TestData.Uniform(random, s.OutChannels);
        float[] randomGradient = TestData.Uniform(random, s.OutputLength);
        // dy [B, O, P] with exactly one 1 per (image, pixel): the GEMM dCols = dz W adds one product.
        var oneHot = new float[s.OutputLength];
        for (int b = 0; b < batch; b++)
        {
            for (int p = 0; p < s.OutPixels; p++)
                oneHot[((b * outChannels) + random.Next(outChannels)) * s.OutPixels + p] = 1f;
        }

        KernelSet simd = fixture.Cpu(path), portable = fixture.Cpu(CpuSimdRequest.Off);
        string what = $"{simd.Name} conv {ConvolutionTests.Describe(s)}";
        var expected = ConvolutionTests.Run(portable, s, relu: false, x, w, bias, oneHot);
        var actual = ConvolutionTests.Run(simd, s, relu: false, x, w, bias, oneHot);
        Compare.AllClose(actual.Dx, NaiveReference.ToDouble(expected.Dx), 0, 0, $"{what} dx vs the portable col2im", width);
        expected = ConvolutionTests.Run(portable, s, relu: true, x, w, bias, randomGradient);
        actual = ConvolutionTests.Run(simd, s, relu: true, x, w, bias, randomGradient);
        Compare.AllClose(actual.DBias, NaiveReference.ToDouble(expected.DBias), 0, 0, $"{what} db vs the portable bias partials");
    }

    /// <summary>The CPU weight gradient builds its rows of cols^T per image from x and never reads
    /// cols; it has the bits of the transposed GEMM on the materialised im2col (the CPU set's earlier
    /// two launches), whose chunks of K it crosses with other edges (the last case has 3,456 rows).</summary>
    [Theory]
    [MemberData(nameof(WeightGradientCases))]
    public void WeightGradient_FromX_HasTheBitsOfTheGemmOnIm2Col(
        CpuSimdRequest path, int batch, int channels, int height, int width, int outChannels, int kernelH, int kernelW, int padding)
    {
        ConvShape s = ConvolutionTests.ShapeOf(batch, channels, height, width, outChannels, kernelH, kernelW, padding);
        var random = new Random(TestData.StableSeed(batch, channels, height, width, outChannels, kernelH, kernelW, padding));
        KernelSet set = fixture.Cpu(path);
        var accelerator = set.Accelerator;
        using var x = accelerator.Input(TestData.Uniform(random, s.InputLength));
        using var dz = accelerator.Input(TestData.Uniform(random, s.OutputLength));
        using var cols = accelerator.Output(s.ColumnsLength);
        using var transposed = accelerator.Output(s.WeightLength);
        using var dW = accelerator.Output(s.WeightLength);
        var kernels = set.Kernels;
        kernels.ConvIm2Col(s, x.View, cols.View);
        kernels.Gemm(GemmShape.TransposedA(s.Patch, s.OutChannels, s.Rows), DenseEpilogue.Of(EpilogueMode.Store), cols.View, dz.View,
            transposed.View, kernels.Unused, kernels.Unused);
        float[] gemm = transposed.Download("dW^T");
        var expected = new float[s.WeightLength];
        for (int m = 0; m < s.Patch; m++)
        {
            for (int o = 0; o < s.OutChannels; o++)
                expected[(o * s.Patch) + m] = gemm[(m * s.OutChannels) + o];
        }
        // Its cols is all NaN: the weight gradient must not read it.
        using var poisoned = accelerator.Output(s.ColumnsLength);
        using var partials = accelerator.Input(TestData.Uniform(random, s.Batch * s.OutChannels));
        using var dB = accelerator.Output(s.OutChannels);
        kernels.ConvParameterGradientsFromDz(s, dz.View, partials.View, x.View, poisoned.View, dW.View, dB.View);
        Assert.Equal(expected, dW.Download("dW"));
    }

    /// <summary>The CPU forward builds each image's im2col rows in L2 and never writes cols; its rows
    /// have the bits of im2col then the TransposedB GEMM with the bias (and ReLU) epilogue.</summary>
    [Theory]
    [MemberData(nameof(WeightGradientCases))]
    public void ForwardRows_WithoutCols_HasTheBitsOfIm2ColThenTheGemm(
        CpuSimdRequest path, int batch, int channels, int height, int width, int outChannels, int kernelH, int kernelW, int padding)
    {
        ConvShape s = ConvolutionTests.ShapeOf(batch, channels, height, width, outChannels, kernelH, kernelW, padding);
        var random = new Random(TestData.StableSeed(batch, channels, height, width, outChannels, kernelH, kernelW, padding));
        KernelSet set = fixture.Cpu(path);
        var accelerator = set.Accelerator;
        using var x = accelerator.Input(TestData.Uniform(random, s.InputLength));
        using var w = accelerator.Input(TestData.Uniform(random, s.WeightLength));
        using var bias = accelerator.Input(TestData.Uniform(random, s.OutChannels));
        using var cols = accelerator.Output(s.ColumnsLength);
        using var expected = accelerator.Output(s.OutputLength);
        using var actual = accelerator.Output(s.OutputLength);
        var kernels = set.Kernels;
        foreach (bool relu in new[] { false, true })
        {
            kernels.ConvIm2Col(s, x.View, cols.View);
            kernels.Gemm(GemmShape.TransposedB(s.Rows, s.OutChannels, s.Patch),
                DenseEpilogue.Of(relu ? EpilogueMode.BiasRelu : EpilogueMode.Bias), cols.View, w.View, expected.View, bias.View, kernels.Unused);
            // Its cols is all NaN and must stay so: the forward neither reads nor writes it.
            using var untouched = accelerator.Output(s.ColumnsLength);
            kernels.ConvForwardNhwc(s, relu, x.View, w.View, bias.View, untouched.View, actual.View);
            Assert.Equal(expected.Download("expected rows"), actual.Download("rows"));
            Assert.All(untouched.Download("cols"), value => Assert.True(float.IsNaN(value)));
        }
    }

    /// <summary>Fused with the pool after it, the CPU forward pools each image's rows from a worker's
    /// buffer and writes no rows: y and argmax have the bits of the rows then the NHWC pool.</summary>
    [Theory]
    [MemberData(nameof(WeightGradientCases))]
    public void ConvPoolForward_Fused_HasTheBitsOfTheRowsThenThePool(
        CpuSimdRequest path, int batch, int channels, int height, int width, int outChannels, int kernelH, int kernelW, int padding)
    {
        ConvShape s = ConvolutionTests.ShapeOf(batch, channels, height, width, outChannels, kernelH, kernelW, padding);
        var pool = new PoolShape(batch, outChannels, s.OutH, s.OutW);
        var random = new Random(TestData.StableSeed(batch, channels, height, width, outChannels, kernelH, kernelW, padding, 11));
        KernelSet set = fixture.Cpu(path);
        var accelerator = set.Accelerator;
        using var x = accelerator.Input(TestData.Uniform(random, s.InputLength));
        using var w = accelerator.Input(TestData.Uniform(random, s.WeightLength));
        using var bias = accelerator.Input(TestData.Uniform(random, s.OutChannels));
        using var cols = accelerator.Output(s.ColumnsLength);
        using var rows = accelerator.Output(s.OutputLength);
        using var y = accelerator.Output(pool.OutputLength);
        using var yFused = accelerator.Output(pool.OutputLength);
        using var argmax = accelerator.Filled(pool.OutputLength, -7);
        using var argmaxFused = accelerator.Filled(pool.OutputLength, -7);
        var kernels = set.Kernels;
        foreach (bool relu in new[] { false, true })
        {
            kernels.ConvForwardNhwc(s, relu, x.View, w.View, bias.View, cols.View, rows.View);
            kernels.MaxPool2ForwardNhwc(pool, rows.View, y.View, argmax.View);
            using var untouched = accelerator.Output(s.OutputLength);
            kernels.ConvPoolForward(s, relu, x.View, w.View, bias.View, cols.View, untouched.View, yFused.View, argmaxFused.View);
            Assert.Equal(y.Download("y"), yFused.Download("fused y"));
            Assert.Equal(argmax.Download(), argmaxFused.Download());
            // The fused forward writes no rows on the CPU (every row stays NaN).
            Assert.All(untouched.Download("rows"), value => Assert.True(float.IsNaN(value)));
        }
    }

    /// <summary>The CPU input gradient is one GEMM per image over zero-bordered dz with no dCols; each
    /// tap's sum over the output channels is formed apart and added in col2im's order, so dx has the
    /// bits of the GEMM into dCols followed by col2im, for any dz.</summary>
    [Theory]
    [MemberData(nameof(WeightGradientCases))]
    public void InputGradient_WithoutDCols_HasTheBitsOfTheGemmThenCol2Im(
        CpuSimdRequest path, int batch, int channels, int height, int width, int outChannels, int kernelH, int kernelW, int padding)
    {
        ConvShape s = ConvolutionTests.ShapeOf(batch, channels, height, width, outChannels, kernelH, kernelW, padding);
        var random = new Random(TestData.StableSeed(batch, channels, height, width, outChannels, kernelH, kernelW, padding, 7));
        KernelSet set = fixture.Cpu(path);
        var accelerator = set.Accelerator;
        using var dz = accelerator.Input(TestData.Uniform(random, s.OutputLength));
        using var w = accelerator.Input(TestData.Uniform(random, s.WeightLength));
        using var dCols = accelerator.Output(s.ColumnsLength);
        using var expected = accelerator.Output(s.InputLength);
        using var actual = accelerator.Output(s.InputLength);
        var kernels = set.Kernels;
        kernels.Gemm(GemmShape.Plain(s.Rows, s.Patch, s.OutChannels), DenseEpilogue.Of(EpilogueMode.Store), dz.View, w.View, dCols.View,
            kernels.Unused, kernels.Unused);
        kernels.ConvCol2Im(s, dCols.View, expected.View);
        using var untouched = accelerator.Output(s.ColumnsLength);
        kernels.ConvInputGradient(s, dz.View, w.View, untouched.View, actual.View);
        Assert.Equal(expected.Download("GEMM then col2im"), actual.Download("dx"));
    }

    public static TheoryData<CpuSimdRequest, int, int, int, int, int, int, int, int> WeightGradientCases()
    {
        var data = Cases();
        foreach (CpuSimdRequest path in CpuSimdKernelTests.Paths())
            data.Add(path, 24, 2, 12, 12, 16, 3, 3, 1);
        return data;
    }

    /// <summary>A CNN step (gather with ±2-pixel shifts, two conv+ReLU+pool blocks, the second without padding and with an
    /// odd map, dense, loss, backward, Adam) fused and unfused from the same state: identical
    /// parameters, moments and per-sample results; the fused step is ONE launch, the unfused one 15.</summary>
    [Theory]
    [MemberData(nameof(CpuSimdKernelTests.Paths), MemberType = typeof(CpuSimdKernelTests))]
    public void CnnTrainingStep_Fused_IsOneLaunchWithTheUnfusedBits(CpuSimdRequest path)
    {
        const int rows = 13, samples = 30, features = 28 * 28;
        KernelSet set = fixture.Cpu(path);
        Assert.True(set.Kernels.FusesLaunches);
        var architecture = MnistNetworks.Parse("conv3x3x4p1,relu,pool2,conv4x4x5,relu,pool2,flatten,dense10");
        var random = new Random(5);
        byte[] images = TestData.Bytes(random, samples * features);
        byte[] labels = TestData.Bytes(random, samples, 10);
        int[] order = TestData.Permutation(random, samples);
        void GatherShifted(DeviceKernels k, LayerNetwork network, FusedStep.Batch batch) =>
            k.GatherShifted(batch.Images, batch.Labels, batch.Order, 11, rows, 28, 28, 2, 4, 2, network.Input, network.Labels);
        var unfused = FusedStep.Run(set, architecture, rows, images, labels, order, fused: false, GatherShifted);
        var fused = FusedStep.Run(set, architecture, rows, images, labels, order, fused: true, GatherShifted);
        // shifted gather; per conv one launch (its rows per image, pooled from a worker's buffer); dense; softmax | dense dW+db,
        // dense dx; pool2' (conv2's dz and bias partials); conv2 dW (from x), db, dx (GEMM and col2im per image);
        // pool1'; conv1 dW, db | Adam.
        Assert.Equal(15, unfused.Launches);
        Assert.Equal(1, fused.Launches);
        FusedStep.AssertSameBits(unfused, fused);
        Assert.NotEqual(architecture.InitialParameters(9), fused.Parameters);
    }

    /// <summary>A step through 2-D and 1-D batch norm (conv, bn, relu, pool2, dense, bn, relu, dense)
    /// fused and unfused from the same state: identical parameters, moments and per-sample results
    /// (and so identical running statistics feeding them); the fused step is ONE launch.</summary>
    [Theory]
    [MemberData(nameof(CpuSimdKernelTests.Paths), MemberType = typeof(CpuSimdKernelTests))]
    public void BatchNormTrainingStep_Fused_IsOneLaunchWithTheUnfusedBits(CpuSimdRequest path)
    {
        const int rows = 13, samples = 30, features = 28 * 28;
        KernelSet set = fixture.Cpu(path);
        var architecture = MnistNetworks.Parse("conv3x3x4p1,bn,relu,pool2,flatten,dense8,bn,relu,dense10");
        var random = new Random(6);
        byte[] images = TestData.Bytes(random, samples * features);
        byte[] labels = TestData.Bytes(random, samples, 10);
        int[] order = TestData.Permutation(random, samples);
        void Gather(DeviceKernels k, LayerNetwork network, FusedStep.Batch batch) =>
            k.Gather(batch.Images, batch.Labels, batch.Order, 11, rows, features, network.Input, network.Labels);
        var unfused = FusedStep.Run(set, architecture, rows, images, labels, order, fused: false, Gather);
        var fused = FusedStep.Run(set, architecture, rows, images, labels, order, fused: true, Gather);
        Assert.True(unfused.Launches > 10, $"{unfused.Launches} unfused launches");
        Assert.Equal(1, fused.Launches);
        FusedStep.AssertSameBits(unfused, fused);
    }
}
