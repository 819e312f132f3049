// Adam (Kingma & Ba), bias-corrected, exactly as torch.optim.Adam without weight decay.
//
// Shapes: parameters, gradients, firstMoment, secondMoment are one flat buffer of `count`
// floats holding every layer's weights and biases, so one launch updates the whole model.
// parameters, firstMoment and secondMoment are UPDATED IN PLACE; gradients is read only.
// The bias corrections 1 - beta^t are computed on the host per step and passed in, which
// keeps the step counter off the device.
using ILGPU;
using ILGPU.Algorithms;

namespace GpuMlp.Kernels;

public struct AdamStep
{
    public float LearningRate;
    public float Beta1;
    public float Beta2;
    public float Epsilon;
    public float BiasCorrection1;
    public float BiasCorrection2;
}

public static class AdamOptimizer
{
    public static void AdamKernel(
        ArrayView<float> parameters, ArrayView<float> gradients,
        ArrayView<float> firstMoment, ArrayView<float> secondMoment, int count, AdamStep step)
    {
        int stride = Grid.DimX * Group.DimX;
        for (int i = Grid.GlobalIndex.X; i < count; i += stride)
        {
            float g = gradients[i];
            float m = step.Beta1 * firstMoment[i] + (1f - step.Beta1) * g;
            float v = step.Beta2 * secondMoment[i] + (1f - step.Beta2) * g * g;
            firstMoment[i] = m;
            secondMoment[i] = v;
            float denominator = XMath.Sqrt(v / step.BiasCorrection2) + step.Epsilon;
            parameters[i] -= step.LearningRate * (m / step.BiasCorrection1) / denominator;
        }
    }
}
