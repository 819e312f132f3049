// Adam (Kingma & Ba) and AdamW (Loshchilov & Hutter), bias-corrected, exactly as torch.optim.Adam
// and torch.optim.AdamW (amsgrad off, maximize off), run by OptimizerKernels.OptimizerStepKernel.
//
// Shapes: parameters, gradients, state1 = firstMoment (torch's exp_avg), state2 = secondMoment
// (exp_avg_sq) are one flat buffer of `count` floats holding every layer's weights and biases, so one
// launch updates the whole model; state3 is unused. parameters, firstMoment and secondMoment are
// UPDATED IN PLACE (overwritten with the new values); gradients is read only. The bias corrections
// 1 - beta^t (and AdamW's decay factor 1 - lr * weight_decay) are computed on the host per step and
// passed in, which keeps the step counter off the device.
//
// Weight decay: Adam adds it to the gradient as an L2 term (g += wd * p, before the moments, as
// torch.optim.Adam's weight_decay); AdamW decays the parameter itself before the Adam step
// (p *= 1 - lr * wd) and leaves the gradient alone. With weight decay 0 Adam's arithmetic is the
// original kernel's, operation for operation, so its results are unchanged bit for bit.
//
// The SIMD updates (ApplySimd) do Apply's operations in its order: add, subtract, multiply, divide
// and sqrt are IEEE lane-wise and no multiply-add is fused, so they give Apply's bits on every
// CpuSimdWidth. Apply's per-element condition (weight decay != 0) depends only on the step's
// scalars, so ApplySimd tests it once per launch.
using System.Runtime.CompilerServices;
using GpuMlp.Kernels.Cpu;
using ILGPU;
using ILGPU.Algorithms;

namespace GpuMlp.Kernels;

/// <summary>One Adam step: g += wd * p (wd != 0); m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g g;
/// p -= lr (m / c1) / (sqrt(v / c2) + eps).</summary>
public struct AdamStep : IOptimizerUpdate
{
    public float LearningRate;
    public float Beta1;
    public float Beta2;
    public float Epsilon;
    public float BiasCorrection1;
    public float BiasCorrection2;

    /// <summary>L2 penalty added to the gradient (torch.optim.Adam's weight_decay); 0 skips it.</summary>
    public float WeightDecay;

    public readonly string Name => "Adam";

    public readonly string? StateName(int slot) => AdamMoments.StateName(slot);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly void Apply(int index, ArrayView<float> parameters, ArrayView<float> gradients,
        ArrayView<float> state1, ArrayView<float> state2, ArrayView<float> state3)
    {
        float g = gradients[index];
        if (WeightDecay != 0f)
            g += WeightDecay * parameters[index];
        parameters[index] = AdamMoments.Step(state1, state2, index, g, parameters[index],
            Beta1, Beta2, BiasCorrection1, BiasCorrection2, LearningRate, Epsilon);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public readonly void ApplySimd<TOps, TV>(int worker, int workers, in CpuOptimizerBuffers buffers, int count)
        where TOps : struct, ISimdOps<TV>
        where TV : struct
    {
        var moments = new AdamMoments.Vectors<TOps, TV>(Beta1, Beta2, BiasCorrection1, BiasCorrection2, LearningRate, Epsilon);
        bool decay = WeightDecay != 0f;
        TV weightDecay = TOps.Broadcast(WeightDecay);
        var (firstVector, end) = buffers.Range<TOps, TV>(worker, workers, count);
        for (int v = firstVector; v < end; v++)
        {
            int i = v * TOps.Lanes, left = count - i;
            ref float parameter = ref Unsafe.Add(ref buffers.Parameters, i);
            TV p = Simd.LoadPartial<TOps, TV>(ref parameter, left, 0f);
            TV g = Simd.LoadPartial<TOps, TV>(ref Unsafe.Add(ref buffers.Gradients, i), left, 0f);
            if (decay)
                g = TOps.Add(g, TOps.Multiply(weightDecay, p));
            TV updated = moments.Step(ref Unsafe.Add(ref buffers.State1, i), ref Unsafe.Add(ref buffers.State2, i), left, g, p);
            Simd.StorePartial<TOps, TV>(updated, ref parameter, left);
        }
    }
}

/// <summary>One AdamW step: p' = p * decayFactor; m, v as Adam (gradient undecayed);
/// p = p' - lr (m / c1) / (sqrt(v / c2) + eps).</summary>
public struct AdamWStep : IOptimizerUpdate
{
    public float LearningRate;
    public float Beta1;
    public float Beta2;
    public float Epsilon;
    public float BiasCorrection1;
    public float BiasCorrection2;

