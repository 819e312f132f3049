// Batch normalisation on the CPU accelerator: BatchNormKernels.cs's four kernels as plain .NET loops
// in [External] helpers, split over the worker threads of one persistent launch, with their operands
// in one BatchNormCommand (CpuCommand.cs) as addresses.
//
// Shapes and rules are BatchNormKernels.cs's (BatchNormShape [Batch, Channels, Spatial]): the
// statistics OVERWRITE mean and variance and UPDATE the running statistics and numBatchesTracked in
// place; the forward OVERWRITES y; the parameter gradients OVERWRITE dWeight and dBias; the input
// gradient OVERWRITES dx. Every value is computed with the portable kernel's operations in the
// portable kernel's order (each per-channel sum one loop over image, then spatial position; no fused
// multiply-add), so the bits are the portable kernels'. That is why these loops are scalar: a
// vectorised sum would reorder the additions.
//
// Work split: channels for the two reductions (Statistics, ParameterGradients), (image, channel)
// planes for the element-wise kernels (Forward, InputGradient); contiguous ranges per worker
// (Simd.RangeStart).
using System.Runtime.CompilerServices;
using ILGPU;

namespace GpuMlp.Kernels.Cpu;

public static class CpuBatchNormKernels
{
    [CpuOnlyKernel]
    public static void BatchNormStatisticsCpuKernel(BatchNormCommand command) =>
        CpuBatchNorm.Statistics(Grid.GlobalIndex.X, Grid.DimX * Group.DimX, command);

    [CpuOnlyKernel]
    public static void BatchNormForwardCpuKernel(BatchNormCommand command) =>
        CpuBatchNorm.Forward(Grid.GlobalIndex.X, Grid.DimX * Group.DimX, command);

    [CpuOnlyKernel]
    public static void BatchNormParameterGradientsCpuKernel(BatchNormCommand command) =>
        CpuBatchNorm.ParameterGradients(Grid.GlobalIndex.X, Grid.DimX * Group.DimX, command);

    [CpuOnlyKernel]
    public static void BatchNormInputGradientCpuKernel(BatchNormCommand command) =>
        CpuBatchNorm.InputGradient(Grid.GlobalIndex.X, Grid.DimX * Group.DimX, command);
}

/// <summary>The [External] bodies of the CpuBatchNormKernels kernels (plain .NET, run by RyuJIT).</summary>
internal static class CpuBatchNorm
{
    [ILGPU.Frontend.External("gpumlp_cpu_batchnorm_statistics")]
    public static void Statistics(int worker, int workers, BatchNormCommand command) => Statistics(worker, workers, in command);

    [ILGPU.Frontend.External("gpumlp_cpu_batchnorm_forward")]
    public static void Forward(int worker, int workers, BatchNormCommand command) => Forward(worker, workers, in command);

    [ILGPU.Frontend.External("gpumlp_cpu_batchnorm_parameter_gradients")]
    public static void ParameterGradients(int worker, int workers, BatchNormCommand command) =>
        ParameterGradients(worker, workers, in command);

