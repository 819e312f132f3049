// ReLU, forward and backward.
//
// Shapes: z, h, dh, dz are flat views of `count` elements ([rows, features] row-major).
// Forward overwrites h; backward overwrites dz. Nothing accumulates.
//
// Training fuses ReLU into the dense GEMM epilogue (DenseKernels.cs); these standalone kernels
// are the unfused reference the fused one is tested against, loaded by UnfusedKernels, never by
// training. Backward takes the forward *output* h: relu'(z) = [z > 0] = [h > 0], so z need not
// be kept.
using ILGPU;

namespace GpuMlp.Kernels;

public static class ReluKernels
{
    public static void ReluForwardKernel(ArrayView<float> z, ArrayView<float> h, int count)
    {
        int stride = Grid.DimX * Group.DimX;
        for (int i = Grid.GlobalIndex.X; i < count; i += stride)
            h[i] = z[i] > 0f ? z[i] : 0f;
    }

    public static void ReluBackwardKernel(
        ArrayView<float> h, ArrayView<float> dh, ArrayView<float> dz, int count)
    {
        int stride = Grid.DimX * Group.DimX;
        for (int i = Grid.GlobalIndex.X; i < count; i += stride)
            dz[i] = h[i] > 0f ? dh[i] : 0f;
    }
}
