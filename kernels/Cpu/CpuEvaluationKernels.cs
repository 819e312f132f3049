// Evaluation reductions on the CPU accelerator (EvaluationKernels.cs with a different split).
//
// SumPartialsSimdKernel: losses [count] float, predictions [count] int32, labels [samples] uint8
//   read through order[first + i]. Partial p of partialCount OVERWRITES lossPartials[p] (double)
//   and correctPartials[p] (int) with the sums over the CONTIGUOUS range
//   [count * p / partialCount, count * (p + 1) / partialCount): the losses are widened to double
//   and added a vector at a time into one double accumulator per lane, the lanes then added in
//   order; the correct count is a scalar loop (each label is a byte gathered through `order`).
//   The host adds the partials in order, so the totals are identical on every run of a path.
// ConfusionSimdKernel: OVERWRITES confusion[t * classes + p] with the number of samples whose true
//   label is t and prediction is p. Worker w owns a contiguous range of cells and counts them in
//   one pass over the samples (the portable kernel makes one pass per cell); no atomics.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using ILGPU;

namespace GpuMlp.Kernels.Cpu;

public static class CpuEvaluationKernels
{
    [CpuOnlyKernel]
    public static void SumPartialsSimdKernel(
        CpuSimdWidth width, ArrayView<float> losses, ArrayView<int> predictions, ArrayView<byte> labels,
        ArrayView<int> order, int first, int count, int partialCount,
        ArrayView<double> lossPartials, ArrayView<int> correctPartials)
    {
        CpuEvaluationSimd.SumPartials(Grid.GlobalIndex.X, Grid.DimX * Group.DimX, width, losses, predictions, labels,
            order, first, count, partialCount, lossPartials, correctPartials);
    }

    [CpuOnlyKernel]
    public static void ConfusionSimdKernel(
        ArrayView<int> predictions, ArrayView<byte> labels, ArrayView<int> order,
        int first, int count, int classes, ArrayView<int> confusion)
    {
        CpuEvaluationSimd.Confusion(Grid.GlobalIndex.X, Grid.DimX * Group.DimX, predictions, labels, order,
            first, count, classes, confusion);
    }
}

internal static class CpuEvaluationSimd
{
    [ILGPU.Frontend.External("gpumlp_cpu_sum_partials")]
    public static void SumPartials(
        int worker, int workers, CpuSimdWidth width, ArrayView<float> losses, ArrayView<int> predictions, ArrayView<byte> labels,
        ArrayView<int> order, int first, int count, int partialCount,
        ArrayView<double> lossPartials, ArrayView<int> correctPartials) =>
        SumPartials(worker, workers, width, ref Simd.Ref(losses), ref Simd.Ref(predictions), ref Simd.Ref(labels),
            ref Simd.Ref(order), first, count, partialCount, ref Simd.Ref(lossPartials), ref Simd.Ref(correctPartials));

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void SumPartials(
        int worker, int workers, CpuSimdWidth width, ref float losses, ref int predictions, ref byte labels,
        ref int order, int first, int count, int partialCount, ref double lossPartials, ref int correctPartials)
    {
        for (int p = worker; p < partialCount; p += workers)
        {
            int start = Simd.RangeStart(count, p, partialCount), end = Simd.RangeStart(count, p + 1, partialCount);
            ref float lossRun = ref Unsafe.Add(ref losses, start);
            Unsafe.Add(ref lossPartials, p) = width switch
            {
                CpuSimdWidth.Vector512 => SumLosses<Vector512Ops, Vector512<float>>(ref lossRun, end - start),
                CpuSimdWidth.Vector256 => SumLosses<Vector256Ops, Vector256<float>>(ref lossRun, end - start),
                _ => SumLosses<ScalarOps, float>(ref lossRun, end - start),
            };
            ref int prediction = ref predictions;
            ref byte label = ref labels;
            ref int sample = ref Unsafe.Add(ref order, first);
            int correct = 0;
            for (int i = start; i < end; i++)
            {
                if (Unsafe.Add(ref prediction, i) == Unsafe.Add(ref label, Unsafe.Add(ref sample, i)))
                    correct++;
            }
            Unsafe.Add(ref correctPartials, p) = correct;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static double SumLosses<TOps, TV>(ref float losses, int length)
        where TOps : struct, ISimdOps<TV>
        where TV : struct
    {
        Span<double> lanes = stackalloc double[TOps.Lanes];
        lanes.Clear();
        ref double accumulators = ref MemoryMarshal.GetReference(lanes);
        for (int i = 0; i < length; i += TOps.Lanes)
            TOps.AccumulateDouble(Simd.LoadPartial<TOps, TV>(ref Unsafe.Add(ref losses, i), length - i, 0f), ref accumulators);
        double sum = 0.0;
        foreach (double lane in lanes)
            sum += lane;
        return sum;
    }

    [ILGPU.Frontend.External("gpumlp_cpu_confusion")]
    public static void Confusion(
        int worker, int workers, ArrayView<int> predictions, ArrayView<byte> labels, ArrayView<int> order,
        int first, int count, int classes, ArrayView<int> confusion) =>
        Confusion(worker, workers, ref Simd.Ref(predictions), ref Simd.Ref(labels), ref Simd.Ref(order), first, count, classes, ref Simd.Ref(confusion));

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Confusion(
        int worker, int workers, ref int predictions, ref byte labels, ref int order,
        int first, int count, int classes, ref int confusion)
    {
        int cells = classes * classes;
        int firstCell = Simd.RangeStart(cells, worker, workers), endCell = Simd.RangeStart(cells, worker + 1, workers);
        if (firstCell >= endCell)
            return;
        ref int prediction = ref predictions;
        ref byte label = ref labels;
        ref int sample = ref Unsafe.Add(ref order, first);
        var hits = MemoryMarshal.CreateSpan(ref Unsafe.Add(ref confusion, firstCell), endCell - firstCell);
        hits.Clear();
        for (int i = 0; i < count; i++)
        {
            int predicted = Unsafe.Add(ref prediction, i);
            int cell = (Unsafe.Add(ref label, Unsafe.Add(ref sample, i)) * classes) + predicted - firstCell;
            if ((uint)predicted < (uint)classes && (uint)cell < (uint)hits.Length)
                hits[cell]++;
        }
    }
}