    [ILGPU.Frontend.External("gpumlp_cpu_batchnorm_input_gradient")]
    public static void InputGradient(int worker, int workers, BatchNormCommand command) => InputGradient(worker, workers, in command);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Statistics(int worker, int workers, in BatchNormCommand command)
    {
        BatchNormShape shape = command.Shape;
        int channels = shape.Channels, spatial = shape.Spatial, count = shape.PerChannel;
        ref float x = ref At(command.X);
        int end = Simd.RangeStart(channels, worker + 1, workers);
        for (int c = Simd.RangeStart(channels, worker, workers); c < end; c++)
        {
            float sum = 0f;
            for (int n = 0; n < shape.Batch; n++)
            {
                ref float plane = ref Unsafe.Add(ref x, (nint)((n * channels) + c) * spatial);
                for (int s = 0; s < spatial; s++)
                    sum += Unsafe.Add(ref plane, s);
            }
            float average = sum / count;
            float squares = 0f;
            for (int n = 0; n < shape.Batch; n++)
            {
                ref float plane = ref Unsafe.Add(ref x, (nint)((n * channels) + c) * spatial);
                for (int s = 0; s < spatial; s++)
                {
                    float d = Unsafe.Add(ref plane, s) - average;
                    squares += d * d;
                }
            }
            float biased = squares / count;
            Unsafe.Add(ref At(command.Mean), c) = average;
            Unsafe.Add(ref At(command.Variance), c) = biased;
            if (count > 1)
            {
                float unbiased = biased * count / (count - 1);
                ref float runningMean = ref Unsafe.Add(ref At(command.RunningMean), c);
                ref float runningVariance = ref Unsafe.Add(ref At(command.RunningVariance), c);
                runningMean = ((1f - BatchNormKernels.Momentum) * runningMean) + (BatchNormKernels.Momentum * average);
                runningVariance = ((1f - BatchNormKernels.Momentum) * runningVariance) + (BatchNormKernels.Momentum * unbiased);
                if (c == 0)
                    At(command.NumBatchesTracked) += 1f;
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Forward(int worker, int workers, in BatchNormCommand command)
    {
        BatchNormShape shape = command.Shape;
        int channels = shape.Channels, spatial = shape.Spatial, planes = shape.Batch * channels;
        bool relu = command.Relu != 0;
        int end = Simd.RangeStart(planes, worker + 1, workers);
        for (int p = Simd.RangeStart(planes, worker, workers); p < end; p++)
        {
            int c = p % channels;
            float average = Unsafe.Add(ref At(command.Mean), c);
            float inverseStd = BatchNormKernels.InverseStd(Unsafe.Add(ref At(command.Variance), c));
            float weight = Unsafe.Add(ref At(command.Weight), c), bias = Unsafe.Add(ref At(command.Bias), c);
            ref float x = ref Unsafe.Add(ref At(command.X), (nint)p * spatial);
            ref float y = ref Unsafe.Add(ref At(command.Y), (nint)p * spatial);
            for (int s = 0; s < spatial; s++)
            {
                float value = ((Unsafe.Add(ref x, s) - average) * inverseStd * weight) + bias;
                Unsafe.Add(ref y, s) = relu && !(value > 0f) ? 0f : value;
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void ParameterGradients(int worker, int workers, in BatchNormCommand command)
    {
        BatchNormShape shape = command.Shape;
        int channels = shape.Channels, spatial = shape.Spatial;
        bool relu = command.Relu != 0;
        int end = Simd.RangeStart(channels, worker + 1, workers);
        for (int c = Simd.RangeStart(channels, worker, workers); c < end; c++)
        {
            float average = Unsafe.Add(ref At(command.Mean), c);
            float inverseStd = BatchNormKernels.InverseStd(Unsafe.Add(ref At(command.Variance), c));
            float sumG = 0f, sumGx = 0f;
            for (int n = 0; n < shape.Batch; n++)
            {
                nint first = (nint)((n * channels) + c) * spatial;
                ref float dy = ref Unsafe.Add(ref At(command.Dy), first);
                ref float y = ref Unsafe.Add(ref At(command.Y), first);
                ref float x = ref Unsafe.Add(ref At(command.X), first);
                for (int s = 0; s < spatial; s++)
                {
                    float g = relu && !(Unsafe.Add(ref y, s) > 0f) ? 0f : Unsafe.Add(ref dy, s);
                    sumG += g;
                    sumGx += g * ((Unsafe.Add(ref x, s) - average) * inverseStd);
                }
            }
            Unsafe.Add(ref At(command.DBias), c) = sumG;
            Unsafe.Add(ref At(command.DWeight), c) = sumGx;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void InputGradient(int worker, int workers, in BatchNormCommand command)
    {
        BatchNormShape shape = command.Shape;
        int channels = shape.Channels, spatial = shape.Spatial, planes = shape.Batch * channels;
        float count = shape.PerChannel;
        bool relu = command.Relu != 0, maskInput = command.MaskInput != 0;
        float keepScale = command.KeepScale;
        int end = Simd.RangeStart(planes, worker + 1, workers);
        for (int p = Simd.RangeStart(planes, worker, workers); p < end; p++)
        {
            int c = p % channels;
            float average = Unsafe.Add(ref At(command.Mean), c);
            float inverseStd = BatchNormKernels.InverseStd(Unsafe.Add(ref At(command.Variance), c));
            float weight = Unsafe.Add(ref At(command.Weight), c);
            float dWeight = Unsafe.Add(ref At(command.DWeight), c), dBias = Unsafe.Add(ref At(command.DBias), c);
            nint first = (nint)p * spatial;
            ref float dy = ref Unsafe.Add(ref At(command.Dy), first);
            ref float y = ref Unsafe.Add(ref At(command.Y), first);
            ref float x = ref Unsafe.Add(ref At(command.X), first);
            ref float dx = ref Unsafe.Add(ref At(command.Dx), first);
            for (int s = 0; s < spatial; s++)
            {
                float input = Unsafe.Add(ref x, s);
                float g = relu && !(Unsafe.Add(ref y, s) > 0f) ? 0f : Unsafe.Add(ref dy, s);
                float normalised = (input - average) * inverseStd;
                float value = weight * inverseStd * (g - (dBias / count) - (normalised * (dWeight / count)));
                if (maskInput)
                    value = input > 0f ? value * keepScale : 0f;
                Unsafe.Add(ref dx, s) = value;
            }
        }
    }

    /// <summary>The float at an address of the CPU accelerator's memory as a managed reference.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ref float At(long address) => ref Unsafe.AddByteOffset(ref Unsafe.NullRef<float>(), (nint)address);
}
