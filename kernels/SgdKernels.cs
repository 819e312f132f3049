// Stochastic gradient descent with optional momentum, dampening, Nesterov momentum and L2 weight
// decay, exactly as torch.optim.SGD (maximize off):
//
//   g = grad + wd * p                         (only when wd != 0)
//   b = g                                     (first step: the buffer is the gradient itself, undamped)
//   b = momentum * b + (1 - dampening) * g    (later steps)            } only when momentum != 0
//   g = nesterov ? g + momentum * b : b                                }
//   p = p - lr * g
//
// Shapes: parameters, gradients, momentumBuffer (torch's momentum_buffer) are flat buffers of
// `count` floats (every layer's weights and biases), so one launch updates the whole model.
// parameters and momentumBuffer are UPDATED IN PLACE (overwritten); gradients is read only. With
// momentum 0 the momentum buffer is neither read nor written (any view, e.g. one element, will do).
// Whether this is the first step is decided on the host (the optimiser's step counter).
using ILGPU;

namespace GpuMlp.Kernels;

public struct SgdStep
{
    public float LearningRate;
    public float Momentum;
    public float Dampening;
    public float WeightDecay;

    /// <summary>1: Nesterov momentum (g + momentum * b); 0: classical (b).</summary>
    public int Nesterov;

    /// <summary>1 on the optimiser's first step, when the momentum buffer starts as the gradient.</summary>
    public int FirstStep;
}

public static class SgdKernels
{
    public static void SgdKernel(
        ArrayView<float> parameters, ArrayView<float> gradients, ArrayView<float> momentumBuffer,
        int count, SgdStep step)
    {
        int stride = Grid.DimX * Group.DimX;
        for (int i = Grid.GlobalIndex.X; i < count; i += stride)
        {
            float p = parameters[i];
            float g = gradients[i];
            if (step.WeightDecay != 0f)
                g += step.WeightDecay * p;
            if (step.Momentum != 0f)
            {
                float b = step.FirstStep != 0
                    ? g
                    : step.Momentum * momentumBuffer[i] + (1f - step.Dampening) * g;
                momentumBuffer[i] = b;
                g = step.Nesterov != 0 ? g + step.Momentum * b : b;
            }
            parameters[i] = p - step.LearningRate * g;
        }
    }
}
