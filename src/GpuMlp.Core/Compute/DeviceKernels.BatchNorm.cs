using GpuMlp.Kernels;
using ILGPU;

namespace GpuMlp.Compute;

/// <summary>The batch-normalisation launches (kernels/BatchNormKernels.cs on the portable set,
/// kernels/Cpu/CpuBatchNormKernels.cs on the CPU SIMD set, bit-identical and recorded into a
/// FuseLaunches program). Each checks its shape and its views' lengths here, then runs on the set.
/// Shapes: x, y, dy, dx [Batch, Channels, Spatial]; every other operand [Channels], but
/// numBatchesTracked [1].</summary>
public sealed partial class DeviceKernels
{
    /// <summary>Compiles the batch-normalisation kernels now (idempotent); a network with batch
    /// normalisation calls this before training so no step includes compilation.</summary>
    public void LoadBatchNorm() => set.LoadBatchNorm();

    /// <summary>Training: mean and variance (biased) of the batch overwritten; running statistics and
    /// the batch count updated in place (momentum 0.1, unbiased variance; unchanged for one value per channel).</summary>
    public void BatchNormStatistics(BatchNormShape shape, ArrayView<float> x, ArrayView<float> mean, ArrayView<float> variance,
        ArrayView<float> runningMean, ArrayView<float> runningVariance, ArrayView<float> numBatchesTracked)
    {
        CheckShape(shape);
        Require(x, shape.Length, "x");
        RequireChannels(shape, (mean, "mean"), (variance, "variance"), (runningMean, "runningMean"), (runningVariance, "runningVariance"));
        Require(numBatchesTracked, 1, "numBatchesTracked");
        set.BatchNormStatistics(shape, x, mean, variance, runningMean, runningVariance, numBatchesTracked);
    }

    /// <summary>y = relu?((x - mean) / sqrt(variance + eps) * weight + bias) overwritten: the batch
    /// statistics in training, the running ones in evaluation.</summary>
    public void BatchNormForward(BatchNormShape shape, bool relu, ArrayView<float> x, ArrayView<float> mean, ArrayView<float> variance,
        ArrayView<float> weight, ArrayView<float> bias, ArrayView<float> y)
    {
        CheckShape(shape);
        Require(x, shape.Length, "x");
        Require(y, shape.Length, "y");
        RequireChannels(shape, (mean, "mean"), (variance, "variance"), (weight, "weight"), (bias, "bias"));
        set.BatchNormForward(shape, relu, x, mean, variance, weight, bias, y);
    }

    /// <summary>dWeight = sum g x^, dBias = sum g per channel, overwritten (g = dy, through [y > 0] when relu).</summary>
    public void BatchNormParameterGradients(BatchNormShape shape, bool relu, ArrayView<float> dy, ArrayView<float> y, ArrayView<float> x,
        ArrayView<float> mean, ArrayView<float> variance, ArrayView<float> dWeight, ArrayView<float> dBias)
    {
        CheckShape(shape);
        Require(dy, shape.Length, "dy");
        Require(y, shape.Length, "y");
        Require(x, shape.Length, "x");
        RequireChannels(shape, (mean, "mean"), (variance, "variance"), (dWeight, "dWeight"), (dBias, "dBias"));
        set.BatchNormParameterGradients(shape, relu, dy, y, x, mean, variance, dWeight, dBias);
    }

    /// <summary>dx overwritten from the parameter gradients of the same batch; with maskInput, through
    /// the previous dense layer's mask ([x > 0] * keepScale).</summary>
    public void BatchNormInputGradient(BatchNormShape shape, bool relu, bool maskInput, float keepScale, in BatchNormOperands operands)
    {
        CheckShape(shape);
        Require(operands.Dy, shape.Length, "dy");
        Require(operands.Y, shape.Length, "y");
        Require(operands.X, shape.Length, "x");
        Require(operands.Dx, shape.Length, "dx");
        RequireChannels(shape, (operands.Mean, "mean"), (operands.Variance, "variance"), (operands.Weight, "weight"),
            (operands.DWeight, "dWeight"), (operands.DBias, "dBias"));
        set.BatchNormInputGradient(shape, relu, maskInput, keepScale, operands);
    }

    private static void CheckShape(in BatchNormShape shape)
    {
        if (shape.Batch < 1 || shape.Channels < 1 || shape.Spatial < 1)
            throw new ArgumentException($"invalid batch-norm shape [{shape.Batch}, {shape.Channels}, {shape.Spatial}]");
        if ((long)shape.Batch * shape.Channels * shape.Spatial > int.MaxValue)
            throw new ArgumentException($"batch-norm input [{shape.Batch}, {shape.Channels}, {shape.Spatial}] exceeds {int.MaxValue} elements");
    }

    private static void RequireChannels(in BatchNormShape shape, params ReadOnlySpan<(ArrayView<float> View, string Name)> operands)
    {
        foreach (var (view, name) in operands)
            Require(view, shape.Channels, name);
    }
}
