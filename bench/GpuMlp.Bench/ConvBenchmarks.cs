using BenchmarkDotNet.Attributes;
using GpuMlp.Kernels;
using ILGPU;

namespace GpuMlp.Bench;

/// <summary>The convolution and pooling layers of the CNN preset (Architecture.CnnText, Net=preset) at
/// their real shapes: conv1 1->32 on 28x28, pool to 14x14, conv2 32->64 on 14x14, pool to 7x7, both
/// 5x5 with padding 2 and a fused ReLU; or of the fast recipe's network (Net=fast,
/// bench/reference/recipes/fast.flags; run it with Batch=256): conv1 1->24 5x5 on 28x28, pool to
/// 12x12, conv2 24->32 3x3 on 12x12, pool to 5x5, no padding. One invocation is what a training step
/// launches for that part (conv1 computes no input gradient: its input is the data).</summary>
[BenchmarkCategory("Conv")]
public class ConvBenchmarks
{
    private BenchDevice? device;
    private ConvShape conv1, conv2;
    private PoolShape pool1, pool2;
    private ArrayView<float> x, w1, b1, cols1, nhwc1, y1, p1, w2, b2, cols2, nhwc2, y2, p2;
    private ArrayView<float> dP2, dY2, dz2, partials2, dW2, dB2, dP1, dY1, dz1, partials1, dW1, dB1;
    private ArrayView<int> argmax1, argmax2;

    [ParamsSource(nameof(Devices))]
    public string Device { get; set; } = "cpu";

    [Params(128)]
    public int Batch { get; set; } = 128;

    [Params("preset")]
    public string Net { get; set; } = "preset";

    public static IEnumerable<string> Devices() => BenchDevices.All();

    [GlobalSetup]
    public void Setup()
    {
        device = new BenchDevice(Device);
        device.Kernels.LoadConvolution();
        if (Net == "fast")
        {
            conv1 = new ConvShape(Batch, 1, 28, 28, 24, 5, 5, 0);
            pool1 = new PoolShape(Batch, 24, 24, 24);
            conv2 = new ConvShape(Batch, 24, 12, 12, 32, 3, 3, 0);
            pool2 = new PoolShape(Batch, 32, 10, 10);
        }
        else
        {
            conv1 = new ConvShape(Batch, 1, 28, 28, 32, 5, 5, 2);
            pool1 = new PoolShape(Batch, 32, 28, 28);
            conv2 = new ConvShape(Batch, 32, 14, 14, 64, 5, 5, 2);
            pool2 = new PoolShape(Batch, 64, 14, 14);
        }
        var d = device;
        x = d.Upload(Synthetic.Floats(conv1.InputLength, 1, 0.5f));
        w1 = d.Upload(Synthetic.Floats(conv1.WeightLength, 2, 0.2f));
        b1 = d.Upload(Synthetic.Floats(conv1.OutChannels, 3, 0.2f));
        w2 = d.Upload(Synthetic.Floats(conv2.WeightLength, 4, 0.035f));
        b2 = d.Upload(Synthetic.Floats(conv2.OutChannels, 5, 0.035f));
        cols1 = d.Allocate<float>(conv1.ColumnsLength);
        nhwc1 = d.Allocate<float>(conv1.OutputLength);
        y1 = d.Allocate<float>(conv1.OutputLength);
        p1 = d.Allocate<float>(pool1.OutputLength);
        argmax1 = d.Allocate<int>(pool1.OutputLength);
        cols2 = d.Allocate<float>(conv2.ColumnsLength);
        nhwc2 = d.Allocate<float>(conv2.OutputLength);
        y2 = d.Allocate<float>(conv2.OutputLength);
        p2 = d.Allocate<float>(pool2.OutputLength);
        argmax2 = d.Allocate<int>(pool2.OutputLength);
        dP2 = d.Upload(Synthetic.Floats(pool2.OutputLength, 6, 0.01f));
        dY2 = d.Allocate<float>(conv2.OutputLength);
        dz2 = d.Allocate<float>(conv2.OutputLength);
        partials2 = d.Allocate<float>(Batch * conv2.OutChannels);
        dW2 = d.Allocate<float>(conv2.WeightLength);
        dB2 = d.Allocate<float>(conv2.OutChannels);
        dP1 = d.Allocate<float>(pool1.OutputLength);
        dY1 = d.Allocate<float>(conv1.OutputLength);
        dz1 = d.Allocate<float>(conv1.OutputLength);
        partials1 = d.Allocate<float>(Batch * conv1.OutChannels);
        dW1 = d.Allocate<float>(conv1.WeightLength);
        dB1 = d.Allocate<float>(conv1.OutChannels);
        // Every method must find valid forward state (BenchmarkDotNet gives each a fresh instance).
        ForwardNchw();
        Forward();
    }

    [GlobalCleanup]
    public void Cleanup() => device?.Dispose();

