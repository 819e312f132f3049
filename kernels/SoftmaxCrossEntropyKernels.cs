// Softmax + categorical cross-entropy, fused forward and backward, with optional label smoothing
// (torch's CrossEntropyLoss(label_smoothing=ε)).
//
// Shapes: logits [rows, classes] row-major, labels [rows] int32.
// Per row r it OVERWRITES (ε = labelSmoothing, K = classes, p = softmax(logits[r])):
//   loss[first + r]       = -(1 - ε) log p[label] - ε mean_k log p[k]   (stable: log-sum-exp around the max)
//   prediction[first + r] = argmax logits[r] (lowest index on ties)
//   dLogits[r, c]         = (p[c] - target[c]) * gradientScale, target = (1 - ε) [c == label] + ε / K
// With ε = 0 this is plain cross-entropy, computed by the same operations as before smoothing
// existed (the smoothing terms are skipped, not multiplied by zero), so its bits are unchanged.
// gradientScale is 1 / batch rows, so dLogits is already the gradient of the batch MEAN loss;
// pass writeGradient = 0 for evaluation (dLogits untouched). `first` places the per-row results
// inside a per-epoch buffer, so the epoch's loss and accuracy are reduced on the device later
// without any atomics.
using ILGPU;
using ILGPU.Algorithms;

namespace GpuMlp.Kernels;

public static class SoftmaxCrossEntropyKernels
{
    public static void SoftmaxCrossEntropyKernel(
        ArrayView<float> logits, ArrayView<int> labels, int rows, int classes,
        float gradientScale, int writeGradient, ArrayView<float> dLogits,
        int first, ArrayView<float> loss, ArrayView<int> prediction, float labelSmoothing)
    {
        // The smoothed target: offTarget for every class, onTarget for the label.
        float offTarget = labelSmoothing / classes;
        float onTarget = 1f - labelSmoothing + offTarget;
        int stride = Grid.DimX * Group.DimX;
        for (int r = Grid.GlobalIndex.X; r < rows; r += stride)
        {
            int rowStart = r * classes;
            float max = logits[rowStart];
            int argmax = 0;
            for (int c = 1; c < classes; c++)
            {
                float v = logits[rowStart + c];
                if (v > max)
                {
                    max = v;
                    argmax = c;
                }
            }
            float sum = 0f;
            for (int c = 0; c < classes; c++)
                sum += XMath.Exp(logits[rowStart + c] - max);
            float logSum = XMath.Log(sum);
            int label = labels[r];
            if (labelSmoothing != 0f)
            {
                // mean_k -log p[k] = logSum - mean_k (logits[k] - max).
                float shiftedSum = 0f;
                for (int c = 0; c < classes; c++)
                    shiftedSum += logits[rowStart + c] - max;
                loss[first + r] = logSum - ((1f - labelSmoothing) * (logits[rowStart + label] - max)) - (labelSmoothing * (shiftedSum / classes));
            }
            else
            {
                loss[first + r] = logSum - (logits[rowStart + label] - max);
            }
            prediction[first + r] = argmax;
            if (writeGradient != 0)
            {
                float inverseSum = 1f / sum;
                for (int c = 0; c < classes; c++)
                {
                    float p = XMath.Exp(logits[rowStart + c] - max) * inverseSum;
                    float d = labelSmoothing != 0f ? p - (c == label ? onTarget : offTarget) : (c == label ? p - 1f : p);
                    dLogits[rowStart + c] = d * gradientScale;
                }
            }
        }
    }
}
