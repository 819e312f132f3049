// RMSprop (Hinton; centered variant from Graves 2013), exactly as torch.optim.RMSprop
// (maximize off). eps is added OUTSIDE the square root, as torch does (TensorFlow adds it inside):
//
//   g  = grad + wd * p                          (only when wd != 0)
//   v  = alpha * v + (1 - alpha) * g^2          (square_avg)
//   ga = alpha * ga + (1 - alpha) * g           (grad_avg; centered only)
//   d  = sqrt(centered ? v - ga^2 : v) + eps
//   b  = momentum * b + g / d;  p = p - lr * b  (momentum > 0; momentum_buffer starts at 0)
//   p  = p - lr * g / d                         (momentum = 0)
//
// Shapes: parameters, gradients, squareAverage, momentumBuffer, gradientAverage are flat buffers
// of `count` floats (every layer's weights and biases), so one launch updates the whole model.
// parameters and the state buffers in use are UPDATED IN PLACE (overwritten); gradients is read
// only. momentumBuffer is untouched when momentum is 0 and gradientAverage when not centered (any
// view, e.g. one element, will do for them then).
using ILGPU;
using ILGPU.Algorithms;

namespace GpuMlp.Kernels;

public struct RmspropStep
{
    public float LearningRate;
    public float Alpha;
    public float Epsilon;
    public float WeightDecay;
    public float Momentum;

    /// <summary>1: centered (divide by an estimate of the gradient's variance); 0: plain.</summary>
    public int Centered;
}

public static class RmspropKernels
{
    public static void RmspropKernel(
        ArrayView<float> parameters, ArrayView<float> gradients, ArrayView<float> squareAverage,
        ArrayView<float> momentumBuffer, ArrayView<float> gradientAverage, int count, RmspropStep step)
    {
        int stride = Grid.DimX * Group.DimX;
        for (int i = Grid.GlobalIndex.X; i < count; i += stride)
        {
            float p = parameters[i];
            float g = gradients[i];
            if (step.WeightDecay != 0f)
                g += step.WeightDecay * p;
            float v = step.Alpha * squareAverage[i] + (1f - step.Alpha) * g * g;
            squareAverage[i] = v;
            if (step.Centered != 0)
            {
                float ga = step.Alpha * gradientAverage[i] + (1f - step.Alpha) * g;
                gradientAverage[i] = ga;
                v -= ga * ga;
            }
            float scaled = g / (XMath.Sqrt(v) + step.Epsilon);
            if (step.Momentum > 0f)
            {
                float b = step.Momentum * momentumBuffer[i] + scaled;
                momentumBuffer[i] = b;
                scaled = b;
            }
            parameters[i] = p - step.LearningRate * scaled;
        }
    }
}
