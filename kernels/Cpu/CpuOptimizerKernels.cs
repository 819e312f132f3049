// The optimisers on the CPU accelerator: AdamKernels.AdamKernel and AdamWKernel,
// SgdKernels.SgdKernel and RmspropKernels.RmspropKernel with SIMD loops.
//
// Shapes as in kernels/AdamKernels.cs, SgdKernels.cs and RmspropKernels.cs: parameters,
// gradients and every state buffer in use hold `count` floats (the whole model's flat buffer);
// parameters and the state buffers in use are UPDATED IN PLACE (overwritten), gradients is read
// only, nothing accumulates across launches. State buffers a configuration does not use (SGD's
// momentum buffer with momentum 0, RMSprop's momentum buffer with momentum 0 and grad_avg when not
// centered) are neither read nor written, so a one-element placeholder will do for them.
//
// The element range is split into contiguous runs of whole vectors, one per worker (the last vector
// partial, loaded and stored lane by lane). Every operation is the portable kernel's, in its order:
// add, subtract, multiply, divide and sqrt are IEEE lane-wise and no multiply-add is fused, so the
// result is the same bits as the portable kernel on the CPU accelerator, on every CpuSimdWidth. The
// portable kernels' per-element conditions (weight decay != 0, momentum, first step, Nesterov,
// centered) depend only on the step's scalars, so here they are tested once per launch and the
// vector loop runs the chosen branch for every element.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using ILGPU;

namespace GpuMlp.Kernels.Cpu;

public static class CpuOptimizerKernels
{
    [CpuOnlyKernel]
    public static void AdamSimdKernel(
        CpuSimdWidth width, ArrayView<float> parameters, ArrayView<float> gradients,
        ArrayView<float> firstMoment, ArrayView<float> secondMoment, int count, AdamStep step)
    {
        CpuOptimizerSimd.Adam(Grid.GlobalIndex.X, Grid.DimX * Group.DimX, width, parameters, gradients,
            firstMoment, secondMoment, count, step);
    }

    [CpuOnlyKernel]
    public static void AdamWSimdKernel(
        CpuSimdWidth width, ArrayView<float> parameters, ArrayView<float> gradients,
        ArrayView<float> firstMoment, ArrayView<float> secondMoment, int count, AdamWStep step)
    {
        CpuOptimizerSimd.AdamW(Grid.GlobalIndex.X, Grid.DimX * Group.DimX, width, parameters, gradients,
            firstMoment, secondMoment, count, step);
    }

    [CpuOnlyKernel]
    public static void SgdSimdKernel(
        CpuSimdWidth width, ArrayView<float> parameters, ArrayView<float> gradients,
        ArrayView<float> momentumBuffer, int count, SgdStep step)
    {
        CpuOptimizerSimd.Sgd(Grid.GlobalIndex.X, Grid.DimX * Group.DimX, width, parameters, gradients,
            momentumBuffer, count, step);
    }

    [CpuOnlyKernel]
    public static void RmspropSimdKernel(
        CpuSimdWidth width, ArrayView<float> parameters, ArrayView<float> gradients, ArrayView<float> squareAverage,
        ArrayView<float> momentumBuffer, ArrayView<float> gradientAverage, int count, RmspropStep step)
    {
        CpuOptimizerSimd.Rmsprop(Grid.GlobalIndex.X, Grid.DimX * Group.DimX, width, parameters, gradients,
            squareAverage, momentumBuffer, gradientAverage, count, step);
    }
}

internal static class CpuOptimizerSimd
{
    /// <summary>An optimiser's buffers: the parameters, the gradients and up to three state buffers,
    /// in the order of the kernel's parameters (Adam, AdamW: first, second moment; SGD: momentum
    /// buffer; RMSprop: square average, momentum buffer, gradient average). Unused ones may be any
    /// reference (never dereferenced).</summary>
    internal readonly ref struct State(ref float parameters, ref float gradients, ref float state0, ref float state1, ref float state2)
    {
        public readonly ref float Parameters = ref parameters;
        public readonly ref float Gradients = ref gradients;
        public readonly ref float State0 = ref state0;
        public readonly ref float State1 = ref state1;
        public readonly ref float State2 = ref state2;
    }

    [ILGPU.Frontend.External("gpumlp_cpu_adam")]
    public static void Adam(
        int worker, int workers, CpuSimdWidth width, ArrayView<float> parameters, ArrayView<float> gradients,
        ArrayView<float> firstMoment, ArrayView<float> secondMoment, int count, AdamStep step) =>
        Run<AdamUpdate, AdamStep>(worker, workers, width, new State(ref Simd.Ref(parameters), ref Simd.Ref(gradients),
            ref Simd.Ref(firstMoment), ref Simd.Ref(secondMoment), ref Unsafe.NullRef<float>()), count, step);

