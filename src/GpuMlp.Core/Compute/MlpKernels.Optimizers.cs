using GpuMlp.Kernels;
using ILGPU;
using ILGPU.Runtime;

namespace GpuMlp.Compute;

// The optimiser updates other than plain Adam (which MlpKernels.cs launches): AdamW, SGD and
// RMSprop, each one element-wise launch over the flat parameter buffer: the portable kernels of
// kernels/{Adam,Sgd,Rmsprop}Kernels.cs, or on the CPU SIMD set kernels/Cpu/CpuOptimizerKernels.cs (same bits, recorded
// into a fused step like every other SIMD launch).
public sealed partial class MlpKernels
{
    // Null on the CPU SIMD set, whose own optimiser kernels run instead.
    private readonly OptimizerKernels? optimizerKernels;

    /// <summary>AdamW: parameters, firstMoment and secondMoment updated in place (all `count` long).</summary>
    public void AdamW(ArrayView<float> parameters, ArrayView<float> gradients, ArrayView<float> firstMoment,
        ArrayView<float> secondMoment, int count, AdamWStep step)
    {
        if (simd is not null)
            simd.AdamW(parameters, gradients, firstMoment, secondMoment, count, step);
        else
            optimizerKernels!.AdamW(Elementwise(count), parameters, gradients, firstMoment, secondMoment, count, step);
    }

    /// <summary>SGD: parameters and (with momentum) momentumBuffer updated in place; with momentum 0
    /// pass <see cref="Unused"/> as the buffer.</summary>
    public void Sgd(ArrayView<float> parameters, ArrayView<float> gradients, ArrayView<float> momentumBuffer,
        int count, SgdStep step)
    {
        if (simd is not null)
            simd.Sgd(parameters, gradients, momentumBuffer, count, step);
        else
            optimizerKernels!.Sgd(Elementwise(count), parameters, gradients, momentumBuffer, count, step);
    }

    /// <summary>RMSprop: parameters, squareAverage and the buffers in use updated in place; pass
    /// <see cref="Unused"/> for momentumBuffer without momentum and gradientAverage when not centered.</summary>
    public void Rmsprop(ArrayView<float> parameters, ArrayView<float> gradients, ArrayView<float> squareAverage,
        ArrayView<float> momentumBuffer, ArrayView<float> gradientAverage, int count, RmspropStep step)
    {
        if (simd is not null)
            simd.Rmsprop(parameters, gradients, squareAverage, momentumBuffer, gradientAverage, count, step);
        else
            optimizerKernels!.Rmsprop(Elementwise(count), parameters, gradients, squareAverage, momentumBuffer, gradientAverage, count, step);
    }

    /// <summary>Loaded with every other kernel when MlpKernels is built, so their compile time is
    /// part of CompileSeconds and no training step pays for a first-use compilation.</summary>
    private sealed class OptimizerKernels(Accelerator accelerator)
    {
        public Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, AdamWStep> AdamW { get; } =
            accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, AdamWStep>(
                AdamKernels.AdamWKernel);

        public Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, SgdStep> Sgd { get; } =
            accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, int, SgdStep>(
                SgdKernels.SgdKernel);

        public Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, RmspropStep> Rmsprop { get; } =
            accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, RmspropStep>(
                RmspropKernels.RmspropKernel);
    }
}
