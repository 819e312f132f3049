using System.Diagnostics;
using GpuMlp.Kernels;
using ILGPU;
using ILGPU.Runtime;

namespace GpuMlp.Compute;

/// <summary>The convolution and pooling launches. Callers pass shapes and views; every buffer,
/// scratch included, is the caller's, sized by the shape's *Length members. Each operation checks its
/// shape and its views' lengths here, then runs on the kernel set (PortableKernelSet: kernels/
/// ConvolutionKernels.cs, PoolingKernels.cs; CpuSimdKernelSet: kernels/Cpu/CpuConvolutionKernels.cs,
/// CpuPoolingKernels.cs, bit-identical and recorded into a FuseLaunches program like the GEMMs
/// between them). The composite operations (forward, parameter and input gradients) are written once
/// here over the set's primitives.</summary>
public sealed partial class DeviceKernels
{
    private bool convolutionLoaded;

    /// <summary>Wall time spent compiling the convolution and pooling kernels; 0 until they load.</summary>
    public double ConvolutionCompileSeconds { get; private set; }

    /// <summary>Compiles the convolution and pooling kernels now (idempotent). They otherwise load on
    /// first use, so a network without convolutions never pays for them; a network with them calls
    /// this before training so no step includes compilation.</summary>
    public void LoadConvolution()
    {
        if (convolutionLoaded)
            return;
        var watch = Stopwatch.StartNew();
        set.LoadConvolution();
        ConvolutionCompileSeconds = watch.Elapsed.TotalSeconds;
        convolutionLoaded = true;
    }

    /// <summary>y = relu?(conv(x, weights) + bias), NCHW in and out. cols [Rows, Patch] and nhwc
    /// [Rows, OutChannels] are scratch; cols keeps im2col(x) for ConvParameterGradients on the sets that
    /// read it back.</summary>
    public void ConvForward(ConvShape shape, bool relu, ArrayView<float> x, ArrayView<float> weights,
        ArrayView<float> bias, ArrayView<float> cols, ArrayView<float> nhwc, ArrayView<float> y)
    {
        Require(y, shape.OutputLength, "y");
        ConvForwardNhwc(shape, relu, x, weights, bias, cols, nhwc);
        set.ConvNhwcToNchw(shape, nhwc, y);
    }

    /// <summary>ConvForward up to its output rows: nhwc [Rows, OutChannels] = relu?(im2col(x) x
    /// weights^T + bias), left in that layout for a pool that reads it (MaxPool2ForwardNhwc); cols
    /// is scratch that keeps im2col(x) on the sets that read it back (IKernelSet.ConvForwardRows).</summary>
    public void ConvForwardNhwc(ConvShape shape, bool relu, ArrayView<float> x, ArrayView<float> weights,
        ArrayView<float> bias, ArrayView<float> cols, ArrayView<float> nhwc)
    {
        CheckForward(shape, x, weights, bias, cols, nhwc);
        LoadConvolution();
        // [Rows, O] = cols [Rows, K] x weights^T, weights stored [O, K]: bias per column = per channel.
        set.ConvForwardRows(shape, relu, x, weights, bias, cols, nhwc);
    }

    /// <summary>The shape and operand lengths of a convolution's forward up to its rows.</summary>
    private void CheckForward(in ConvShape shape, ArrayView<float> x, ArrayView<float> weights, ArrayView<float> bias,
        ArrayView<float> cols, ArrayView<float> nhwc)
    {
        CheckShape(shape);
        Require(x, shape.InputLength, "x");
        Require(weights, shape.WeightLength, "weights");
        Require(bias, shape.OutChannels, "bias");
        Require(cols, shape.ColumnsLength, "cols");
        Require(nhwc, shape.OutputLength, "nhwc");
    }

    /// <summary>ConvForwardNhwc, then MaxPool2ForwardNhwc of its rows: y and argmax [B, O, OutH / 2,
    /// OutW / 2] overwritten, the bits of the two. nhwc is scratch that a set may leave untouched (the
    /// CPU set pools each image's rows from a worker's buffer; MaxPool2BackwardNhwc reads y, not the
    /// rows).</summary>
    public void ConvPoolForward(ConvShape shape, bool relu, ArrayView<float> x, ArrayView<float> weights,
        ArrayView<float> bias, ArrayView<float> cols, ArrayView<float> nhwc, ArrayView<float> y, ArrayView<int> argmax)
    {
        CheckForward(shape, x, weights, bias, cols, nhwc);
        var pool = new PoolShape(shape.Batch, shape.OutChannels, shape.OutH, shape.OutW);
        CheckShape(pool);
        Require(y, pool.OutputLength, "y");
        Require(argmax, pool.OutputLength, "argmax");
        LoadConvolution();
        set.ConvPoolForward(shape, relu, x, weights, bias, cols, nhwc, pool, y, argmax);
    }

