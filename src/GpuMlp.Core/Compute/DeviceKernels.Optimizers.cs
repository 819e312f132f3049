using GpuMlp.Kernels;
using ILGPU;

namespace GpuMlp.Compute;

// The optimiser updates, each one element-wise launch over the flat parameter buffer (the set's:
// kernels/{Adam,Sgd,Rmsprop}Kernels.cs, or on the CPU SIMD set kernels/Cpu/CpuOptimizerKernels.cs,
// same bits, recorded into a fused step like every other SIMD launch). Loaded with every other
// kernel when DeviceKernels is built, so no training step pays for a first-use compilation.
public sealed partial class DeviceKernels
{
    /// <summary>Adam: parameters, firstMoment and secondMoment updated in place (all `count` long).</summary>
    public void Adam(ArrayView<float> parameters, ArrayView<float> gradients, ArrayView<float> firstMoment,
        ArrayView<float> secondMoment, int count, AdamStep step) =>
        set.Adam(parameters, gradients, firstMoment, secondMoment, count, step);

    /// <summary>AdamW: parameters, firstMoment and secondMoment updated in place (all `count` long).</summary>
    public void AdamW(ArrayView<float> parameters, ArrayView<float> gradients, ArrayView<float> firstMoment,
        ArrayView<float> secondMoment, int count, AdamWStep step) =>
        set.AdamW(parameters, gradients, firstMoment, secondMoment, count, step);

    /// <summary>SGD: parameters and (with momentum) momentumBuffer updated in place; with momentum 0
    /// pass <see cref="Unused"/> as the buffer.</summary>
    public void Sgd(ArrayView<float> parameters, ArrayView<float> gradients, ArrayView<float> momentumBuffer,
        int count, SgdStep step) =>
        set.Sgd(parameters, gradients, momentumBuffer, count, step);

    /// <summary>RMSprop: parameters, squareAverage and the buffers in use updated in place; pass
    /// <see cref="Unused"/> for momentumBuffer without momentum and gradientAverage when not centered.</summary>
    public void Rmsprop(ArrayView<float> parameters, ArrayView<float> gradients, ArrayView<float> squareAverage,
        ArrayView<float> momentumBuffer, ArrayView<float> gradientAverage, int count, RmspropStep step) =>
        set.Rmsprop(parameters, gradients, squareAverage, momentumBuffer, gradientAverage, count, step);
}
