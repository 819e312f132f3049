// Stochastic gradient descent with optional momentum, dampening, Nesterov momentum and L2 weight
// decay, exactly as torch.optim.SGD (maximize off), run by OptimizerKernels.OptimizerStepKernel:
//
//   g = grad + wd * p                         (only when wd != 0)
//   b = g                                     (first step: the buffer is the gradient itself, undamped)
//   b = momentum * b + (1 - dampening) * g    (later steps)            } only when momentum != 0
//   g = nesterov ? g + momentum * b : b                                }
//   p = p - lr * g
//
// Shapes: parameters, gradients, state1 = momentumBuffer (torch's momentum_buffer) are flat buffers
// of `count` floats (every layer's weights and biases), so one launch updates the whole model;
// state2 and state3 are unused. parameters and momentumBuffer are UPDATED IN PLACE (overwritten);
// gradients is read only. With momentum 0 the momentum buffer is neither read nor written (any view,
// e.g. one element, will do). Whether this is the first step is decided on the host (the optimiser's
// step counter).
//
// The SIMD update (ApplySimd) does Apply's operations in its order, none fused, so it gives Apply's
// bits on every CpuSimdWidth; Apply's per-element conditions (weight decay, momentum, first step,
// Nesterov) depend only on the step's scalars, so ApplySimd tests them once per launch.
using System.Runtime.CompilerServices;
using GpuMlp.Kernels.Cpu;
using ILGPU;

namespace GpuMlp.Kernels;

/// <summary>One SGD step: g += wd * p (wd != 0); with momentum b = first step ? g : mu b + (1 - dampening) g,
/// g = nesterov ? g + mu b : b; p -= lr g.</summary>
public struct SgdStep : IOptimizerUpdate
{
    public float LearningRate;
    public float Momentum;
    public float Dampening;
    public float WeightDecay;

    /// <summary>1: Nesterov momentum (g + momentum * b); 0: classical (b).</summary>
    public int Nesterov;

    /// <summary>1 on the optimiser's first step, when the momentum buffer starts as the gradient.</summary>
    public int FirstStep;

    public readonly string Name => "SGD";

    /// <summary>Slot 1 momentumBuffer, with momentum only.</summary>
    public readonly string? StateName(int slot) => slot == 1 && Momentum != 0f ? "momentumBuffer" : null;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly void Apply(int index, ArrayView<float> parameters, ArrayView<float> gradients,
        ArrayView<float> state1, ArrayView<float> state2, ArrayView<float> state3)
    {
        ArrayView<float> momentumBuffer = state1;
        float p = parameters[index];
        float g = gradients[index];
        if (WeightDecay != 0f)
            g += WeightDecay * p;
        if (Momentum != 0f)
        {
            float b = FirstStep != 0
                ? g
                : Momentum * momentumBuffer[index] + (1f - Dampening) * g;
            momentumBuffer[index] = b;
            g = Nesterov != 0 ? g + Momentum * b : b;
        }
        parameters[index] = p - LearningRate * g;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public readonly void ApplySimd<TOps, TV>(int worker, int workers, in CpuOptimizerBuffers buffers, int count)
        where TOps : struct, ISimdOps<TV>
        where TV : struct
    {
        bool decay = WeightDecay != 0f, momentum = Momentum != 0f, firstStep = FirstStep != 0, nesterov = Nesterov != 0;
        TV weightDecay = TOps.Broadcast(WeightDecay), mu = TOps.Broadcast(Momentum);
        TV oneMinusDampening = TOps.Broadcast(1f - Dampening), learningRate = TOps.Broadcast(LearningRate);
        var (firstVector, end) = buffers.Range<TOps, TV>(worker, workers, count);
        for (int v = firstVector; v < end; v++)
        {
            int i = v * TOps.Lanes, left = count - i;
            ref float parameter = ref Unsafe.Add(ref buffers.Parameters, i);
            TV p = Simd.LoadPartial<TOps, TV>(ref parameter, left, 0f);
            TV g = Simd.LoadPartial<TOps, TV>(ref Unsafe.Add(ref buffers.Gradients, i), left, 0f);
            if (decay)
                g = TOps.Add(g, TOps.Multiply(weightDecay, p));
            if (momentum)
            {
                ref float buffer = ref Unsafe.Add(ref buffers.State1, i);
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
