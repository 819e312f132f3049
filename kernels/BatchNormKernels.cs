// Batch normalisation (PyTorch's nn.BatchNorm1d / nn.BatchNorm2d with their defaults: eps 1e-5,
// momentum 0.1, affine, running statistics tracked), forward and backward.
//
// Shapes (BatchNormShape; M = Batch * Spatial values per channel):
//   x, y, dy, dx   [Batch, Channels, Spatial] row-major: NCHW maps with Spatial = H * W (2-D, after a
//                  convolution), [Batch, Features] vectors with Spatial = 1 (1-D, after a dense layer)
//   weight, bias   [Channels]  gamma and beta, trained
//   mean, variance [Channels]  scratch: the batch's statistics in training (variance BIASED, /M, the one
//                  the normalisation uses), or the running statistics in evaluation
//   runningMean, runningVariance [Channels], numBatchesTracked [1]: the layer's state (torch's buffers;
//                  numBatchesTracked held as a float, exact up to 2^24 steps)
//   dWeight, dBias [Channels]  parameter gradients
//
// Training forward: BatchNormStatisticsKernel OVERWRITES mean and variance and UPDATES the running
// statistics in place, as torch does: running = (1 - momentum) * running + momentum * batch, with the
// UNBIASED batch variance (variance * M / (M - 1)) for runningVariance, and adds 1 to numBatchesTracked.
// A batch of M = 1 (one row of a 1-D layer) has no variance: torch refuses it; here the running
// statistics and the count are left as they are (its output is bias, x minus its own mean being 0).
// BatchNormForwardKernel then OVERWRITES y = (x - mean) * invstd * weight + bias, through ReLU when
// relu (a relu after the layer is fused into it), invstd = 1 / sqrt(variance + eps) recomputed per
// element. Evaluation runs BatchNormForwardKernel alone, on the running statistics.
//
// Backward (after a training forward, with the same mean and variance): g = dy, or dy * [y > 0] with
// relu; x^ = (x - mean) * invstd. BatchNormParameterGradientsKernel OVERWRITES dBias = sum g and dWeight
// = sum g x^ (per channel over its M values), like every other layer's parameter gradients.
// BatchNormInputGradientKernel OVERWRITES dx = weight * invstd * (g - dBias / M - x^ * dWeight / M), the
// standard formula for batch statistics; with maskInput (the layer before is a dense layer whose ReLU,
// maybe dropout, is applied by the writer of its gradient) dx is then multiplied by keepScale where
// x > 0 and set to 0 elsewhere, as the dense GEMM's ActiveMask epilogue does.
//
// Determinism: every per-channel sum is one thread's loop in a fixed order (image, then spatial
// position), so results do not depend on the launch shape and repeat bit for bit; no atomics. The
// price on a GPU is one thread per channel for the two reductions (a few dozen threads): correct and
// deterministic first. Work is split with grid-stride loops, over channels or over elements.
using ILGPU;
using ILGPU.Algorithms;

namespace GpuMlp.Kernels;

/// <summary>One batch-normalisation problem: [Batch, Channels, Spatial] (see file header).</summary>
public struct BatchNormShape
{
    public int Batch;
    public int Channels;
    public int Spatial;

    public BatchNormShape(int batch, int channels, int spatial)
    {
        Batch = batch;
        Channels = channels;
        Spatial = spatial;
    }

    /// <summary>Values per channel, M = Batch * Spatial.</summary>
    public readonly int PerChannel => Batch * Spatial;

    /// <summary>Values of x, y, dy and dx.</summary>
    public readonly int Length => Batch * Channels * Spatial;
}

public static class BatchNormKernels
{
    /// <summary>torch's default eps, added to the variance under the square root.</summary>
    public const float Epsilon = 1e-5f;

    /// <summary>torch's default momentum of the running statistics.</summary>
    public const float Momentum = 0.1f;

    /// <summary>1 / sqrt(variance + eps), the same operations on every kernel set.</summary>
    public static float InverseStd(float variance) => 1f / XMath.Sqrt(variance + Epsilon);

