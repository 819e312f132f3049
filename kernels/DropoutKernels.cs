// Dropout (inverted), forward and backward.
//
// Shapes: input and output are [rows, features] row-major, `count = rows * features` elements.
// DropoutMaskKernel overwrites output; nothing accumulates.
//
// The keep/drop decision is the stateless counter-based hash of (seed, step, layer, element)
// (CounterHash.cs), so any backend (CUDA, OpenCL, CPU) and any launch shape draws the
// identical mask, and the backward pass recomputes the mask instead of storing it. An element
// is kept when its 32-bit hash is >= dropThreshold, where dropThreshold = round(p * 2^32); kept elements are
// scaled by keepScale = 1 / (1 - p) so the expected activation is unchanged.
//
// Forward (y = mask(x)) and backward (dx = mask(dy)) are the same elementwise map, so one
// kernel serves both. Training applies dropout inside the dense GEMM epilogues (DenseKernels.cs);
// this standalone kernel is the unfused reference those epilogues are tested against, loaded
// by UnfusedKernels, never by training.
using ILGPU;

namespace GpuMlp.Kernels;

public static class DropoutKernels
{
    /// <summary>Whether one element survives: its CounterHash.Bits with the layer's index as the
    /// stream is >= dropThreshold. Shared by every kernel that applies dropout (this file, the
    /// fused GEMM epilogue in DenseKernels.cs; the SIMD epilogues hash CounterHash.Key once per
    /// row and Mix(element ^ key) per lane, the same bits).</summary>
    public static bool Keep(uint seed, uint step, uint layer, uint element, uint dropThreshold) =>
        CounterHash.Bits(seed, step, layer, element) >= dropThreshold;

    /// <summary>output[i] = input[i] * keepScale where element i is kept, else 0.</summary>
    public static void DropoutMaskKernel(
        ArrayView<float> input, ArrayView<float> output, int count,
        uint seed, uint step, uint layer, uint dropThreshold, float keepScale)
    {
        int stride = Grid.DimX * Group.DimX;
        for (int i = Grid.GlobalIndex.X; i < count; i += stride)
            output[i] = Keep(seed, step, layer, (uint)i, dropThreshold) ? input[i] * keepScale : 0f;
    }
}