    [ILGPU.Frontend.External("gpumlp_cpu_adamw")]
    public static void AdamW(
        int worker, int workers, CpuSimdWidth width, ArrayView<float> parameters, ArrayView<float> gradients,
        ArrayView<float> firstMoment, ArrayView<float> secondMoment, int count, AdamWStep step) =>
        Run<AdamWUpdate, AdamWStep>(worker, workers, width, new State(ref Simd.Ref(parameters), ref Simd.Ref(gradients),
            ref Simd.Ref(firstMoment), ref Simd.Ref(secondMoment), ref Unsafe.NullRef<float>()), count, step);

    [ILGPU.Frontend.External("gpumlp_cpu_sgd")]
    public static void Sgd(
        int worker, int workers, CpuSimdWidth width, ArrayView<float> parameters, ArrayView<float> gradients,
        ArrayView<float> momentumBuffer, int count, SgdStep step) =>
        Run<SgdUpdate, SgdStep>(worker, workers, width, new State(ref Simd.Ref(parameters), ref Simd.Ref(gradients),
            ref Simd.Ref(momentumBuffer), ref Unsafe.NullRef<float>(), ref Unsafe.NullRef<float>()), count, step);

    [ILGPU.Frontend.External("gpumlp_cpu_rmsprop")]
    public static void Rmsprop(
        int worker, int workers, CpuSimdWidth width, ArrayView<float> parameters, ArrayView<float> gradients,
        ArrayView<float> squareAverage, ArrayView<float> momentumBuffer, ArrayView<float> gradientAverage, int count, RmspropStep step) =>
        Run<RmspropUpdate, RmspropStep>(worker, workers, width, new State(ref Simd.Ref(parameters), ref Simd.Ref(gradients),
            ref Simd.Ref(squareAverage), ref Simd.Ref(momentumBuffer), ref Simd.Ref(gradientAverage)), count, step);

    /// <summary>One optimiser's update of this worker's share of the `count` elements, at one width.</summary>
    internal interface IUpdate<TStep>
        where TStep : struct
    {
        static abstract void Run<TOps, TV>(int worker, int workers, in State state, int count, in TStep step)
            where TOps : struct, ISimdOps<TV>
            where TV : struct;
    }

