// The weights' exponential moving average on the CPU accelerator: WeightAverageKernels.cs's
// ExponentialAverageKernel with a SIMD loop.
//
// Shapes as there: average and weights hold `count` floats; average is UPDATED IN PLACE
// (average = decay * average + (1 - decay) * weights), weights is read only. The element range is
// split into contiguous runs of whole vectors, one per worker (the last vector partial). Multiply,
// multiply, add in the portable kernel's order, none fused, so the bits are the portable kernel's
// on every CpuSimdWidth.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using ILGPU;

namespace GpuMlp.Kernels.Cpu;

public static class CpuWeightAverageKernels
{
    [CpuOnlyKernel]
    public static void ExponentialAverageSimdKernel(CpuSimdWidth width, ArrayView<float> average, ArrayView<float> weights, int count, float decay) =>
        CpuWeightAverage.Run(Grid.GlobalIndex.X, Grid.DimX * Group.DimX, width, average, weights, count, decay);
}

/// <summary>The [External] body of CpuWeightAverageKernels (plain .NET, run by RyuJIT).</summary>
internal static class CpuWeightAverage
{
    [ILGPU.Frontend.External("gpumlp_cpu_exponential_average")]
    public static void Run(int worker, int workers, CpuSimdWidth width, ArrayView<float> average, ArrayView<float> weights, int count, float decay) =>
        Run(worker, workers, width, ref Simd.Ref(average), ref Simd.Ref(weights), count, decay);

    internal static void Run(int worker, int workers, CpuSimdWidth width, ref float average, ref float weights, int count, float decay)
    {
        switch (width)
        {
            case CpuSimdWidth.Vector512:
                Run<Vector512Ops, Vector512<float>>(worker, workers, ref average, ref weights, count, decay);
                break;
            case CpuSimdWidth.Vector256:
                Run<Vector256Ops, Vector256<float>>(worker, workers, ref average, ref weights, count, decay);
                break;
            default:
                Run<ScalarOps, float>(worker, workers, ref average, ref weights, count, decay);
                break;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Run<TOps, TV>(int worker, int workers, ref float average, ref float weights, int count, float decay)
        where TOps : struct, ISimdOps<TV>
        where TV : struct
    {
        TV decayVector = TOps.Broadcast(decay), keep = TOps.Broadcast(1f - decay);
        int vectors = (count + TOps.Lanes - 1) / TOps.Lanes;
        int end = Simd.RangeStart(vectors, worker + 1, workers);
        for (int v = Simd.RangeStart(vectors, worker, workers); v < end; v++)
        {
            int i = v * TOps.Lanes, left = count - i;
            ref float target = ref Unsafe.Add(ref average, i);
            TV a = Simd.LoadPartial<TOps, TV>(ref target, left, 0f);
            TV w = Simd.LoadPartial<TOps, TV>(ref Unsafe.Add(ref weights, i), left, 0f);
            Simd.StorePartial<TOps, TV>(TOps.Add(TOps.Multiply(decayVector, a), TOps.Multiply(keep, w)), ref target, left);
        }
    }
}
