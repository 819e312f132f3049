// Adam (Kingma & Ba) and AdamW (Loshchilov & Hutter), bias-corrected, exactly as torch.optim.Adam
// and torch.optim.AdamW (amsgrad off, maximize off).
//
// Shapes: parameters, gradients, firstMoment (torch's exp_avg), secondMoment (exp_avg_sq) are one
// flat buffer of `count` floats holding every layer's weights and biases, so one launch updates the
// whole model. parameters, firstMoment and secondMoment are UPDATED IN PLACE (overwritten with the
// new values); gradients is read only. The bias corrections 1 - beta^t (and AdamW's decay factor
// 1 - lr * weight_decay) are computed on the host per step and passed in, which keeps the step
// counter off the device.
//
// Weight decay: Adam adds it to the gradient as an L2 term (g += wd * p, before the moments, as
// torch.optim.Adam's weight_decay); AdamW decays the parameter itself before the Adam step
// (p *= 1 - lr * wd) and leaves the gradient alone. With weight decay 0 Adam's arithmetic is the
// original kernel's, operation for operation, so its results are unchanged bit for bit.
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

    /// <summary>L2 penalty added to the gradient (torch.optim.Adam's weight_decay); 0 skips it.</summary>
    public float WeightDecay;
}

public struct AdamWStep
{
    public float LearningRate;
    public float Beta1;
    public float Beta2;
    public float Epsilon;
    public float BiasCorrection1;
    public float BiasCorrection2;

    /// <summary>1 - lr * weight_decay for this step's lr: every parameter is multiplied by it first.</summary>
    public float DecayFactor;
}

public static class AdamKernels
{
    public static void AdamKernel(
        ArrayView<float> parameters, ArrayView<float> gradients,
        ArrayView<float> firstMoment, ArrayView<float> secondMoment, int count, AdamStep step)
    {
        int stride = Grid.DimX * Group.DimX;
        for (int i = Grid.GlobalIndex.X; i < count; i += stride)
        {
            float g = gradients[i];
            if (step.WeightDecay != 0f)
                g += step.WeightDecay * parameters[i];
            float m = step.Beta1 * firstMoment[i] + (1f - step.Beta1) * g;
            float v = step.Beta2 * secondMoment[i] + (1f - step.Beta2) * g * g;
            firstMoment[i] = m;
            secondMoment[i] = v;
            float denominator = XMath.Sqrt(v / step.BiasCorrection2) + step.Epsilon;
            parameters[i] -= step.LearningRate * (m / step.BiasCorrection1) / denominator;
        }
    }

    public static void AdamWKernel(
        ArrayView<float> parameters, ArrayView<float> gradients,
        ArrayView<float> firstMoment, ArrayView<float> secondMoment, int count, AdamWStep step)
    {
        int stride = Grid.DimX * Group.DimX;
        for (int i = Grid.GlobalIndex.X; i < count; i += stride)
        {
            float g = gradients[i];
            float p = parameters[i] * step.DecayFactor;
            float m = step.Beta1 * firstMoment[i] + (1f - step.Beta1) * g;
            float v = step.Beta2 * secondMoment[i] + (1f - step.Beta2) * g * g;
            firstMoment[i] = m;
            secondMoment[i] = v;
            float denominator = XMath.Sqrt(v / step.BiasCorrection2) + step.Epsilon;
            parameters[i] = p - step.LearningRate * (m / step.BiasCorrection1) / denominator;
        }
    }
}
