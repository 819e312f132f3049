// RMSprop (Hinton; centered variant from Graves 2013), exactly as torch.optim.RMSprop
// (maximize off), run by OptimizerKernels.OptimizerStepKernel. eps is added OUTSIDE the square root,
// as torch does (TensorFlow adds it inside):
//
//   g  = grad + wd * p                          (only when wd != 0)
//   v  = alpha * v + (1 - alpha) * g^2          (square_avg)
//   ga = alpha * ga + (1 - alpha) * g           (grad_avg; centered only)
//   d  = sqrt(centered ? v - ga^2 : v) + eps
//   b  = momentum * b + g / d;  p = p - lr * b  (momentum > 0; momentum_buffer starts at 0)
//   p  = p - lr * g / d                         (momentum = 0)
//
// Shapes: parameters, gradients, state1 = squareAverage, state2 = momentumBuffer, state3 =
// gradientAverage are flat buffers of `count` floats (every layer's weights and biases), so one
// launch updates the whole model. parameters and the state buffers in use are UPDATED IN PLACE
// (overwritten); gradients is read only. momentumBuffer is untouched when momentum is 0 and
// gradientAverage when not centered (any view, e.g. one element, will do for them then).
//
// The SIMD update (ApplySimd) does Apply's operations in its order, none fused, so it gives Apply's
// bits on every CpuSimdWidth; Apply's per-element conditions (weight decay, centered, momentum)
// depend only on the step's scalars, so ApplySimd tests them once per launch.
using System.Runtime.CompilerServices;
using GpuMlp.Kernels.Cpu;
using ILGPU;
using ILGPU.Algorithms;

namespace GpuMlp.Kernels;

/// <summary>One RMSprop step: g += wd * p (wd != 0); v = a v + (1 - a) g g; centered: ga = a ga + (1 - a) g,
/// v -= ga ga; s = g / (sqrt(v) + eps); momentum &gt; 0: b = mu b + s, s = b; p -= lr s.</summary>
public struct RmspropStep : IOptimizerUpdate
{
    public float LearningRate;
    public float Alpha;
    public float Epsilon;
    public float WeightDecay;
    public float Momentum;

    /// <summary>1: centered (divide by an estimate of the gradient's variance); 0: plain.</summary>
    public int Centered;

    public readonly string Name => "RMSprop";

    /// <summary>Slot 1 squareAverage; slot 2 momentumBuffer with momentum; slot 3 gradientAverage when centered.</summary>
    public readonly string? StateName(int slot) => slot switch
    {
        1 => "squareAverage",
        2 when Momentum > 0f => "momentumBuffer",
        3 when Centered != 0 => "gradientAverage",
        _ => null,
    };

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly void Apply(int index, ArrayView<float> parameters, ArrayView<float> gradients,
        ArrayView<float> state1, ArrayView<float> state2, ArrayView<float> state3)
    {
        ArrayView<float> squareAverage = state1, momentumBuffer = state2, gradientAverage = state3;
        float p = parameters[index];
        float g = gradients[index];
        if (WeightDecay != 0f)
            g += WeightDecay * p;
        float v = Alpha * squareAverage[index] + (1f - Alpha) * g * g;
        squareAverage[index] = v;
        if (Centered != 0)
        {
            float ga = Alpha * gradientAverage[index] + (1f - Alpha) * g;
            gradientAverage[index] = ga;
            v -= ga * ga;
        }
        float scaled = g / (XMath.Sqrt(v) + Epsilon);
        if (Momentum > 0f)
        {
            float b = Momentum * momentumBuffer[index] + scaled;
            momentumBuffer[index] = b;
            scaled = b;
        }
        parameters[index] = p - LearningRate * scaled;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public readonly void ApplySimd<TOps, TV>(int worker, int workers, in CpuOptimizerBuffers buffers, int count)
        where TOps : struct, ISimdOps<TV>
        where TV : struct
    {
        bool decay = WeightDecay != 0f, centered = Centered != 0, momentum = Momentum > 0f;
        TV weightDecay = TOps.Broadcast(WeightDecay), alpha = TOps.Broadcast(Alpha), oneMinusAlpha = TOps.Broadcast(1f - Alpha);
        TV epsilon = TOps.Broadcast(Epsilon), mu = TOps.Broadcast(Momentum), learningRate = TOps.Broadcast(LearningRate);
        var (firstVector, end) = buffers.Range<TOps, TV>(worker, workers, count);
        for (int v = firstVector; v < end; v++)
        {
            int i = v * TOps.Lanes, left = count - i;
            ref float parameter = ref Unsafe.Add(ref buffers.Parameters, i);
            ref float square = ref Unsafe.Add(ref buffers.State1, i);
            TV p = Simd.LoadPartial<TOps, TV>(ref parameter, left, 0f);
            TV g = Simd.LoadPartial<TOps, TV>(ref Unsafe.Add(ref buffers.Gradients, i), left, 0f);
            if (decay)
                g = TOps.Add(g, TOps.Multiply(weightDecay, p));
            TV s = TOps.Add(TOps.Multiply(alpha, Simd.LoadPartial<TOps, TV>(ref square, left, 0f)), TOps.Multiply(TOps.Multiply(oneMinusAlpha, g), g));
            Simd.StorePartial<TOps, TV>(s, ref square, left);
            if (centered)
            {
                ref float average = ref Unsafe.Add(ref buffers.State3, i);
                TV ga = TOps.Add(TOps.Multiply(alpha, Simd.LoadPartial<TOps, TV>(ref average, left, 0f)), TOps.Multiply(oneMinusAlpha, g));
                Simd.StorePartial<TOps, TV>(ga, ref average, left);
                s = TOps.Subtract(s, TOps.Multiply(ga, ga));
            }
            TV scaled = TOps.Divide(g, TOps.Add(TOps.Sqrt(s), epsilon));
            if (momentum)
            {
                ref float buffer = ref Unsafe.Add(ref buffers.State2, i);
                TV b = TOps.Add(TOps.Multiply(mu, Simd.LoadPartial<TOps, TV>(ref buffer, left, 0f)), scaled);
                Simd.StorePartial<TOps, TV>(b, ref buffer, left);
                scaled = b;
            }
            Simd.StorePartial<TOps, TV>(TOps.Subtract(p, TOps.Multiply(learningRate, scaled)), ref parameter, left);
        }
    }
}