    /// <summary>conv1 + ReLU, pool1, conv2 + ReLU, pool2, as a training step launches them: each
    /// convolution leaves its output as the GEMM's rows, which its pool reads.</summary>
    [Benchmark]
    public void Forward()
    {
        var k = device!.Kernels;
        k.ConvForwardNhwc(conv1, true, x, w1, b1, cols1, nhwc1);
        k.MaxPool2ForwardNhwc(pool1, nhwc1, p1, argmax1);
        k.ConvForwardNhwc(conv2, true, p1, w2, b2, cols2, nhwc2);
        k.MaxPool2ForwardNhwc(pool2, nhwc2, p2, argmax2);
        device.Synchronize();
    }

    /// <summary>pool2 backward into conv2's dz and bias partials, conv2 parameter and input gradients
    /// (dCols in the forward's cols), pool1 backward into conv1's dz, conv1 parameter gradients.</summary>
    [Benchmark]
    public void Backward()
    {
        var k = device!.Kernels;
        k.MaxPool2BackwardNhwc(pool2, true, dP2, argmax2, p2, dz2, partials2);
        k.ConvParameterGradientsFromDz(conv2, dz2, partials2, p1, cols2, dW2, dB2);
        k.ConvInputGradient(conv2, dz2, w2, cols2, dP1);
        k.MaxPool2BackwardNhwc(pool1, true, dP1, argmax1, p1, dz1, partials1);
        k.ConvParameterGradientsFromDz(conv1, dz1, partials1, x, cols1, dW1, dB1);
        device.Synchronize();
    }

    /// <summary>Forward as it ran before a convolution handed its pool rows: NCHW output (the
    /// transpose), then the NCHW pool. Still the launches of a convolution not followed by pool2.</summary>
    [Benchmark]
    public void ForwardNchw()
    {
        var k = device!.Kernels;
        k.ConvForward(conv1, true, x, w1, b1, cols1, nhwc1, y1);
        k.MaxPool2Forward(pool1, y1, p1, argmax1);
        k.ConvForward(conv2, true, p1, w2, b2, cols2, nhwc2, y2);
        k.MaxPool2Forward(pool2, y2, p2, argmax2);
        device.Synchronize();
    }

    /// <summary>Backward as it ran before: NCHW pool gradients, then each convolution's NCHW-to-NHWC
    /// pass with the ReLU mask and its own bias-partials pass.</summary>
    [Benchmark]
    public void BackwardNchw()
    {
        var k = device!.Kernels;
        k.MaxPool2Backward(pool2, dP2, argmax2, dY2);
        k.ConvParameterGradients(conv2, true, dY2, y2, p1, cols2, dz2, partials2, dW2, dB2);
        k.ConvInputGradient(conv2, dz2, w2, cols2, dP1);
        k.MaxPool2Backward(pool1, dP1, argmax1, dY1);
        k.ConvParameterGradients(conv1, true, dY1, y1, x, cols1, dz1, partials1, dW1, dB1);
        device.Synchronize();
    }

    /// <summary>conv1's forward up to its rows: im2col of 25-pixel patches and a K = 25 GEMM.</summary>
    [Benchmark]
    public void Conv1ForwardRows()
    {
        device!.Kernels.ConvForwardNhwc(conv1, true, x, w1, b1, cols1, nhwc1);
        device.Synchronize();
    }

    /// <summary>pool1 from conv1's rows.</summary>
    [Benchmark]
    public void Pool1ForwardRows()
    {
        device!.Kernels.MaxPool2ForwardNhwc(pool1, nhwc1, p1, argmax1);
        device.Synchronize();
    }

    /// <summary>conv2's im2col alone: [B*196, 800] written (80 MB at batch 128).</summary>
    [Benchmark]
    public void Conv2Im2Col()
    {
        device!.Kernels.ConvIm2Col(conv2, p1, cols2);
        device.Synchronize();
    }

    /// <summary>conv2's forward GEMM alone: [B*196, 64] = cols [B*196, 800] x W^T, bias and ReLU.</summary>
    [Benchmark]
    public void Conv2ForwardGemm()
    {
        var k = device!.Kernels;
        k.Gemm(GemmShape.TransposedB(conv2.Rows, conv2.OutChannels, conv2.Patch), DenseEpilogue.Of(EpilogueMode.BiasRelu), cols2, w2, nhwc2, b2, k.Unused);
        device.Synchronize();
    }

    /// <summary>pool2 from conv2's rows.</summary>
    [Benchmark]
    public void Pool2ForwardRows()
    {
        device!.Kernels.MaxPool2ForwardNhwc(pool2, nhwc2, p2, argmax2);
        device.Synchronize();
    }

    /// <summary>pool2's backward into conv2's dz and bias partials.</summary>
    [Benchmark]
    public void Pool2BackwardRows()
    {
        device!.Kernels.MaxPool2BackwardNhwc(pool2, true, dP2, argmax2, p2, dz2, partials2);
        device.Synchronize();
    }

