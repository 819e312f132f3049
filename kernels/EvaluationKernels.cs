// Evaluation reductions, run once per epoch (or per progress update), never per step.
//
// SumPartialsKernel: losses [count] float, predictions [count] int32, labels [count] uint8
//   gathered through order[count]. Thread p of `partialCount` sums elements p, p + P, p + 2P, ...
//   in index order and OVERWRITES lossPartials[p] (double) and correctPartials[p] (int). The host
//   adds the P partials in order, so the total is identical on every run of the same backend.
// ConfusionKernel: OVERWRITES confusion[t * classes + p] with the number of samples whose true
//   label is t and prediction is p. One thread per cell; no atomics.
using ILGPU;

namespace GpuMlp.Kernels;

public static class EvaluationKernels
{
    public static void SumPartialsKernel(
        ArrayView<float> losses, ArrayView<int> predictions, ArrayView<byte> labels,
        ArrayView<int> order, int first, int count, int partialCount,
        ArrayView<double> lossPartials, ArrayView<int> correctPartials)
    {
        int stride = Grid.DimX * Group.DimX;
        for (int p = Grid.GlobalIndex.X; p < partialCount; p += stride)
        {
            double loss = 0.0;
            int correct = 0;
            for (int i = p; i < count; i += partialCount)
            {
                loss += losses[i];
                if (predictions[i] == labels[order[first + i]])
                    correct++;
            }
            lossPartials[p] = loss;
            correctPartials[p] = correct;
        }
    }

    public static void ConfusionKernel(
        ArrayView<int> predictions, ArrayView<byte> labels, ArrayView<int> order,
        int first, int count, int classes, ArrayView<int> confusion)
    {
        int cells = classes * classes;
        int stride = Grid.DimX * Group.DimX;
        for (int cell = Grid.GlobalIndex.X; cell < cells; cell += stride)
        {
            int truth = cell / classes;
            int predicted = cell - truth * classes;
            int hits = 0;
            for (int i = 0; i < count; i++)
            {
                if (labels[order[first + i]] == truth && predictions[i] == predicted)
                    hits++;
            }
            confusion[cell] = hits;
        }
    }
}
