// 2x2 max-pooling on the CPU accelerator: PoolingKernels.cs's two kernels as plain .NET loops in
// [External] helpers, split over the worker threads of one persistent launch.
//
// Shapes and rules are PoolingKernels.cs's (PoolShape): forward OVERWRITES y and argmax [B, C, OutH,
// OutW] (argmax = iy * W + ix inside the plane; the window scanned row-major from -infinity, an
// element replaces the maximum when greater or NaN); backward OVERWRITES dx [B, C, H, W]: each
// element of a window gets dy of the window if it is the window's argmax, else 0, and an odd last
// row or column gets 0. Both are bit-identical to the portable kernels (they compare and move
// values, no arithmetic). The backward tests each window element against argmax, like the portable
// gather, instead of scattering to argmax: an argmax outside its window then writes nothing.
//
// Work split: (image, channel) planes, contiguous ranges per worker (Simd.RangeStart).
using System.Runtime.CompilerServices;
using ILGPU;

namespace GpuMlp.Kernels.Cpu;

public static class CpuPoolingKernels
{
    [CpuOnlyKernel]
    public static void MaxPool2ForwardCpuKernel(PoolShape shape, ArrayView<float> x, ArrayView<float> y, ArrayView<int> argmax) =>
        CpuPooling.Forward(Grid.GlobalIndex.X, Grid.DimX * Group.DimX, shape, x, y, argmax);

    [CpuOnlyKernel]
    public static void MaxPool2BackwardCpuKernel(PoolShape shape, ArrayView<float> dy, ArrayView<int> argmax, ArrayView<float> dx) =>
        CpuPooling.Backward(Grid.GlobalIndex.X, Grid.DimX * Group.DimX, shape, dy, argmax, dx);
}

/// <summary>The [External] bodies of the CpuPoolingKernels kernels (plain .NET, run by RyuJIT).</summary>
internal static class CpuPooling
{
    [ILGPU.Frontend.External("gpumlp_cpu_maxpool2_forward")]
    public static void Forward(int worker, int workers, PoolShape shape, ArrayView<float> x, ArrayView<float> y, ArrayView<int> argmax) =>
        Forward(worker, workers, shape, ref Simd.Ref(x), ref Simd.Ref(y), ref Simd.Ref(argmax));

    [ILGPU.Frontend.External("gpumlp_cpu_maxpool2_backward")]
    public static void Backward(int worker, int workers, PoolShape shape, ArrayView<float> dy, ArrayView<int> argmax, ArrayView<float> dx) =>
        Backward(worker, workers, shape, ref Simd.Ref(dy), ref Simd.Ref(argmax), ref Simd.Ref(dx));

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Forward(int worker, int workers, in PoolShape shape, ref float x, ref float y, ref int argmax)
    {
        int width = shape.Width, outH = shape.OutH, outW = shape.OutW;
        int plane = shape.Height * width, outPlane = outH * outW;
        int planes = shape.Batch * shape.Channels;
        int end = Simd.RangeStart(planes, worker + 1, workers);
        for (int index = Simd.RangeStart(planes, worker, workers); index < end; index++)
        {
            ref float input = ref Unsafe.Add(ref x, (nint)index * plane);
            ref float output = ref Unsafe.Add(ref y, (nint)index * outPlane);
            ref int chosen = ref Unsafe.Add(ref argmax, (nint)index * outPlane);
            for (int oy = 0; oy < outH; oy++)
            {
                for (int ox = 0; ox < outW; ox++)
                {
                    int first = 2 * oy * width + 2 * ox;
                    float best = float.NegativeInfinity;
                    int bestIndex = first;
                    Consider(ref input, first, ref best, ref bestIndex);
                    Consider(ref input, first + 1, ref best, ref bestIndex);
                    Consider(ref input, first + width, ref best, ref bestIndex);
                    Consider(ref input, first + width + 1, ref best, ref bestIndex);
                    Unsafe.Add(ref output, oy * outW + ox) = best;
                    Unsafe.Add(ref chosen, oy * outW + ox) = bestIndex;
                }
            }
        }
    }

    /// <summary>PoolingKernels's rule: the element replaces the maximum when greater, or NaN.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Consider(ref float input, int index, ref float best, ref int bestIndex)
    {
        float value = Unsafe.Add(ref input, index);
        if (value > best || float.IsNaN(value))
        {
            best = value;
            bestIndex = index;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Backward(int worker, int workers, in PoolShape shape, ref float dy, ref int argmax, ref float dx)
    {
        int width = shape.Width, outH = shape.OutH, outW = shape.OutW;
        int plane = shape.Height * width, outPlane = outH * outW;
        int planes = shape.Batch * shape.Channels;
        int end = Simd.RangeStart(planes, worker + 1, workers);
        for (int index = Simd.RangeStart(planes, worker, workers); index < end; index++)
        {
            ref float gradient = ref Unsafe.Add(ref dy, (nint)index * outPlane);
            ref int chosen = ref Unsafe.Add(ref argmax, (nint)index * outPlane);
            ref float target = ref Unsafe.Add(ref dx, (nint)index * plane);
            // An odd height's last row and an odd width's last column belong to no window.
            if ((width & 1) != 0 || (shape.Height & 1) != 0)
            {
                for (int i = 0; i < plane; i++)
                    Unsafe.Add(ref target, i) = 0f;
            }
            for (int oy = 0; oy < outH; oy++)
            {
                for (int ox = 0; ox < outW; ox++)
                {
                    int first = 2 * oy * width + 2 * ox;
                    int selected = Unsafe.Add(ref chosen, oy * outW + ox);
                    float value = Unsafe.Add(ref gradient, oy * outW + ox);
                    Unsafe.Add(ref target, first) = selected == first ? value : 0f;
                    Unsafe.Add(ref target, first + 1) = selected == first + 1 ? value : 0f;
                    Unsafe.Add(ref target, first + width) = selected == first + width ? value : 0f;
                    Unsafe.Add(ref target, first + width + 1) = selected == first + width + 1 ? value : 0f;
                }
            }
        }
    }
}
