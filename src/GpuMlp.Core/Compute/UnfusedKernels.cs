using GpuMlp.Kernels;
using ILGPU;
using ILGPU.Runtime;

namespace GpuMlp.Compute;

/// <summary>The reference kernel set: standalone ReLU and dropout. Training fuses both into the
/// dense GEMM epilogues, so <see cref="DeviceKernels"/> never loads these; the tests load them as the
/// unfused path the fused epilogues must match, and the layer benchmarks to time them. Launch
/// shapes come from the DeviceKernels they are given.</summary>
public sealed class UnfusedKernels
{
    private readonly DeviceKernels kernels;
    private readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, int> reluForward;
    private readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, int> reluBackward;
    private readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, int, uint, uint, uint, uint, float> dropoutMask;

    public UnfusedKernels(DeviceKernels kernels)
    {
        ArgumentNullException.ThrowIfNull(kernels);
        this.kernels = kernels;
        var accelerator = kernels.Accelerator;
        reluForward = accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, int>(ReluKernels.ReluForwardKernel);
        reluBackward = accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, int>(ReluKernels.ReluBackwardKernel);
        dropoutMask = accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, int, uint, uint, uint, uint, float>(DropoutKernels.DropoutMaskKernel);
    }

    public void ReluForward(ArrayView<float> z, ArrayView<float> h, int count)
    {
        kernels.BeforePortableLaunch();
        reluForward(kernels.Elementwise(count), z, h, count);
    }

    public void ReluBackward(ArrayView<float> h, ArrayView<float> dh, ArrayView<float> dz, int count)
    {
        kernels.BeforePortableLaunch();
        reluBackward(kernels.Elementwise(count), h, dh, dz, count);
    }

    /// <summary>output = mask(input): dropout forward on activations (y = mask(x)) and backward on
    /// their gradients (dx = mask(dy)) alike.</summary>
    public void Dropout(ArrayView<float> input, ArrayView<float> output, int count, DropoutMask mask)
    {
        kernels.BeforePortableLaunch();
        dropoutMask(kernels.Elementwise(count), input, output, count, mask.Seed, mask.Step, mask.Layer, mask.DropThreshold, mask.KeepScale);
    }
}
