// The exponential moving average of the weights (gpumlp train --ema DECAY): after every optimiser
// step, average = decay * average + (1 - decay) * weights, element-wise, as timm's ModelEmaV2 updates
// its copy of the parameters (ema_v * decay + (1 - decay) * model_v).
//
// Shapes: average and weights are flat buffers of `count` floats (the network's flat parameter
// buffer and its average). average is UPDATED IN PLACE (overwritten); weights is read only; nothing
// accumulates across launches beyond the average itself. The CPU SIMD variant
// (kernels/Cpu/CpuWeightAverageKernels.cs) does the same operations in the same order with no fused
// multiply-add, so both give the same bits.
using ILGPU;

namespace GpuMlp.Kernels;

public static class WeightAverageKernels
{
    /// <summary>One grid-stride pass: average[i] = decay * average[i] + (1 - decay) * weights[i].</summary>
    public static void ExponentialAverageKernel(ArrayView<float> average, ArrayView<float> weights, int count, float decay)
    {
        float keep = 1f - decay;
        int stride = Grid.DimX * Group.DimX;
        for (int i = Grid.GlobalIndex.X; i < count; i += stride)
            average[i] = (decay * average[i]) + (keep * weights[i]);
    }
}
