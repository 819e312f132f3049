using GpuMlp.Compute;
using GpuMlp.Metrics;
using ILGPU;
using ILGPU.Runtime;

namespace GpuMlp.Training;

/// <summary>Loss, accuracy and confusion of one evaluation pass.</summary>
public sealed record EvaluationResult(double Loss, ClassificationReport Report)
{
    public double Accuracy => Report.Accuracy;
}

/// <summary>Per-sample loss and prediction buffers of one pass (a training epoch or an
/// evaluation) and their on-device reductions; used by the trainer and by `gpumlp eval`.</summary>
public sealed class Evaluator : IDisposable
{
    private readonly DeviceKernels kernels;
    private readonly LayerNetwork network;
    private readonly MemoryBuffer1D<float, Stride1D.Dense> sampleLoss;
    private readonly MemoryBuffer1D<int, Stride1D.Dense> samplePrediction;
    private readonly MemoryBuffer1D<double, Stride1D.Dense> lossPartials;
    private readonly MemoryBuffer1D<int, Stride1D.Dense> correctPartials;
    private readonly MemoryBuffer1D<int, Stride1D.Dense> confusion;

    public Evaluator(KernelDevice device, LayerNetwork network, int maxSamples)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(network);
        var kernels = device.Kernels;
        this.kernels = kernels;
        this.network = network;
        var accelerator = kernels.Accelerator;
        try
        {
            sampleLoss = accelerator.Allocate1D<float>(Math.Max(1, maxSamples));
            samplePrediction = accelerator.Allocate1D<int>(Math.Max(1, maxSamples));
            lossPartials = accelerator.Allocate1D<double>(kernels.PartialCount);
            correctPartials = accelerator.Allocate1D<int>(kernels.PartialCount);
            int classes = network.Classes;
            confusion = accelerator.Allocate1D<int>(classes * classes);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>Device bytes an evaluator allocates: per-sample loss and prediction for
    /// <paramref name="maxSamples"/> samples, <paramref name="partialSums"/> loss and correct-count
    /// partial sums (DeviceKernels.PartialCount) and the classes x classes confusion matrix.</summary>
    public static long DeviceBytes(int maxSamples, int classes, int partialSums) =>
        ((sizeof(float) + sizeof(int)) * (long)Math.Max(1, maxSamples))
        + ((sizeof(double) + sizeof(int)) * (long)partialSums)
        + (sizeof(int) * (long)classes * classes);

    public ArrayView<float> SampleLoss => sampleLoss.View;
    public ArrayView<int> SamplePrediction => samplePrediction.View;

    /// <summary>Mean loss and accuracy of samples [0, count) of the current pass, whose labels are
    /// labels[order[first + i]].</summary>
    public (double Loss, double Accuracy) Reduce(ArrayView<byte> labels, ArrayView<int> order, int first, int count)
    {
        kernels.SumPartials(sampleLoss.View, samplePrediction.View, labels, order, first, count,
            lossPartials.View, correctPartials.View);
        double[] losses = lossPartials.GetAsArray1D();
        int[] correct = correctPartials.GetAsArray1D();
        double lossSum = 0;
        long correctSum = 0;
        for (int p = 0; p < losses.Length; p++)
        {
            lossSum += losses[p];
            correctSum += correct[p];
        }
        return (lossSum / count, (double)correctSum / count);
    }

    /// <summary>Forward-only pass (no dropout) over samples [first, first + count) of a split,
    /// `batchRows` rows per launch.</summary>
    public EvaluationResult Evaluate(DeviceImageSet split, int first, int count, int batchRows)
    {
        if (count < 1)
            throw new ArgumentOutOfRangeException(nameof(count), "nothing to evaluate");
        int classes = network.Classes;
        batchRows = Math.Min(batchRows, network.MaxRows);
        // Nothing is read back until every batch is done: on the CPU SIMD kernels one fused launch.
        using (kernels.FuseLaunches())
        {
            for (int done = 0; done < count; done += batchRows)
            {
                int rows = Math.Min(batchRows, count - done);
                kernels.Gather(split.Images, split.Labels, split.Identity, first + done, rows, network.Inputs, network.Input, network.Labels);
                network.Forward(rows, training: false, 0, 0);
                network.Loss(rows, writeGradient: false, done, sampleLoss.View, samplePrediction.View);
            }
        }
        var (loss, _) = Reduce(split.Labels, split.Identity, first, count);
        kernels.Confusion(samplePrediction.View, split.Labels, split.Identity, first, count, classes, confusion.View);
        int[] cells = confusion.GetAsArray1D();
        var matrix = new long[classes, classes];
        for (int t = 0; t < classes; t++)
            for (int p = 0; p < classes; p++)
                matrix[t, p] = cells[t * classes + p];
        return new EvaluationResult(loss, ClassificationReport.FromConfusion(matrix));
    }

    /// <summary>Class probabilities for host images (each Inputs floats in [0, 1]), computed by
    /// the forward kernels; softmax of the logits on the host.</summary>
    public float[][] Predict(IReadOnlyList<float[]> images)
    {
        int inputs = network.Inputs, classes = network.Classes;
        var result = new float[images.Count][];
        for (int start = 0; start < images.Count; start += network.MaxRows)
        {
            int rows = Math.Min(network.MaxRows, images.Count - start);
            var input = new float[rows * inputs];
            for (int r = 0; r < rows; r++)
            {
                if (images[start + r].Length != inputs)
                    throw new ArgumentException($"image {start + r} has {images[start + r].Length} values, the model takes {inputs}");
                images[start + r].CopyTo(input, r * inputs);
            }
            HostCopy.ToDevice(network.Input, input, input.Length);
            network.Forward(rows, training: false, 0, 0);
            var logits = new float[rows * classes];
            HostCopy.ToHost(network.Logits, logits, logits.Length);
            for (int r = 0; r < rows; r++)
            {
                var row = logits.AsSpan(r * classes, classes);
                float max = float.NegativeInfinity;
                foreach (float v in row)
                    max = Math.Max(max, v);
                double sum = 0;
                foreach (float v in row)
                    sum += Math.Exp(v - max);
                result[start + r] = row.ToArray().Select(v => (float)(Math.Exp(v - max) / sum)).ToArray();
            }
        }
        return result;
    }

    public void Dispose()
    {
        // Null-conditional: a constructor that failed part-way disposes what it had allocated.
        sampleLoss?.Dispose();
        samplePrediction?.Dispose();
        lossPartials?.Dispose();
        correctPartials?.Dispose();
        confusion?.Dispose();
    }
}