    /// <summary>cols [Rows, Patch] = im2col(x) alone (ConvForward's first launch).</summary>
    public void ConvIm2Col(ConvShape shape, ArrayView<float> x, ArrayView<float> cols)
    {
        CheckShape(shape);
        Require(x, shape.InputLength, "x");
        Require(cols, shape.ColumnsLength, "cols");
        Im2Col(shape, x, cols);
    }

    /// <summary>dx [B, C, H, W] = col2im(dCols [Rows, Patch]) alone (ConvInputGradient's last launch).</summary>
    public void ConvCol2Im(ConvShape shape, ArrayView<float> dCols, ArrayView<float> dx)
    {
        CheckShape(shape);
        Require(dCols, shape.ColumnsLength, "dCols");
        Require(dx, shape.InputLength, "dx");
        LoadConvolution();
        set.ConvCol2Im(shape, dCols, dx);
    }

    private void Im2Col(in ConvShape shape, ArrayView<float> x, ArrayView<float> cols)
    {
        LoadConvolution();
        set.ConvIm2Col(shape, x, cols);
    }

    /// <summary>From dy = dLoss/dy (NCHW): dz = dLoss/d(pre-activation) in [Rows, OutChannels]
    /// (through the ReLU when `relu`, using the forward output y), dWeights [O, C, KH, KW] summed over
    /// the batch, dBias [O]. x is the forward's input and cols its im2col (a set reads one of them);
    /// biasPartials [Batch, O] is scratch. dz is kept for ConvInputGradient. All outputs are
    /// overwritten.</summary>
    public void ConvParameterGradients(ConvShape shape, bool relu, ArrayView<float> dy, ArrayView<float> y,
        ArrayView<float> x, ArrayView<float> cols, ArrayView<float> dz, ArrayView<float> biasPartials,
        ArrayView<float> dWeights, ArrayView<float> dBias)
    {
        CheckShape(shape);
        Require(dy, shape.OutputLength, "dy");
        if (relu)
            Require(y, shape.OutputLength, "y");
        Require(dz, shape.OutputLength, "dz");
        Require(biasPartials, shape.Batch * shape.OutChannels, "biasPartials");
        LoadConvolution();
        set.ConvNchwToNhwc(shape, dy, relu ? y : Unused, relu, dz);
        set.ConvBiasPartials(shape, dz, biasPartials);
        ConvParameterGradientsFromDz(shape, dz, biasPartials, x, cols, dWeights, dBias);
    }

    /// <summary>ConvParameterGradients from dz [Rows, OutChannels] and its per-image bias partials
    /// [Batch, O] as MaxPool2BackwardNhwc writes them: dWeights [O, C, KH, KW] and dBias [O],
    /// overwritten; x is the forward's input and cols its im2col.</summary>
    public void ConvParameterGradientsFromDz(ConvShape shape, ArrayView<float> dz, ArrayView<float> biasPartials,
        ArrayView<float> x, ArrayView<float> cols, ArrayView<float> dWeights, ArrayView<float> dBias)
    {
        CheckShape(shape);
        Require(dz, shape.OutputLength, "dz");
        Require(biasPartials, shape.Batch * shape.OutChannels, "biasPartials");
        Require(x, shape.InputLength, "x");
        Require(cols, shape.ColumnsLength, "cols");
        Require(dWeights, shape.WeightLength, "dWeights");
        Require(dBias, shape.OutChannels, "dBias");
        LoadConvolution();
        // dW [O, K] = dz^T [O, Rows] x cols [Rows, K]: every element sums over the whole batch in order.
        set.ConvWeightGradient(shape, dz, x, cols, dWeights);
        BiasGradient(biasPartials, shape.Batch, shape.OutChannels, dBias);
    }

    /// <summary>dx = dLoss/dx [B, C, H, W] from dz (ConvParameterGradients' [Rows, O] output);
    /// dCols [Rows, Patch] is scratch and may be the forward's cols once ConvParameterGradients
    /// has run (launches on one stream run in order). dx is overwritten.</summary>
    public void ConvInputGradient(ConvShape shape, ArrayView<float> dz, ArrayView<float> weights,
        ArrayView<float> dCols, ArrayView<float> dx)
    {
        CheckShape(shape);
        Require(dz, shape.OutputLength, "dz");
        Require(weights, shape.WeightLength, "weights");
        Require(dCols, shape.ColumnsLength, "dCols");
        Require(dx, shape.InputLength, "dx");
        // dCols [Rows, K] = dz [Rows, O] x weights [O, K], then col2im (the CPU set: both per image, in one launch).
        LoadConvolution();
        set.ConvInputGradient(shape, dz, weights, dCols, dx);
    }

    /// <summary>2x2/stride-2 max-pooling: y and argmax [B, C, H/2, W/2] overwritten.</summary>
    public void MaxPool2Forward(PoolShape shape, ArrayView<float> x, ArrayView<float> y, ArrayView<int> argmax)
    {
        CheckShape(shape);
        Require(x, shape.InputLength, "x");
        Require(y, shape.OutputLength, "y");
        Require(argmax, shape.OutputLength, "argmax");
        LoadConvolution();
        set.MaxPool2Forward(shape, x, y, argmax);
    }

