// Adam on the CPU accelerator: AdamOptimizer.AdamKernel with a SIMD loop.
//
// Shapes as in AdamOptimizer.cs: parameters, gradients, firstMoment, secondMoment hold `count`
// floats; parameters and both moments are UPDATED IN PLACE. The element range is split into
// contiguous runs of whole vectors, one per worker. Every operation is the portable kernel's, in
// its order (the L2 term g += weight_decay * p only when weight_decay != 0; add, multiply, divide
// and sqrt are IEEE lane-wise, no fused multiply-add), so the result is the same bits as
// AdamKernel on the CPU accelerator, on every path.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using ILGPU;

namespace GpuMlp.Kernels.Cpu;

public static class CpuAdamOptimizer
{
    [CpuOnlyKernel]
    public static void AdamSimdKernel(
        CpuSimdWidth width, ArrayView<float> parameters, ArrayView<float> gradients,
        ArrayView<float> firstMoment, ArrayView<float> secondMoment, int count, AdamStep step)
    {
        CpuAdamSimd.Run(Grid.GlobalIndex.X, Grid.DimX * Group.DimX, width, parameters, gradients,
            firstMoment, secondMoment, count, step);
    }
}

internal static class CpuAdamSimd
{
    [ILGPU.Frontend.External("gpumlp_cpu_adam")]
    public static void Run(
        int worker, int workers, CpuSimdWidth width, ArrayView<float> parameters, ArrayView<float> gradients,
        ArrayView<float> firstMoment, ArrayView<float> secondMoment, int count, AdamStep step)
    {
        Run(worker, workers, width, new State(ref Simd.Ref(parameters), ref Simd.Ref(gradients), ref Simd.Ref(firstMoment), ref Simd.Ref(secondMoment)),
            count, step);
    }

    internal static void Run(int worker, int workers, CpuSimdWidth width, in State state, int count, in AdamStep step)
    {
        switch (width)
        {
            case CpuSimdWidth.Vector512:
                Run<Vector512Ops, Vector512<float>>(worker, workers, state, count, step);
                break;
            case CpuSimdWidth.Vector256:
                Run<Vector256Ops, Vector256<float>>(worker, workers, state, count, step);
                break;
            default:
                Run<ScalarOps, float>(worker, workers, state, count, step);
                break;
        }
    }

    internal readonly ref struct State(ref float parameters, ref float gradients, ref float first, ref float second)
    {
        public readonly ref float Parameters = ref parameters;
        public readonly ref float Gradients = ref gradients;
        public readonly ref float First = ref first;
        public readonly ref float Second = ref second;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Run<TOps, TV>(int worker, int workers, in State state, int count, in AdamStep step)
        where TOps : struct, ISimdOps<TV>
        where TV : struct
    {
        TV beta1 = TOps.Broadcast(step.Beta1), oneMinusBeta1 = TOps.Broadcast(1f - step.Beta1);
        TV beta2 = TOps.Broadcast(step.Beta2), oneMinusBeta2 = TOps.Broadcast(1f - step.Beta2);
        TV correction1 = TOps.Broadcast(step.BiasCorrection1), correction2 = TOps.Broadcast(step.BiasCorrection2);
        TV learningRate = TOps.Broadcast(step.LearningRate), epsilon = TOps.Broadcast(step.Epsilon);
        bool decay = step.WeightDecay != 0f;
        TV weightDecay = TOps.Broadcast(step.WeightDecay);
        int vectors = (count + TOps.Lanes - 1) / TOps.Lanes;
        int end = Simd.RangeStart(vectors, worker + 1, workers);
        for (int v = Simd.RangeStart(vectors, worker, workers); v < end; v++)
        {
            int i = v * TOps.Lanes, left = count - i;
            ref float parameter = ref Unsafe.Add(ref state.Parameters, i);
            ref float first = ref Unsafe.Add(ref state.First, i);
            ref float second = ref Unsafe.Add(ref state.Second, i);
            TV p = Simd.LoadPartial<TOps, TV>(ref parameter, left, 0f);
            TV g = Simd.LoadPartial<TOps, TV>(ref Unsafe.Add(ref state.Gradients, i), left, 0f);
            if (decay)
                g = TOps.Add(g, TOps.Multiply(weightDecay, p));
            TV m = TOps.Add(TOps.Multiply(beta1, Simd.LoadPartial<TOps, TV>(ref first, left, 0f)), TOps.Multiply(oneMinusBeta1, g));
            TV s = TOps.Add(TOps.Multiply(beta2, Simd.LoadPartial<TOps, TV>(ref second, left, 0f)), TOps.Multiply(TOps.Multiply(oneMinusBeta2, g), g));
            Simd.StorePartial<TOps, TV>(m, ref first, left);
            Simd.StorePartial<TOps, TV>(s, ref second, left);
            TV denominator = TOps.Add(TOps.Sqrt(TOps.Divide(s, correction2)), epsilon);
            TV update = TOps.Divide(TOps.Multiply(learningRate, TOps.Divide(m, correction1)), denominator);
            Simd.StorePartial<TOps, TV>(TOps.Subtract(p, update), ref parameter, left);
        }
    }
}