    /// <summary>conv2's parameter gradients from its dz as a step runs them: dW (transposed GEMM and
    /// transpose on the CPU) and dB.</summary>
    [Benchmark]
    public void Conv2ParameterGradients()
    {
        device!.Kernels.ConvParameterGradientsFromDz(conv2, dz2, partials2, p1, cols2, dW2, dB2);
        device.Synchronize();
    }

    /// <summary>conv2's input gradient as a step runs it (on the CPU: GEMM and col2im per image).</summary>
    [Benchmark]
    public void Conv2InputGradient()
    {
        device!.Kernels.ConvInputGradient(conv2, dz2, w2, cols2, dP1);
        device.Synchronize();
    }

    /// <summary>conv1's parameter gradients from its dz.</summary>
    [Benchmark]
    public void Conv1ParameterGradients()
    {
        device!.Kernels.ConvParameterGradientsFromDz(conv1, dz1, partials1, x, cols1, dW1, dB1);
        device.Synchronize();
    }

    /// <summary>conv2's col2im alone: dx [B, 32, 14, 14] from dCols [B*196, 800].</summary>
    [Benchmark]
    public void Conv2Col2Im()
    {
        device!.Kernels.ConvCol2Im(conv2, cols2, dP1);
        device.Synchronize();
    }

    /// <summary>pool1's backward into conv1's dz and bias partials.</summary>
    [Benchmark]
    public void Pool1BackwardRows()
    {
        device!.Kernels.MaxPool2BackwardNhwc(pool1, true, dP1, argmax1, p1, dz1, partials1);
        device.Synchronize();
    }

    /// <summary>conv2's forward up to its rows, as a step runs it (on the CPU: one launch reading x
    /// through offset tables, no im2col).</summary>
    [Benchmark]
    public void Conv2ForwardRows()
    {
        device!.Kernels.ConvForwardNhwc(conv2, true, p1, w2, b2, cols2, nhwc2);
        device.Synchronize();
    }

    /// <summary>conv2's forward alone: im2col, one [B*196, 64] GEMM with bias+ReLU, transpose.</summary>
    [Benchmark]
    public void Conv2Forward()
    {
        device!.Kernels.ConvForward(conv2, true, p1, w2, b2, cols2, nhwc2, y2);
        device.Synchronize();
    }

    /// <summary>The layout the kernels do not use, for comparison with Conv2Forward: one GEMM per image
    /// writing NCHW directly, y_b [64, 196] = W [64, 800] x cols_b^T. Without the separate
    /// per-row bias + ReLU pass it would also need, so a lower bound on its cost.</summary>
    [Benchmark]
    public void Conv2ForwardPerImageGemms()
    {
        var k = device!.Kernels;
        int pixels = conv2.OutPixels, patch = conv2.Patch, outChannels = conv2.OutChannels;
        k.ConvIm2Col(conv2, p1, cols2);
        for (int b = 0; b < Batch; b++)
        {
            k.Gemm(GemmShape.TransposedB(outChannels, pixels, patch), DenseEpilogue.Of(EpilogueMode.Store),
                w2, cols2.SubView((long)b * pixels * patch, (long)pixels * patch),
                y2.SubView((long)b * outChannels * pixels, (long)outChannels * pixels), k.Unused, k.Unused);
        }
        device.Synchronize();
    }

    /// <summary>conv2's weight gradient GEMM alone: [64, 800] with K = B*196.</summary>
    [Benchmark]
    public void Conv2WeightGradientGemm()
    {
        var k = device!.Kernels;
        k.Gemm(GemmShape.TransposedA(conv2.OutChannels, conv2.Patch, conv2.Rows), DenseEpilogue.Of(EpilogueMode.Store), dz2, cols2, dW2, k.Unused, k.Unused);
        device.Synchronize();
    }
    /// <summary>conv2's input-gradient GEMM alone: dCols [B*196, 800] = dz [B*196, 64] x W [64, 800].</summary>
    [Benchmark]
    public void Conv2InputGradientGemm()
    {
        var k = device!.Kernels;
        k.Gemm(GemmShape.Plain(conv2.Rows, conv2.Patch, conv2.OutChannels), DenseEpilogue.Of(EpilogueMode.Store), dz2, w2, cols2, k.Unused, k.Unused);
        device.Synchronize();
    }

    /// <summary>conv1's weight-gradient GEMM alone: [32, 25] with K = B*784 (a long-K, tiny-output GEMM).</summary>
    [Benchmark]
    public void Conv1WeightGradientGemm()
    {
        var k = device!.Kernels;
        k.Gemm(GemmShape.TransposedA(conv1.OutChannels, conv1.Patch, conv1.Rows), DenseEpilogue.Of(EpilogueMode.Store), dz1, cols1, dW1, k.Unused, k.Unused);
        device.Synchronize();
    }
}
