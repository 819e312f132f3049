using System.Diagnostics;
using GpuMlp.Compute;
using GpuMlp.Data;
using GpuMlp.Kernels;
using GpuMlp.Metrics;
using GpuMlp.Runs;
using ILGPU;
using ILGPU.Runtime;

namespace GpuMlp.Training;

/// <summary>Running figures for a progress display; Loss/Accuracy are null between read-backs.</summary>
public readonly record struct TrainingProgress(int Epoch, int SamplesDone, int SamplesPerEpoch, double? Loss, double? Accuracy, double SamplesPerSecond);

/// <summary>Runs the epochs: uploads the data once, keeps everything on the device, shuffles
/// from the seed, and reads back only per-epoch (and a few progress) reductions.</summary>
public sealed class Trainer : IDisposable
{
    private readonly MlpKernels kernels;
    private readonly TrainingOptions options;
    private readonly DeviceDataset train;
    private readonly DeviceDataset test;
    private readonly DeviceMnist? ownedData;
    private readonly MemoryBuffer1D<int, Stride1D.Dense> order;
    // Per-sample results of the current pass (training epoch or evaluation), reduced on the
    // device without atomics.
    private readonly Evaluator evaluator;

    /// <summary>Uploads the dataset for this trainer alone.</summary>
    public Trainer(ComputeDevice device, MlpKernels kernels, MnistDataset data, TrainingOptions options)
        : this(device, kernels, Upload(device, data, options), options)
    {
        ownedData = SharedData;
    }

    /// <summary>Trains on a dataset already on the device (shared, not disposed here).</summary>
    public Trainer(ComputeDevice device, MlpKernels kernels, DeviceMnist data, TrainingOptions options)
    {
        this.kernels = kernels;
        this.options = options;
        SharedData = data;
        options.Validate(data.Train.Count);
        int available = Math.Min(data.Train.Count, options.LimitTrain ?? int.MaxValue);
        TrainCount = options.TrainCount(available);
        ValidationCount = options.ValidationCount(available);
        var accelerator = device.Accelerator;
        train = data.Train;
        test = data.Test;
        long needed = DeviceBytes(options, available, test.Count);
        // The CPU accelerator reports long.MaxValue: the host's allocator is the judge there.
        if (!device.IsCpu)
            EnsureFits(needed, accelerator.MemorySize);
        try
        {
            Shape = NetworkShape.Mnist(options.Hidden);
            Network = new MlpNetwork(kernels, Shape, Math.Max(options.BatchSize, options.EvaluationBatchSize));
            Network.SetParameters(Shape.InitialParameters(options.Seed));
            LearningRate = options.LearningRate;
            order = accelerator.Allocate1D<int>(TrainCount);
            int perSample = Math.Max(available, test.Count);
            evaluator = new Evaluator(kernels, Network, perSample);
        }
        catch (Exception error) when (error is ILGPU.Runtime.AcceleratorException or OutOfMemoryException)
        {
            Network?.Dispose();
            order?.Dispose();
            throw OutOfMemory(needed, accelerator.MemorySize, error);
        }
    }

    /// <summary>Device bytes a trainer allocates on top of the uploaded dataset: parameters,
    /// gradients and both Adam moments; input, activations and deltas for the largest batch;
    /// per-sample loss/prediction and the epoch order.</summary>
    public static long DeviceBytes(TrainingOptions options, int trainImages, int testImages)
    {
        var shape = NetworkShape.Mnist(options.Hidden);
        long rows = Math.Max(options.BatchSize, options.EvaluationBatchSize);
        long activations = shape.Widths.Skip(1).Sum(w => (long)w) * 2 + shape.Inputs + 1;
        return 4L * (4L * shape.ParameterCount + rows * activations + 3L * Math.Max(trainImages, testImages));
    }

    /// <summary>Refuses a run whose buffers cannot fit before anything is allocated.</summary>
    internal static void EnsureFits(long needed, long available)
    {
        if (needed > available)
            throw OutOfMemory(needed, available, null);
    }

    private static DeviceOutOfMemoryException OutOfMemory(long needed, long available, Exception? inner)
    {
        string message = $"the device ran out of memory: this run needs about {needed / (1024 * 1024)} MiB besides the dataset and the device has {available / (1024 * 1024)} MiB; try a smaller --batch-size or --hidden";
        return inner is null ? new DeviceOutOfMemoryException(message) : new DeviceOutOfMemoryException(message, inner);
    }

    private static DeviceMnist Upload(ComputeDevice device, MnistDataset data, TrainingOptions options)
    {
        options.Validate(data.TrainImages.Count);
        return new DeviceMnist(device.Accelerator, data);
    }

    public NetworkShape Shape { get; }

    /// <summary>The uploaded dataset this trainer reads (owned only when the trainer uploaded it).</summary>
    public DeviceMnist SharedData { get; }

    /// <summary>The Adam learning rate of the next steps (a schedule changes it per epoch).</summary>
    public float LearningRate { get; set; }
    public MlpNetwork Network { get; }
    public int TrainCount { get; }
    public int ValidationCount { get; }
    public int StepsPerEpoch => (TrainCount + options.BatchSize - 1) / options.BatchSize;

    /// <summary>The epoch's sample order: a Fisher-Yates shuffle from (seed, epoch). The generator
    /// seed is mixed with the dropout hash, not HashCode, whose seed changes every process.</summary>
    public static int[] EpochOrder(int count, int seed, int epoch)
    {
        var indices = Enumerable.Range(0, count).ToArray();
        var random = new Random((int)(DropoutLayer.Mix((uint)seed ^ DropoutLayer.Mix((uint)epoch + 0x5eedU)) & int.MaxValue));
        for (int i = count - 1; i > 0; i--)
        {
            int j = random.Next(i + 1);
            (indices[i], indices[j]) = (indices[j], indices[i]);
        }
        return indices;
    }

