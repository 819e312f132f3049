// Softmax + cross-entropy on the CPU accelerator: SoftmaxCrossEntropyKernels.SoftmaxCrossEntropyKernel
// with SIMD exp, sum and gradient loops.
//
// Shapes and outputs as in SoftmaxCrossEntropyKernels.cs: logits [rows, classes]; per row r it
// OVERWRITES loss[first + r], prediction[first + r] (argmax, lowest index on ties) and, when
// writeGradient != 0, dLogits[r, c] = (softmax[c] - target[c]) * gradientScale, the target smoothed
// by labelSmoothing as there (plain one-hot when it is 0, by the same operations as before). Rows are split
// into contiguous ranges, one per worker; within a row the classes are processed a vector at a
// time (lanes past the row read as -infinity, whose exp is 0), the same way in every row.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using ILGPU;

namespace GpuMlp.Kernels.Cpu;

public static class CpuSoftmaxCrossEntropyKernels
{
    [CpuOnlyKernel]
    public static void SoftmaxCrossEntropySimdKernel(
        CpuSimdWidth width, ArrayView<float> logits, ArrayView<int> labels, int rows, int classes,
        float gradientScale, int writeGradient, ArrayView<float> dLogits,
        int first, ArrayView<float> loss, ArrayView<int> prediction, float labelSmoothing)
    {
        CpuSoftmaxSimd.Run(Grid.GlobalIndex.X, Grid.DimX * Group.DimX, width, logits, labels, rows, classes,
            gradientScale, writeGradient, dLogits, first, loss, prediction, labelSmoothing);
    }
}

internal static class CpuSoftmaxSimd
{
    [ILGPU.Frontend.External("gpumlp_cpu_softmax_cross_entropy")]
    public static void Run(
        int worker, int workers, CpuSimdWidth width, ArrayView<float> logits, ArrayView<int> labels, int rows, int classes,
        float gradientScale, int writeGradient, ArrayView<float> dLogits,
        int first, ArrayView<float> loss, ArrayView<int> prediction, float labelSmoothing)
    {
        Run(worker, workers, width, new Buffers(ref Simd.Ref(logits), ref Simd.Ref(labels), ref Simd.Ref(dLogits),
            ref Unsafe.Add(ref Simd.Ref(loss), first), ref Unsafe.Add(ref Simd.Ref(prediction), first), writeGradient != 0),
            rows, classes, gradientScale, labelSmoothing);
    }

    /// <summary>Loss and Prediction refer to element `first` of their buffers.</summary>
    internal static void Run(int worker, int workers, CpuSimdWidth width, in Buffers buffers, int rows, int classes, float gradientScale,
        float labelSmoothing)
    {
        switch (width)
        {
            case CpuSimdWidth.Vector512:
                Run<Vector512Ops, Vector512<float>>(worker, workers, buffers, rows, classes, gradientScale, labelSmoothing);
                break;
            case CpuSimdWidth.Vector256:
                Run<Vector256Ops, Vector256<float>>(worker, workers, buffers, rows, classes, gradientScale, labelSmoothing);
                break;
            default:
                Run<ScalarOps, float>(worker, workers, buffers, rows, classes, gradientScale, labelSmoothing);
                break;
        }
    }

    internal readonly ref struct Buffers(ref float logits, ref int labels, ref float dLogits, ref float loss, ref int prediction, bool writeGradient)
    {
        public readonly ref float Logits = ref logits;
        public readonly ref int Labels = ref labels;
        public readonly ref float DLogits = ref dLogits;
        public readonly ref float Loss = ref loss;
        public readonly ref int Prediction = ref prediction;
        public readonly bool WriteGradient = writeGradient;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Run<TOps, TV>(int worker, int workers, in Buffers buffers, int rows, int classes, float gradientScale,
        float labelSmoothing)
        where TOps : struct, ISimdOps<TV>
        where TV : struct
    {
        int end = Simd.RangeStart(rows, worker + 1, workers);
        TV scale = TOps.Broadcast(gradientScale);
        bool smoothed = labelSmoothing != 0f;
        float offTarget = labelSmoothing / classes;
        float onTarget = 1f - labelSmoothing + offTarget;
        TV offTargetVector = TOps.Broadcast(offTarget);
        for (int r = Simd.RangeStart(rows, worker, workers); r < end; r++)
        {
            ref float row = ref Unsafe.Add(ref buffers.Logits, r * classes);
            // Maximum and argmax exactly as the portable kernel scans them.
            float max = row;
            int argmax = 0;
            for (int c = 1; c < classes; c++)
            {
                float v = Unsafe.Add(ref row, c);
                if (v > max)
                {
                    max = v;
                    argmax = c;
                }
            }
            TV maxVector = TOps.Broadcast(max);
            TV sums = TOps.Zero;
            for (int c = 0; c < classes; c += TOps.Lanes)
            {
                TV v = Simd.LoadPartial<TOps, TV>(ref Unsafe.Add(ref row, c), classes - c, float.NegativeInfinity);
                sums = TOps.Add(sums, TOps.Exp(TOps.Subtract(v, maxVector)));
            }
            float sum = TOps.Sum(sums);
            int label = Unsafe.Add(ref buffers.Labels, r);
            if (smoothed)
            {
                // The portable kernel's order: mean_k -log p[k] = logSum - mean_k (logits[k] - max).
                float shiftedSum = 0f;
                for (int c = 0; c < classes; c++)
                    shiftedSum += Unsafe.Add(ref row, c) - max;
                Unsafe.Add(ref buffers.Loss, r) = MathF.Log(sum) - ((1f - labelSmoothing) * (Unsafe.Add(ref row, label) - max))
                    - (labelSmoothing * (shiftedSum / classes));
            }
            else
            {
                Unsafe.Add(ref buffers.Loss, r) = MathF.Log(sum) - (Unsafe.Add(ref row, label) - max);
            }
            Unsafe.Add(ref buffers.Prediction, r) = argmax;
            if (!buffers.WriteGradient)
                continue;
            TV inverseSum = TOps.Broadcast(1f / sum);
            ref float gradient = ref Unsafe.Add(ref buffers.DLogits, r * classes);
            for (int c = 0; c < classes; c += TOps.Lanes)
            {
                TV v = Simd.LoadPartial<TOps, TV>(ref Unsafe.Add(ref row, c), classes - c, float.NegativeInfinity);
                TV p = TOps.Multiply(TOps.Exp(TOps.Subtract(v, maxVector)), inverseSum);
                // p - target: the label's lane subtracts onTarget (1 without smoothing), the others offTarget.
                p = smoothed
                    ? TOps.AddAtLane(TOps.Subtract(p, offTargetVector), label - c, offTarget - onTarget)
                    : TOps.AddAtLane(p, label - c, -1f);
                Simd.StorePartial<TOps, TV>(TOps.Multiply(p, scale), ref Unsafe.Add(ref gradient, c), classes - c);
            }
        }
    }
}
