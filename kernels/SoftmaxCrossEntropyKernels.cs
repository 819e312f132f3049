// Softmax + categorical cross-entropy, fused forward and backward.
//
// Shapes: logits [rows, classes] row-major, labels [rows] int32.
// Per row r it OVERWRITES:
//   loss[first + r]       = -log softmax(logits[r])[label]   (stable: log-sum-exp around the max)
//   prediction[first + r] = argmax logits[r] (lowest index on ties)
//   dLogits[r, c]         = (softmax(logits[r])[c] - [c == label]) * gradientScale
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
        int first, ArrayView<float> loss, ArrayView<int> prediction)
    {
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
            loss[first + r] = logSum - (logits[rowStart + label] - max);
            prediction[first + r] = argmax;
            if (writeGradient != 0)
            {
                float inverseSum = 1f / sum;
                for (int c = 0; c < classes; c++)
                {
                    float p = XMath.Exp(logits[rowStart + c] - max) * inverseSum;
                    dLogits[rowStart + c] = (c == label ? p - 1f : p) * gradientScale;
                }
            }
        }
    }
}
