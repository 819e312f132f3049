using System.Diagnostics;
using GpuMlp.Compute;
using GpuMlp.Data;
using GpuMlp.Kernels;
using GpuMlp.Runs;
using ILGPU;
using ILGPU.Runtime;

namespace GpuMlp.Training;

/// <summary>Running figures for a progress display; Loss/Accuracy are null between read-backs.</summary>
public readonly record struct TrainingProgress(int Epoch, int SamplesDone, int SamplesPerEpoch, double? Loss, double? Accuracy, double SamplesPerSecond);

/// <summary>The first <paramref name="Steps"/> steps of epoch <paramref name="Epoch"/> (1-based):
/// the per-sample loss and prediction of the samples they covered (in the epoch's order), which
/// is what finishing the epoch later needs to report the same loss and accuracy as an
/// uninterrupted one.</summary>
public sealed record PartialEpoch(int Epoch, int Steps, float[] SampleLoss, int[] SamplePrediction);

/// <summary>Training stopped between two steps because cancellation was requested. Partial holds
/// the interrupted epoch so far, or null when none of its steps had been taken.</summary>
public sealed class TrainingInterruptedException : OperationCanceledException
{
    public TrainingInterruptedException(int epoch, PartialEpoch? partial, CancellationToken token)
        : base($"training interrupted in epoch {epoch}", token)
    {
        Epoch = epoch;
        Partial = partial;
    }

    public int Epoch { get; }
    public PartialEpoch? Partial { get; }
}

/// <summary>Runs the epochs: keeps the network, the optimizer state and the epoch order on the
/// device, shuffles from the seed, and reads back only per-epoch (and a few progress) reductions.</summary>
public sealed class Trainer : IDisposable
{
    private readonly DeviceKernels kernels;
    private readonly TrainingOptions options;
    private readonly DeviceImageSet train;
    private readonly DeviceImageSet test;
    private readonly DeviceImageDataset? ownedData;
    private readonly MemoryBuffer1D<int, Stride1D.Dense> order;
    // --ema: the weights' moving average, and room for the live weights while the average is
    // evaluated (null without --ema).
    private readonly MemoryBuffer1D<float, Stride1D.Dense>? average;
    private readonly MemoryBuffer1D<float, Stride1D.Dense>? liveWeights;
    // Per-sample results of the current pass (training epoch or evaluation), reduced on the
    // device without atomics.
    private readonly Evaluator evaluator;
    // With distortion: the kernels' description of it (its Step set per step) and the elastic
    // field's workspace [BatchSize, 2, H + 2R, W] (null without elastic distortion).
    private readonly DistortionShape distortion;
    private readonly MemoryBuffer1D<float, Stride1D.Dense>? elasticField;

    /// <summary>Uploads the dataset for this trainer alone (disposed with it).</summary>
    public Trainer(KernelDevice device, ImageDataset data, TrainingOptions options)
        : this(device, Upload(device, data, options), ownsData: true, options)
    {
    }

    /// <summary>Trains on a dataset already on the device (shared, not disposed here).</summary>
    public Trainer(KernelDevice device, DeviceImageDataset data, TrainingOptions options)
        : this(device, data, ownsData: false, options)
    {
    }