    /// <summary>dx [B, C, H, W] overwritten: dy routed to each window's argmax, 0 elsewhere.</summary>
    public void MaxPool2Backward(PoolShape shape, ArrayView<float> dy, ArrayView<int> argmax, ArrayView<float> dx)
    {
        CheckShape(shape);
        Require(dy, shape.OutputLength, "dy");
        Require(argmax, shape.OutputLength, "argmax");
        Require(dx, shape.InputLength, "dx");
        LoadConvolution();
        set.MaxPool2Backward(shape, dy, argmax, dx);
    }

    /// <summary>MaxPool2Forward from x [B * H * W, C] rows, a convolution's ConvForwardNhwc output:
    /// y and argmax [B, C, H/2, W/2] overwritten, as MaxPool2Forward gives them from the NCHW x.</summary>
    public void MaxPool2ForwardNhwc(PoolShape shape, ArrayView<float> x, ArrayView<float> y, ArrayView<int> argmax)
    {
        CheckShape(shape);
        Require(x, shape.InputLength, "x");
        Require(y, shape.OutputLength, "y");
        Require(argmax, shape.OutputLength, "argmax");
        LoadConvolution();
        set.MaxPool2ForwardNhwc(shape, x, y, argmax);
    }

    /// <summary>The backward of a pool fed by ConvForwardNhwc, straight into that convolution's
    /// gradient: dz [B * H * W, C] = dy routed to each window's argmax, 0 elsewhere, and through the
    /// convolution's ReLU when `relu` (0 where the pooled y is not positive: y at the argmax is the
    /// convolution's output there); biasPartials [B, C] = per-image sums of dz. Both overwritten;
    /// ConvParameterGradientsFromDz and ConvInputGradient then take them. Bit for bit what
    /// MaxPool2Backward and ConvParameterGradients' first two launches give.</summary>
    public void MaxPool2BackwardNhwc(PoolShape shape, bool relu, ArrayView<float> dy, ArrayView<int> argmax, ArrayView<float> y,
        ArrayView<float> dz, ArrayView<float> biasPartials)
    {
        CheckShape(shape);
        Require(dy, shape.OutputLength, "dy");
        Require(argmax, shape.OutputLength, "argmax");
        if (relu)
            Require(y, shape.OutputLength, "y");
        Require(dz, shape.InputLength, "dz");
        Require(biasPartials, (long)shape.Batch * shape.Channels, "biasPartials");
        LoadConvolution();
        set.MaxPool2BackwardNhwc(shape, relu, dy, argmax, relu ? y : Unused, dz, biasPartials);
    }

    /// <summary>Rejects shapes with an empty output or an element count beyond int (the kernels
    /// index with int).</summary>
    private static void CheckShape(in ConvShape shape)
    {
        if (shape.Batch < 1 || shape.Channels < 1 || shape.Height < 1 || shape.Width < 1 || shape.OutChannels < 1
            || shape.KernelH < 1 || shape.KernelW < 1 || shape.Padding < 0)
            throw new ArgumentException($"invalid convolution shape {Describe(shape)}");
        long outH = (long)shape.Height + 2L * shape.Padding - shape.KernelH + 1;
        long outW = (long)shape.Width + 2L * shape.Padding - shape.KernelW + 1;
        if (outH < 1 || outW < 1)
            throw new ArgumentException($"convolution {Describe(shape)}: the kernel does not fit the padded input");
        long rows = shape.Batch * outH * outW;
        long patch = (long)shape.Channels * shape.KernelH * shape.KernelW;
        long input = (long)shape.Batch * shape.Channels * shape.Height * shape.Width;
        if (rows * patch > int.MaxValue || rows * shape.OutChannels > int.MaxValue || input > int.MaxValue
            || patch * shape.OutChannels > int.MaxValue)
            throw new ArgumentException($"convolution {Describe(shape)}: a buffer would exceed {int.MaxValue} elements");
    }

    private static void CheckShape(in PoolShape shape)
    {
        if (shape.Batch < 1 || shape.Channels < 1 || shape.Height < 2 || shape.Width < 2)
            throw new ArgumentException(
                $"invalid pooling shape [{shape.Batch}, {shape.Channels}, {shape.Height}, {shape.Width}]: 2x2 pooling needs at least 2x2");
        if ((long)shape.Batch * shape.Channels * shape.Height * shape.Width > int.MaxValue)
            throw new ArgumentException($"pooling input [{shape.Batch}, {shape.Channels}, {shape.Height}, {shape.Width}] exceeds {int.MaxValue} elements");
    }

    private static string Describe(in ConvShape s) =>
        $"[{s.Batch}, {s.Channels}, {s.Height}, {s.Width}] * [{s.OutChannels}, {s.Channels}, {s.KernelH}, {s.KernelW}] padding {s.Padding}";

    private static void Require<T>(ArrayView<T> view, long length, string name)
        where T : unmanaged
    {
        if (view.Length < length)
            throw new ArgumentException($"{name} holds {view.Length} elements; the shape needs {length}");
    }
}