    /// <summary>Runs TUpdate at `width` (CpuProgram calls this with the command's operands).</summary>
    internal static void Run<TUpdate, TStep>(int worker, int workers, CpuSimdWidth width, in State state, int count, in TStep step)
        where TUpdate : IUpdate<TStep>
        where TStep : struct
    {
        switch (width)
        {
            case CpuSimdWidth.Vector512:
                TUpdate.Run<Vector512Ops, Vector512<float>>(worker, workers, state, count, step);
                break;
            case CpuSimdWidth.Vector256:
                TUpdate.Run<Vector256Ops, Vector256<float>>(worker, workers, state, count, step);
                break;
            case CpuSimdWidth.Scalar:
                TUpdate.Run<ScalarOps, float>(worker, workers, state, count, step);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(width), width, "not a CPU SIMD width");
        }
    }

    /// <summary>This worker's vectors [first, end) of the ceil(count / Lanes) vectors.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (int First, int End) Range<TOps, TV>(int worker, int workers, int count)
        where TOps : struct, ISimdOps<TV>
        where TV : struct
    {
        int vectors = (count + TOps.Lanes - 1) / TOps.Lanes;
        return (Simd.RangeStart(vectors, worker, workers), Simd.RangeStart(vectors, worker + 1, workers));
    }

    /// <summary>The moment update and parameter step Adam and AdamW share, in the portable kernels'
    /// order: m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g g (both stored); returns
    /// p - lr (m / c1) / (sqrt(v / c2) + eps).</summary>
    private readonly struct AdamMoments<TOps, TV>
        where TOps : struct, ISimdOps<TV>
        where TV : struct
    {
        private readonly TV beta1, oneMinusBeta1, beta2, oneMinusBeta2, correction1, correction2, learningRate, epsilon;

        public AdamMoments(float beta1, float beta2, float correction1, float correction2, float learningRate, float epsilon)
        {
            this.beta1 = TOps.Broadcast(beta1);
            oneMinusBeta1 = TOps.Broadcast(1f - beta1);
            this.beta2 = TOps.Broadcast(beta2);
            oneMinusBeta2 = TOps.Broadcast(1f - beta2);
            this.correction1 = TOps.Broadcast(correction1);
            this.correction2 = TOps.Broadcast(correction2);
            this.learningRate = TOps.Broadcast(learningRate);
            this.epsilon = TOps.Broadcast(epsilon);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public TV Step(ref float first, ref float second, int left, TV g, TV p)
        {
            TV m = TOps.Add(TOps.Multiply(beta1, Simd.LoadPartial<TOps, TV>(ref first, left, 0f)), TOps.Multiply(oneMinusBeta1, g));
            TV s = TOps.Add(TOps.Multiply(beta2, Simd.LoadPartial<TOps, TV>(ref second, left, 0f)), TOps.Multiply(TOps.Multiply(oneMinusBeta2, g), g));
            Simd.StorePartial<TOps, TV>(m, ref first, left);
            Simd.StorePartial<TOps, TV>(s, ref second, left);
            TV denominator = TOps.Add(TOps.Sqrt(TOps.Divide(s, correction2)), epsilon);
            TV update = TOps.Divide(TOps.Multiply(learningRate, TOps.Divide(m, correction1)), denominator);
            return TOps.Subtract(p, update);
        }
    }

    /// <summary>AdamKernel: g += wd * p (wd != 0); m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g g;
    /// p -= lr (m / c1) / (sqrt(v / c2) + eps).</summary>
    internal readonly struct AdamUpdate : IUpdate<AdamStep>
    {
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public static void Run<TOps, TV>(int worker, int workers, in State state, int count, in AdamStep step)
            where TOps : struct, ISimdOps<TV>
            where TV : struct
        {
            var moments = new AdamMoments<TOps, TV>(step.Beta1, step.Beta2, step.BiasCorrection1, step.BiasCorrection2, step.LearningRate, step.Epsilon);
            bool decay = step.WeightDecay != 0f;
            TV weightDecay = TOps.Broadcast(step.WeightDecay);
            var (firstVector, end) = Range<TOps, TV>(worker, workers, count);
            for (int v = firstVector; v < end; v++)
            {
                int i = v * TOps.Lanes, left = count - i;
                ref float parameter = ref Unsafe.Add(ref state.Parameters, i);
                TV p = Simd.LoadPartial<TOps, TV>(ref parameter, left, 0f);
                TV g = Simd.LoadPartial<TOps, TV>(ref Unsafe.Add(ref state.Gradients, i), left, 0f);
                if (decay)
                    g = TOps.Add(g, TOps.Multiply(weightDecay, p));
                TV updated = moments.Step(ref Unsafe.Add(ref state.State0, i), ref Unsafe.Add(ref state.State1, i), left, g, p);
                Simd.StorePartial<TOps, TV>(updated, ref parameter, left);
            }
        }
    }

    /// <summary>AdamWKernel: p' = p * decayFactor; m, v as Adam (gradient undecayed);
    /// p = p' - lr (m / c1) / (sqrt(v / c2) + eps).</summary>
    internal readonly struct AdamWUpdate : IUpdate<AdamWStep>
    {
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public static void Run<TOps, TV>(int worker, int workers, in State state, int count, in AdamWStep step)
            where TOps : struct, ISimdOps<TV>
            where TV : struct
        {
            var moments = new AdamMoments<TOps, TV>(step.Beta1, step.Beta2, step.BiasCorrection1, step.BiasCorrection2, step.LearningRate, step.Epsilon);
            TV decayFactor = TOps.Broadcast(step.DecayFactor);
            var (firstVector, end) = Range<TOps, TV>(worker, workers, count);
            for (int v = firstVector; v < end; v++)
            {
                int i = v * TOps.Lanes, left = count - i;
                ref float parameter = ref Unsafe.Add(ref state.Parameters, i);
                TV g = Simd.LoadPartial<TOps, TV>(ref Unsafe.Add(ref state.Gradients, i), left, 0f);
                TV p = TOps.Multiply(Simd.LoadPartial<TOps, TV>(ref parameter, left, 0f), decayFactor);
                TV updated = moments.Step(ref Unsafe.Add(ref state.State0, i), ref Unsafe.Add(ref state.State1, i), left, g, p);
                Simd.StorePartial<TOps, TV>(updated, ref parameter, left);
            }
        }
    }

    /// <summary>SgdKernel: g += wd * p (wd != 0); with momentum b = first step ? g : mu b + (1 - dampening) g,
    /// g = nesterov ? g + mu b : b; p -= lr g.</summary>
    internal readonly struct SgdUpdate : IUpdate<SgdStep>
    {
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public static void Run<TOps, TV>(int worker, int workers, in State state, int count, in SgdStep step)
            where TOps : struct, ISimdOps<TV>
            where TV : struct
        {
            bool decay = step.WeightDecay != 0f, momentum = step.Momentum != 0f, firstStep = step.FirstStep != 0, nesterov = step.Nesterov != 0;
            TV weightDecay = TOps.Broadcast(step.WeightDecay), mu = TOps.Broadcast(step.Momentum);
            TV oneMinusDampening = TOps.Broadcast(1f - step.Dampening), learningRate = TOps.Broadcast(step.LearningRate);
            var (firstVector, end) = Range<TOps, TV>(worker, workers, count);
            for (int v = firstVector; v < end; v++)
            {
                int i = v * TOps.Lanes, left = count - i;
                ref float parameter = ref Unsafe.Add(ref state.Parameters, i);
                TV p = Simd.LoadPartial<TOps, TV>(ref parameter, left, 0f);
                TV g = Simd.LoadPartial<TOps, TV>(ref Unsafe.Add(ref state.Gradients, i), left, 0f);
                if (decay)
                    g = TOps.Add(g, TOps.Multiply(weightDecay, p));
                if (momentum)
                {
                    ref float buffer = ref Unsafe.Add(ref state.State0, i);
                    TV b = firstStep
                        ? g
                        : TOps.Add(TOps.Multiply(mu, Simd.LoadPartial<TOps, TV>(ref buffer, left, 0f)), TOps.Multiply(oneMinusDampening, g));
                    Simd.StorePartial<TOps, TV>(b, ref buffer, left);
                    g = nesterov ? TOps.Add(g, TOps.Multiply(mu, b)) : b;
                }
                Simd.StorePartial<TOps, TV>(TOps.Subtract(p, TOps.Multiply(learningRate, g)), ref parameter, left);
            }
        }
    }

    /// <summary>RmspropKernel: g += wd * p (wd != 0); v = a v + (1 - a) g g; centered: ga = a ga + (1 - a) g,
    /// v -= ga ga; s = g / (sqrt(v) + eps); momentum &gt; 0: b = mu b + s, s = b; p -= lr s.</summary>
    internal readonly struct RmspropUpdate : IUpdate<RmspropStep>
    {
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public static void Run<TOps, TV>(int worker, int workers, in State state, int count, in RmspropStep step)
            where TOps : struct, ISimdOps<TV>
            where TV : struct
        {
            bool decay = step.WeightDecay != 0f, centered = step.Centered != 0, momentum = step.Momentum > 0f;
            TV weightDecay = TOps.Broadcast(step.WeightDecay), alpha = TOps.Broadcast(step.Alpha), oneMinusAlpha = TOps.Broadcast(1f - step.Alpha);
            TV epsilon = TOps.Broadcast(step.Epsilon), mu = TOps.Broadcast(step.Momentum), learningRate = TOps.Broadcast(step.LearningRate);
            var (firstVector, end) = Range<TOps, TV>(worker, workers, count);
            for (int v = firstVector; v < end; v++)
            {
                int i = v * TOps.Lanes, left = count - i;
                ref float parameter = ref Unsafe.Add(ref state.Parameters, i);
                ref float square = ref Unsafe.Add(ref state.State0, i);
                TV p = Simd.LoadPartial<TOps, TV>(ref parameter, left, 0f);
                TV g = Simd.LoadPartial<TOps, TV>(ref Unsafe.Add(ref state.Gradients, i), left, 0f);
                if (decay)
                    g = TOps.Add(g, TOps.Multiply(weightDecay, p));
                TV s = TOps.Add(TOps.Multiply(alpha, Simd.LoadPartial<TOps, TV>(ref square, left, 0f)), TOps.Multiply(TOps.Multiply(oneMinusAlpha, g), g));
                Simd.StorePartial<TOps, TV>(s, ref square, left);
                if (centered)
                {
                    ref float average = ref Unsafe.Add(ref state.State2, i);
                    TV ga = TOps.Add(TOps.Multiply(alpha, Simd.LoadPartial<TOps, TV>(ref average, left, 0f)), TOps.Multiply(oneMinusAlpha, g));
                    Simd.StorePartial<TOps, TV>(ga, ref average, left);
                    s = TOps.Subtract(s, TOps.Multiply(ga, ga));
                }
                TV scaled = TOps.Divide(g, TOps.Add(TOps.Sqrt(s), epsilon));
                if (momentum)
                {
                    ref float buffer = ref Unsafe.Add(ref state.State1, i);
                    TV b = TOps.Add(TOps.Multiply(mu, Simd.LoadPartial<TOps, TV>(ref buffer, left, 0f)), scaled);
                    Simd.StorePartial<TOps, TV>(b, ref buffer, left);
                    scaled = b;
                }
                Simd.StorePartial<TOps, TV>(TOps.Subtract(p, TOps.Multiply(learningRate, scaled)), ref parameter, left);
            }
        }
    }
}