    /// <summary>Everything allocated here, and the dataset when owned, is freed again when any
    /// step fails (an invalid option, a device too small, an allocation failure).</summary>
    private Trainer(KernelDevice device, DeviceImageDataset data, bool ownsData, TrainingOptions options)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(options);
        var kernels = device.Kernels;
        this.kernels = kernels;
        this.options = options;
        SharedData = data;
        ownedData = ownsData ? data : null;
        var accelerator = device.Device.Accelerator;
        long needed = 0;
        try
        {
            // The settings are the caller's to validate (TrainingOptions.Validate, once, where they
            // come in); what depends on this dataset is checked here whatever the caller did.
            options.CheckDataset(data.Schema, data.Train.Count);
            int available = Math.Min(data.Train.Count, options.LimitTrain ?? int.MaxValue);
            TrainCount = options.TrainCount(available);
            ValidationCount = options.ValidationCount(available);
            train = data.Train;
            test = data.Test;
            needed = DeviceBytes(options, data.Schema, available, test.Count, kernels.PartialCount);
            // The CPU accelerator reports long.MaxValue: the host's allocator is the judge there.
            if (!device.Device.IsCpu)
                EnsureFits(needed, accelerator.MemorySize, data.UploadedBytes);
            Architecture = options.Network(data.Schema);
            Network = new LayerNetwork(kernels, Architecture, MaxRows(options, Architecture));
            Network.SetParameters(Architecture.InitialParameters(options.Seed));
            if (options.AugmentShift > 0)
                kernels.LoadAugmentation();
            if (options.IsDistorted)
            {
                distortion = options.Distortion!.KernelShape(data.Schema.Shape, options.AugmentShift, (uint)options.Seed, 0);
                if (distortion.FieldPerRow > 0)
                    elasticField = accelerator.Allocate1D<float>(options.BatchSize * distortion.FieldPerRow);
                kernels.LoadDistortion();
            }
            Optimizer = new DeviceOptimizer(kernels, OptimizerFor(options), Architecture.ParameterCount);
            LearningRate = options.Optimizer.LearningRate;
            order = accelerator.Allocate1D<int>(TrainCount);
            if (options.EmaDecay is not null)
            {
                // timm's ModelEmaV2: the average starts as a copy of the initial weights.
                average = accelerator.Allocate1D<float>(Architecture.ParameterCount);
                liveWeights = accelerator.Allocate1D<float>(Architecture.ParameterCount);
                average.View.CopyFrom(Network.Parameters);
            }
            evaluator = new Evaluator(device, Network, Math.Max(available, test.Count));
        }
        catch (Exception error)
        {
            Dispose();
            if (error is ILGPU.Runtime.AcceleratorException or OutOfMemoryException)
                throw OutOfMemory(needed, accelerator.MemorySize, error, data.UploadedBytes);
            throw;
        }
    }

    /// <summary>Rows the network holds buffers for: a training batch or an evaluation batch.</summary>
    private static int MaxRows(TrainingOptions options, Architecture network) =>
        Math.Max(options.BatchSize, options.EvaluationRows(network));

    /// <summary>The optimiser training uses: the options' kind and hyperparameters at their learning
    /// rate (a schedule passes each epoch's or step's rate to every step), with OneCycle's cycled
    /// beta1/momentum starting at its max (<see cref="TrainingOptions.EffectiveOptimizer"/>).</summary>
    public static OptimizerSettings OptimizerFor(TrainingOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return options.EffectiveOptimizer;
    }

    /// <summary>Device bytes a trainer allocates on top of the uploaded dataset, summed from what
    /// each owner reports: the network, the optimizer state, the evaluator (per-sample results
    /// for the larger split) and the epoch order. <paramref name="availableImages"/> is the
    /// training file's size (before --limit-train); <paramref name="partialSums"/> is
    /// DeviceKernels.PartialCount; the network is the options' for a dataset of <paramref name="schema"/>.</summary>
    public static long DeviceBytes(TrainingOptions options, ImageSchema schema, int availableImages, int testImages, int partialSums)
    {
        ArgumentNullException.ThrowIfNull(options);
        var network = options.Network(schema);
        int available = Math.Min(availableImages, options.LimitTrain ?? int.MaxValue);
        return LayerNetwork.DeviceBytes(network, MaxRows(options, network))
            + DeviceOptimizer.DeviceBytesFor(OptimizerFor(options), network.ParameterCount)
            + Evaluator.DeviceBytes(Math.Max(available, testImages), network.Classes, partialSums)
            + (sizeof(int) * (long)options.TrainCount(available))
            + (options.EmaDecay is null ? 0 : 2L * sizeof(float) * network.ParameterCount)
            + ElasticFieldBytes(options, schema);
    }

    /// <summary>The elastic field's workspace: 2 (H + 2R) W floats per batch row (0 without elastic distortion).</summary>
    private static long ElasticFieldBytes(TrainingOptions options, ImageSchema schema) =>
        options.Distortion is { HasElastic: true } distortion
            ? sizeof(float) * 2L * (schema.Shape.Height + 2 * distortion.ElasticRadius) * schema.Shape.Width * options.BatchSize
            : 0;

    /// <summary>Refuses a run whose buffers cannot fit before anything is allocated.</summary>
    /// <param name="datasetBytes">What the uploaded dataset already holds of <paramref name="available"/>.</param>
    internal static void EnsureFits(long needed, long available, long datasetBytes = 0)
    {
        if (needed > available - datasetBytes)
            throw OutOfMemory(needed, available, null, datasetBytes);
    }

    private static DeviceOutOfMemoryException OutOfMemory(long needed, long available, Exception? inner, long datasetBytes = 0)
    {
        string dataset = datasetBytes > 0 ? $" ({datasetBytes / (1024 * 1024)} MiB)" : "";
        string message = $"the device ran out of memory: this run needs about {needed / (1024 * 1024)} MiB besides the dataset{dataset} and the device has {available / (1024 * 1024)} MiB; try a smaller --batch-size, --hidden or --arch";
        return inner is null ? new DeviceOutOfMemoryException(message) : new DeviceOutOfMemoryException(message, inner);
    }

    private static DeviceImageDataset Upload(KernelDevice device, ImageDataset data, TrainingOptions options)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(data);
        options.CheckDataset(data.Schema, data.Train.Count);
        return new DeviceImageDataset(device.Device.Accelerator, data);
    }

    /// <summary>The layer stack trained (the MLP's is dense,relu,dropout,...,dense).</summary>
    public Architecture Architecture { get; } = null!;

    /// <summary>How progress lines name the network: the MLP's widths (inputs-hidden...-classes) or the stack's text.</summary>
    public string NetworkName => options.NetworkName(Architecture);

    /// <summary>The uploaded dataset this trainer reads (owned only when the trainer uploaded it).</summary>
    public DeviceImageDataset SharedData { get; }

    /// <summary>The images' shape and the class names the network is built for.</summary>
    public ImageSchema Schema => SharedData.Schema;

    /// <summary>The learning rate of the next steps (a per-epoch schedule changes it per epoch); under a
    /// per-step schedule, the rate of the last step taken.</summary>
    public float LearningRate { get; set; }
    public LayerNetwork Network { get; } = null!;
    public DeviceOptimizer Optimizer { get; } = null!;
    public int TrainCount { get; }
    public int ValidationCount { get; }
    public int StepsPerEpoch => (TrainCount + options.BatchSize - 1) / options.BatchSize;

    /// <summary>The epoch's sample order: a Fisher-Yates shuffle from (seed, epoch). The generator
    /// seed is CounterHash.EpochSeed(seed, epoch) (kernels/CounterHash.cs), not HashCode, whose
    /// seed changes every process.</summary>
    public static int[] EpochOrder(int count, int seed, int epoch)
    {
        var indices = Enumerable.Range(0, count).ToArray();
        var random = new Random(CounterHash.EpochSeed(seed, epoch));
        for (int i = count - 1; i > 0; i--)
        {
            int j = random.Next(i + 1);
            (indices[i], indices[j]) = (indices[j], indices[i]);
        }
        return indices;
    }

    /// <summary>Samples covered by the first `steps` steps of an epoch.</summary>
    public int SamplesAfter(int steps) => Math.Min(TrainCount, steps * options.BatchSize);

    /// <summary>Trains one epoch (1-based) and returns its record (validation included). Given a
    /// <paramref name="resume"/> of the same epoch it continues after those steps. Cancellation is
    /// checked between steps, so a step is never cut in half: it throws
    /// <see cref="TrainingInterruptedException"/> carrying the epoch so far.</summary>
    public EpochRecord TrainEpoch(int epoch, PartialEpoch? resume = null, Action<TrainingProgress>? progress = null,
        CancellationToken cancel = default)
    {
        var watch = Stopwatch.StartNew();
        int[] epochOrder = EpochOrder(TrainCount, options.Seed, epoch);
        HostCopy.ToDevice(order.View, epochOrder, TrainCount);
        int steps = StepsPerEpoch;
        int startStep = resume?.Steps ?? 0;
        if (resume is not null)
            RestoreSamples(epoch, resume);
        int updateEvery = Math.Max(1, steps / Math.Max(1, options.ProgressUpdatesPerEpoch));
        for (int step = startStep; step < steps; step++)
        {
            if (cancel.IsCancellationRequested)
                throw new TrainingInterruptedException(epoch, step > 0 ? SamplesSoFar(epoch, step) : null, cancel);
            int first = step * options.BatchSize;
            int rows = Math.Min(options.BatchSize, TrainCount - first);
            TrainStep(first, rows);
            int done = first + rows;
            if (progress is not null)
            {
                bool readBack = (step + 1) % updateEvery == 0 && step + 1 < steps;
                double? loss = null, accuracy = null;
                if (readBack)
                    (loss, accuracy) = evaluator.Reduce(train.Labels, order.View, 0, done);
                progress(new TrainingProgress(epoch, done, TrainCount, loss, accuracy, (done - SamplesAfter(startStep)) / watch.Elapsed.TotalSeconds));
            }
        }
        var (trainLoss, trainAccuracy) = evaluator.Reduce(train.Labels, order.View, 0, TrainCount);
        double trainSeconds = watch.Elapsed.TotalSeconds;
        double? valLoss = null, valAccuracy = null;
        if (ValidationCount > 0)
        {
            var validation = EvaluateValidation();
            valLoss = validation.Loss;
            valAccuracy = validation.Accuracy;
        }
        int trained = TrainCount - SamplesAfter(startStep);
        progress?.Invoke(new TrainingProgress(epoch, TrainCount, TrainCount, trainLoss, trainAccuracy, trained / trainSeconds));
        return new EpochRecord(epoch, trainLoss, trainAccuracy, valLoss, valAccuracy, watch.Elapsed.TotalSeconds, trained / trainSeconds);
    }

    /// <summary>Puts a partial epoch's per-sample results back where its remaining steps add theirs.</summary>
    private void RestoreSamples(int epoch, PartialEpoch resume)
    {
        if (resume.Epoch != epoch || resume.Steps < 1 || resume.Steps >= StepsPerEpoch)
            throw new ArgumentException($"cannot continue epoch {epoch} from {resume.Steps} steps of epoch {resume.Epoch} (an epoch has {StepsPerEpoch} steps)", nameof(resume));
        int done = SamplesAfter(resume.Steps);
        if (resume.SampleLoss.Length != done || resume.SamplePrediction.Length != done)
            throw new ArgumentException($"continuing after step {resume.Steps} needs the {done} per-sample results so far", nameof(resume));
        HostCopy.ToDevice(evaluator.SampleLoss, resume.SampleLoss, done);
        HostCopy.ToDevice(evaluator.SamplePrediction, resume.SamplePrediction, done);
    }

    /// <summary>The per-sample results of the current epoch's first `steps` steps.</summary>
    private PartialEpoch SamplesSoFar(int epoch, int steps)
    {
        int samples = SamplesAfter(steps);
        var loss = new float[samples];
        var prediction = new int[samples];
        HostCopy.ToHost(evaluator.SampleLoss, loss, samples);
        HostCopy.ToHost(evaluator.SamplePrediction, prediction, samples);
        return new PartialEpoch(epoch, steps, loss, prediction);
    }

    /// <summary>One optimisation step on order[first .. first + rows); no host synchronisation.
    /// The dropout masks (and with augmentation the image shifts) are drawn for the optimizer's step count. On the CPU SIMD kernels the
    /// step's launches run as one fused launch (DeviceKernels.FuseLaunches).</summary>
    private void TrainStep(int first, int rows)
    {
        using var fused = kernels.FuseLaunches();
        uint step = (uint)Optimizer.Steps;
        if (options.IsDistorted)
        {
            kernels.Distort(train.Images, train.Labels, order.View, first, rows, distortion with { Step = step },
                elasticField?.View ?? kernels.Unused, Network.Input, Network.Labels);
        }
        else if (options.AugmentShift > 0)
        {
            kernels.GatherShifted(train.Images, train.Labels, order.View, first, rows, train.ImageHeight, train.ImageWidth,
                options.AugmentShift, (uint)options.Seed, step, Network.Input, Network.Labels);
        }
        else
        {
            kernels.Gather(train.Images, train.Labels, order.View, first, rows, Network.Inputs, Network.Input, Network.Labels);
        }
        Network.Forward(rows, training: true, (uint)options.Seed, step);
        // The training loss is the criterion's, smoothed as the gradient is (torch's); evaluation reports plain cross-entropy.
        Network.Loss(rows, writeGradient: true, first, evaluator.SampleLoss, evaluator.SamplePrediction, options.LabelSmoothing);
        Network.Backward(rows);
        if (options.SchedulesPerStep)
        {
            // The schedule's step index is the optimiser's step count, which checkpoints keep.
            var scheduled = options.HyperparametersAt(Optimizer.Steps, StepsPerEpoch);
            LearningRate = scheduled.LearningRate;
            Optimizer.Step(Network.Parameters, Network.Gradients, scheduled.LearningRate, scheduled.Momentum);
        }
        else
        {
            Optimizer.Step(Network.Parameters, Network.Gradients, LearningRate);
        }
        if (average is not null)
            kernels.ExponentialAverage(average.View, Network.Parameters, Architecture.ParameterCount, options.EmaDecay!.Value);
    }

    /// <summary>True with --ema: validation, test and the model use the weights' moving average.</summary>
    public bool AveragesWeights => average is not null;

    /// <summary>The weights the model is made of: the moving average with --ema, else the network's.</summary>
    public float[] ModelParameters() => average?.GetAsArray1D() ?? Network.GetParameters();

    /// <summary>Sets the model's weights (early stopping's best): the network's, and with --ema the
    /// average's too, so evaluation and the saved model use them.</summary>
    public void SetModelParameters(float[] values)
    {
        Network.SetParameters(values);
        if (average is not null)
            SetAverageParameters(values);
    }

    /// <summary>The moving average of the weights (for checkpoints); null without --ema.</summary>
    public float[]? GetAverageParameters() => average?.GetAsArray1D();

    /// <summary>Replaces the moving average (a resumed run); only with --ema.</summary>
    public void SetAverageParameters(float[] values)
    {
        ArgumentNullException.ThrowIfNull(values);
        if (average is null)
            throw new InvalidOperationException("this run keeps no moving average of its weights (--ema)");
        if (values.Length != Architecture.ParameterCount)
            throw new ArgumentException($"expected {Architecture.ParameterCount} averaged parameters, got {values.Length}");
        average.CopyFromCPU(values);
    }

    /// <summary>Runs <paramref name="evaluate"/> on the model's weights: with --ema the average is copied
    /// into the network for it and the live weights copied back after, bit for bit; without, as is.</summary>
    private EvaluationResult OnModelWeights(Func<EvaluationResult> evaluate)
    {
        if (average is null || liveWeights is null)
            return evaluate();
        liveWeights.View.CopyFrom(Network.Parameters);
        average.View.CopyTo(Network.Parameters);
        try
        {
            return evaluate();
        }
        finally
        {
            liveWeights.View.CopyTo(Network.Parameters);
        }
    }

    public EvaluationResult EvaluateTest() => OnModelWeights(() => evaluator.Evaluate(test, 0, test.Count, options.EvaluationRows(Architecture)));

    /// <summary>The first <paramref name="images"/> test images only (gpumlp bench: on 2 CPU cores
    /// the CNN preset evaluates about 900 MNIST images a second, so a whole test set takes over 10 s).</summary>
    public EvaluationResult EvaluateTest(int images)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(images, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(images, test.Count);
        return OnModelWeights(() => evaluator.Evaluate(test, 0, images, options.EvaluationRows(Architecture)));
    }

    public EvaluationResult EvaluateValidation() =>
        OnModelWeights(() => evaluator.Evaluate(train, TrainCount, ValidationCount, options.EvaluationRows(Architecture)));

    public void Dispose()
    {
        // Null-conditional: the constructor calls this after a failure part-way through.
        Network?.Dispose();
        Optimizer?.Dispose();
        order?.Dispose();
        average?.Dispose();
        liveWeights?.Dispose();
        elasticField?.Dispose();
        evaluator?.Dispose();
        ownedData?.Dispose();
    }
}