    /// <summary>1 - lr * weight_decay for this step's lr: every parameter is multiplied by it first.</summary>
    public float DecayFactor;

    public readonly string Name => "AdamW";

    public readonly string? StateName(int slot) => AdamMoments.StateName(slot);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly void Apply(int index, ArrayView<float> parameters, ArrayView<float> gradients,
        ArrayView<float> state1, ArrayView<float> state2, ArrayView<float> state3)
    {
        parameters[index] = AdamMoments.Step(state1, state2, index, gradients[index], parameters[index] * DecayFactor,
            Beta1, Beta2, BiasCorrection1, BiasCorrection2, LearningRate, Epsilon);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public readonly void ApplySimd<TOps, TV>(int worker, int workers, in CpuOptimizerBuffers buffers, int count)
        where TOps : struct, ISimdOps<TV>
        where TV : struct
    {
        var moments = new AdamMoments.Vectors<TOps, TV>(Beta1, Beta2, BiasCorrection1, BiasCorrection2, LearningRate, Epsilon);
        TV decayFactor = TOps.Broadcast(DecayFactor);
        var (firstVector, end) = buffers.Range<TOps, TV>(worker, workers, count);
        for (int v = firstVector; v < end; v++)
        {
            int i = v * TOps.Lanes, left = count - i;
            ref float parameter = ref Unsafe.Add(ref buffers.Parameters, i);
            TV g = Simd.LoadPartial<TOps, TV>(ref Unsafe.Add(ref buffers.Gradients, i), left, 0f);
            TV p = TOps.Multiply(Simd.LoadPartial<TOps, TV>(ref parameter, left, 0f), decayFactor);
            TV updated = moments.Step(ref Unsafe.Add(ref buffers.State1, i), ref Unsafe.Add(ref buffers.State2, i), left, g, p);
            Simd.StorePartial<TOps, TV>(updated, ref parameter, left);
        }
    }
}

/// <summary>What Adam and AdamW share: their state slots and their SIMD moment update.</summary>
internal static class AdamMoments
{
    /// <summary>Slot 1 firstMoment (exp_avg), slot 2 secondMoment (exp_avg_sq), slot 3 unused.</summary>
    public static string? StateName(int slot) => slot switch
    {
        1 => "firstMoment",
        2 => "secondMoment",
        _ => null,
    };

    /// <summary>One element's moment update and parameter step, for Adam's and AdamW's portable
    /// Apply (the scalar twin of <see cref="Vectors{TOps, TV}.Step"/>): m = b1 m + (1 - b1) g and
    /// v = b2 v + (1 - b2) g g overwrite the moments at <paramref name="index"/>; returns
    /// p - lr (m / c1) / (sqrt(v / c2) + eps).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Step(ArrayView<float> firstMoment, ArrayView<float> secondMoment, int index, float g, float p,
        float beta1, float beta2, float correction1, float correction2, float learningRate, float epsilon)
    {
        float m = beta1 * firstMoment[index] + (1f - beta1) * g;
        float v = beta2 * secondMoment[index] + (1f - beta2) * g * g;
        firstMoment[index] = m;
        secondMoment[index] = v;
        float denominator = XMath.Sqrt(v / correction2) + epsilon;
        return p - learningRate * (m / correction1) / denominator;
    }

    /// <summary>The moment update and parameter step, in Apply's order: m = b1 m + (1 - b1) g;
    /// v = b2 v + (1 - b2) g g (both stored); returns p - lr (m / c1) / (sqrt(v / c2) + eps).</summary>
    public readonly struct Vectors<TOps, TV>
        where TOps : struct, ISimdOps<TV>
        where TV : struct
    {
        private readonly TV beta1, oneMinusBeta1, beta2, oneMinusBeta2, correction1, correction2, learningRate, epsilon;

        public Vectors(float beta1, float beta2, float correction1, float correction2, float learningRate, float epsilon)
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
}