    /// <summary>Steps of the current epoch completed when the last TrainEpoch call was cancelled
    /// (0 when it was cancelled before its first step or not at all).</summary>
    public int StepsDoneWhenCancelled { get; private set; }

    /// <summary>Samples covered by the first `steps` steps of an epoch.</summary>
    public int SamplesAfter(int steps) => Math.Min(TrainCount, steps * options.BatchSize);

    /// <summary>The per-sample loss and prediction of the current epoch's first `samples`
    /// samples (for a mid-epoch checkpoint).</summary>
    public (float[] Loss, int[] Prediction) EpochSamples(int samples)
    {
        var loss = new float[samples];
        var prediction = new int[samples];
        if (samples > 0)
        {
            evaluator.SampleLoss.SubView(0, samples).CopyToCPU(ref loss[0], samples);
            evaluator.SamplePrediction.SubView(0, samples).CopyToCPU(ref prediction[0], samples);
        }
        return (loss, prediction);
    }

    /// <summary>Trains one epoch (1-based) and returns its record (validation included). With
    /// startStep &gt; 0 it continues an epoch interrupted after that many steps, whose per-sample
    /// results so far are given (from a mid-epoch checkpoint). Cancellation is checked between
    /// steps, so a step is never cut in half.</summary>
    public EpochRecord TrainEpoch(int epoch, Action<TrainingProgress>? progress = null, CancellationToken cancel = default,
        int startStep = 0, float[]? doneLoss = null, int[]? donePrediction = null)
    {
        var watch = Stopwatch.StartNew();
        int[] epochOrder = EpochOrder(TrainCount, options.Seed, epoch);
        order.View.CopyFromCPU(ref epochOrder[0], TrainCount);
        int steps = StepsPerEpoch;
        if (startStep < 0 || startStep >= steps)
            throw new ArgumentOutOfRangeException(nameof(startStep), startStep, $"an epoch has {steps} steps");
        if (startStep > 0)
        {
            int done = SamplesAfter(startStep);
            if (doneLoss is null || donePrediction is null || doneLoss.Length != done || donePrediction.Length != done)
                throw new ArgumentException($"continuing after step {startStep} needs the {done} per-sample results so far");
            evaluator.SampleLoss.SubView(0, done).CopyFromCPU(ref doneLoss[0], done);
            evaluator.SamplePrediction.SubView(0, done).CopyFromCPU(ref donePrediction[0], done);
        }
        StepsDoneWhenCancelled = 0;
        int updateEvery = Math.Max(1, steps / Math.Max(1, options.ProgressUpdatesPerEpoch));
        for (int step = startStep; step < steps; step++)
        {
            if (cancel.IsCancellationRequested)
            {
                StepsDoneWhenCancelled = step;
                cancel.ThrowIfCancellationRequested();
            }
            int first = step * options.BatchSize;
            int rows = Math.Min(options.BatchSize, TrainCount - first);
            TrainStep(first, rows);
            int done = first + rows;
            if (progress is not null)
            {
                bool readBack = (step + 1) % updateEvery == 0 && step + 1 < steps;
                double? loss = null, accuracy = null;
                if (readBack)
                    (loss, accuracy) = Reduce(train.Labels, order.View, 0, done);
                progress(new TrainingProgress(epoch, done, TrainCount, loss, accuracy, (done - SamplesAfter(startStep)) / watch.Elapsed.TotalSeconds));
            }
        }
        var (trainLoss, trainAccuracy) = Reduce(train.Labels, order.View, 0, TrainCount);
        double trainSeconds = watch.Elapsed.TotalSeconds;
        double? valLoss = null, valAccuracy = null;
        if (ValidationCount > 0)
        {
            var validation = Evaluate(train, TrainCount, ValidationCount);
            valLoss = validation.Loss;
            valAccuracy = validation.Accuracy;
        }
        int trained = TrainCount - SamplesAfter(startStep);
        progress?.Invoke(new TrainingProgress(epoch, TrainCount, TrainCount, trainLoss, trainAccuracy, trained / trainSeconds));
        return new EpochRecord(epoch, trainLoss, trainAccuracy, valLoss, valAccuracy, watch.Elapsed.TotalSeconds, trained / trainSeconds);
    }

    /// <summary>One optimisation step on order[first .. first + rows); no host synchronisation.</summary>
    private void TrainStep(int first, int rows)
    {
        uint step = (uint)Network.AdamSteps;
        kernels.Gather(train.Images, train.Labels, order.View, first, rows, Shape.Inputs, Network.Input, Network.Labels);
        Network.Forward(rows, options.Dropout, (uint)options.Seed, step);
        Network.Loss(rows, writeGradient: true, first, evaluator.SampleLoss, evaluator.SamplePrediction);
        Network.Backward(rows, options.Dropout);
        Network.AdamUpdate(LearningRate);
    }

    private (double Loss, double Accuracy) Reduce(ArrayView<byte> labels, ArrayView<int> sampleOrder, int first, int count) =>
        evaluator.Reduce(labels, sampleOrder, first, count);

    private EvaluationResult Evaluate(DeviceDataset split, int first, int count) =>
        evaluator.Evaluate(split, first, count, options.EvaluationBatchSize);

    public EvaluationResult EvaluateTest() => Evaluate(test, 0, test.Count);

    public EvaluationResult EvaluateValidation() => Evaluate(train, TrainCount, ValidationCount);

    public void Dispose()
    {
        Network.Dispose();
        ownedData?.Dispose();
        order.Dispose();
        evaluator.Dispose();
    }
}