    /// <summary>One thread per channel: the batch mean and biased variance, and the running update.</summary>
    public static void BatchNormStatisticsKernel(
        BatchNormShape shape, ArrayView<float> x, ArrayView<float> mean, ArrayView<float> variance,
        ArrayView<float> runningMean, ArrayView<float> runningVariance, ArrayView<float> numBatchesTracked)
    {
        int channels = shape.Channels, spatial = shape.Spatial, count = shape.PerChannel;
        int stride = Grid.DimX * Group.DimX;
        for (int c = Grid.GlobalIndex.X; c < channels; c += stride)
        {
            float sum = 0f;
            for (int n = 0; n < shape.Batch; n++)
            {
                int first = ((n * channels) + c) * spatial;
                for (int s = 0; s < spatial; s++)
                    sum += x[first + s];
            }
            float average = sum / count;
            float squares = 0f;
            for (int n = 0; n < shape.Batch; n++)
            {
                int first = ((n * channels) + c) * spatial;
                for (int s = 0; s < spatial; s++)
                {
                    float d = x[first + s] - average;
                    squares += d * d;
                }
            }
            float biased = squares / count;
            mean[c] = average;
            variance[c] = biased;
            if (count > 1)
            {
                float unbiased = biased * count / (count - 1);
                runningMean[c] = ((1f - Momentum) * runningMean[c]) + (Momentum * average);
                runningVariance[c] = ((1f - Momentum) * runningVariance[c]) + (Momentum * unbiased);
                if (c == 0)
                    numBatchesTracked[0] += 1f;
            }
        }
    }

    /// <summary>y = relu?((x - mean) * invstd * weight + bias), element-wise.</summary>
    public static void BatchNormForwardKernel(
        BatchNormShape shape, int relu, ArrayView<float> x, ArrayView<float> mean, ArrayView<float> variance,
        ArrayView<float> weight, ArrayView<float> bias, ArrayView<float> y)
    {
        int length = shape.Length, channels = shape.Channels, spatial = shape.Spatial;
        int stride = Grid.DimX * Group.DimX;
        for (int i = Grid.GlobalIndex.X; i < length; i += stride)
        {
            int c = (i / spatial) % channels;
            float value = ((x[i] - mean[c]) * InverseStd(variance[c]) * weight[c]) + bias[c];
            y[i] = relu != 0 && !(value > 0f) ? 0f : value;
        }
    }

    /// <summary>One thread per channel: dBias = sum g, dWeight = sum g x^.</summary>
    public static void BatchNormParameterGradientsKernel(
        BatchNormShape shape, int relu, ArrayView<float> dy, ArrayView<float> y, ArrayView<float> x,
        ArrayView<float> mean, ArrayView<float> variance, ArrayView<float> dWeight, ArrayView<float> dBias)
    {
        int channels = shape.Channels, spatial = shape.Spatial;
        int stride = Grid.DimX * Group.DimX;
        for (int c = Grid.GlobalIndex.X; c < channels; c += stride)
        {
            float average = mean[c], inverseStd = InverseStd(variance[c]);
            float sumG = 0f, sumGx = 0f;
            for (int n = 0; n < shape.Batch; n++)
            {
                int first = ((n * channels) + c) * spatial;
                for (int s = 0; s < spatial; s++)
                {
                    int i = first + s;
                    float g = relu != 0 && !(y[i] > 0f) ? 0f : dy[i];
                    sumG += g;
                    sumGx += g * ((x[i] - average) * inverseStd);
                }
            }
            dBias[c] = sumG;
            dWeight[c] = sumGx;
        }
    }

    /// <summary>dx = weight * invstd * (g - dBias / M - x^ * dWeight / M), element-wise, then through
    /// the previous dense layer's ReLU/dropout mask when maskInput.</summary>
    public static void BatchNormInputGradientKernel(
        BatchNormShape shape, int relu, int maskInput, float keepScale, ArrayView<float> dy, ArrayView<float> y, ArrayView<float> x,
        ArrayView<float> mean, ArrayView<float> variance, ArrayView<float> weight, ArrayView<float> dWeight, ArrayView<float> dBias,
        ArrayView<float> dx)
    {
        int length = shape.Length, channels = shape.Channels, spatial = shape.Spatial;
        float count = shape.PerChannel;
        int stride = Grid.DimX * Group.DimX;
        for (int i = Grid.GlobalIndex.X; i < length; i += stride)
        {
            int c = (i / spatial) % channels;
            float inverseStd = InverseStd(variance[c]);
            float g = relu != 0 && !(y[i] > 0f) ? 0f : dy[i];
            float normalised = (x[i] - mean[c]) * inverseStd;
            float value = weight[c] * inverseStd * (g - (dBias[c] / count) - (normalised * (dWeight[c] / count)));
            if (maskInput != 0)
                value = x[i] > 0f ? value * keepScale : 0f;
            dx[i] = value;
        }
    }
}

/// <summary>What the input gradient reads and writes: dy, y, x, dx [Batch, Channels, Spatial]; mean,
/// variance, weight, dWeight, dBias [Channels] (see the file header).</summary>
public readonly record struct BatchNormOperands(
    ArrayView<float> Dy, ArrayView<float> Y, ArrayView<float> X, ArrayView<float> Mean, ArrayView<float> Variance,
    ArrayView<float> Weight, ArrayView<float> DWeight, ArrayView<float> DBias, ArrayView<float> Dx);
