using GpuMlp.Data;

namespace GpuMlp.Training;

/// <summary>Everything that determines a training run. Defaults are the report's setup.</summary>
public sealed record TrainingOptions
{
    public int Epochs { get; init; } = 20;
    public int BatchSize { get; init; } = 128;
    /// <summary>The update rule, its hyperparameters and its base learning rate (a schedule scales
    /// the rate per epoch, see <see cref="LearningRateAt"/>). The default is the report's setup: Adam
    /// with torch's defaults, lr 0.001; the CLI uses each optimiser's default rate when --lr is not
    /// given. This is the one place a run's learning rate lives.</summary>
    public OptimizerSettings Optimizer
    {
        get;
        init => field = value ?? throw new ArgumentNullException(nameof(value));
    } = new(OptimizerKind.Adam);
    public float Dropout { get; init; } = 0.2f;
    public IReadOnlyList<int> Hidden { get; init; } = [512, 256];
    /// <summary>The layer stack in the architecture text form (canonical, see
    /// <see cref="Training.Architecture"/>); null is the report's MLP of <see cref="Hidden"/> and
    /// <see cref="Dropout"/>, which then ignore this.</summary>
    public string? ArchitectureText { get; init; }
    public int Seed { get; init; } = 1;
    /// <summary>Fraction of the (possibly limited) training file held out, from its end.</summary>
    public double ValidationSplit { get; init; } = 0.1;
    /// <summary>Use only the first N training images; null for all.</summary>
    public int? LimitTrain { get; init; }
    /// <summary>Rows per launch when evaluating (no gradients, so larger than a batch pays).</summary>
    public int EvaluationBatchSize { get; init; } = DefaultEvaluationBatchSize;
    public const int DefaultEvaluationBatchSize = 1000;
    /// <summary>Stop after this many epochs without a lower validation loss and restore the best
    /// weights; null trains every epoch.</summary>
    public int? EarlyStopPatience { get; init; }
    public LearningRateSchedule Schedule { get; init; } = LearningRateSchedule.Constant;

    /// <summary>Data augmentation: every training image is moved by up to this many pixels in x and
    /// in y (each drawn uniformly from -N..N per image and step by the device's gather kernel, zeros
    /// moved in); 0 trains on the images as they are. Validation and test images are never moved.</summary>
    public int AugmentShift { get; init; }

    /// <summary>The largest --augment-shift: a third of an MNIST digit's 20-pixel box.</summary>
    public const int MaxAugmentShift = 6;

    /// <summary>The shift `gpumlp train --arch cnn` trains with unless --augment-shift says otherwise:
    /// the preset is the stack plus this recipe (see README, "The CNN").</summary>
    public const int CnnPresetAugmentShift = 2;

    /// <summary>Data augmentation by random affine and elastic distortion of every training image
    /// (<see cref="ImageDistortion"/>); null, as in checkpoints written before it existed, or all
    /// zero is none. With <see cref="AugmentShift"/> as well, the shift is added to the affine
    /// translation. Validation and test images are never distorted.</summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public ImageDistortion? Distortion { get; init; }

    /// <summary>True when training images are distorted (<see cref="Distortion"/> has a nonzero range).</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public bool IsDistorted => Distortion is { IsActive: true };

    /// <summary>How many times per epoch the running loss/accuracy is read back for progress.</summary>
    public int ProgressUpdatesPerEpoch { get; init; } = 4;

    /// <summary>Checks every setting, and the network against the dataset's schema (it must fit its
    /// images and classes) and size; the message is a one-line usage error. Entry points call this
    /// once, where options come in (the CLI commands, MnistModel.Train, Checkpoint.Load, tune's
    /// trials and retrain); the Trainer does not repeat it, and checks only what depends on the
    /// dataset it is given (<see cref="CheckDataset"/>).</summary>
    public void Validate(ImageSchema schema, int trainingImages)
    {
        ArgumentNullException.ThrowIfNull(schema);
        SettingsChecksOnThisThread++;
        ValidateSettings(schema);
        ValidateSize(trainingImages);
    }

    /// <summary>The checks that depend on the dataset, which the Trainer makes whatever its caller
    /// validated: the network must be built for <paramref name="schema"/> (its shapes chain, the
    /// batch fits its row limit, shifted images have one channel) and the training split of
    /// <paramref name="trainingImages"/> must hold a batch. The message is a one-line usage error.</summary>
    public void CheckDataset(ImageSchema schema, int trainingImages)
    {
        ArgumentNullException.ThrowIfNull(schema);
        CheckNetwork(schema);
        CheckChannels(schema);
        ValidateSize(trainingImages);
    }

    /// <summary>How often this thread has run the settings checks (for the tests that pin "once").</summary>
    [ThreadStatic]
    internal static int SettingsChecksOnThisThread;

    /// <summary>Every check that does not depend on the dataset's size (the network's depend on its schema).</summary>
    private void ValidateSettings(ImageSchema schema)
    {
        if (Epochs < 1)
            throw new OptionException($"--epochs must be at least 1 (got {Epochs})");
        try
        {
            Optimizer.Validate();
        }
        catch (ArgumentException error) when (error is not OptionException)
        {
            throw new OptionException(error.Message);
        }
        if (!(Dropout >= 0f && Dropout < 1f))
            throw new OptionException($"--dropout must be in [0, 1) (got {Dropout})");
        CheckNetwork(schema);
        if (EvaluationBatchSize < 1)
            throw new OptionException($"the evaluation batch size must be at least 1 (got {EvaluationBatchSize})");
        if (!(ValidationSplit >= 0 && ValidationSplit < 1))
            throw new OptionException($"--val-split must be in [0, 1) (got {ValidationSplit})");
        if (AugmentShift is < 0 or > MaxAugmentShift)
            throw new OptionException($"--augment-shift must be in 0..{MaxAugmentShift} pixels (got {AugmentShift})");
        CheckChannels(schema);
        Distortion?.Validate();
        if (EarlyStopPatience is < 1)
            throw new OptionException($"--early-stop must be at least 1 (got {EarlyStopPatience})");
        if (EarlyStopPatience is not null && ValidationSplit <= 0)
            throw new OptionException("--early-stop needs a validation split (--val-split > 0)");
        if (LimitTrain is < 1)
            throw new OptionException($"--limit-train must be at least 1 (got {LimitTrain})");
    }

    /// <summary>The network of <paramref name="schema"/>: the MLP's widths and parameter count, the
    /// stack's shapes and plan, and the batch against its row limit.</summary>
    private void CheckNetwork(ImageSchema schema)
    {
        if (Hidden.Count == 0 || Hidden.Any(h => h < 1 || h > 65536))
            throw new OptionException("--hidden must list one or more layer widths in 1..65536, e.g. 512,256");
        try
        {
            _ = NetworkInput.Mlp(Hidden, schema, 0f);
        }
        catch (ArchitectureException)
        {
            throw new OptionException($"--hidden {string.Join(",", Hidden)} needs more than 2^31 parameters; use smaller layers");
        }
        Architecture network;
        try
        {
            network = Network(schema);
            _ = LayerNetwork.Plan(network);
        }
        catch (ArchitectureException error)
        {
            throw new OptionException($"--arch: {error.Message}");
        }
        int rowLimit = LayerNetwork.MaxRowsFor(network);
        if (BatchSize > rowLimit)
            throw new OptionException($"--batch-size {BatchSize} is too large for this architecture (at most {rowLimit})");
    }

    /// <summary>The shifted gather moves one plane of Height x Width pixels per image (the distorting
    /// gather, which applies the shift when distortion is on, moves every plane).</summary>
    private void CheckChannels(ImageSchema schema)
    {
        if (AugmentShift > 0 && schema.Shape.Channels != 1 && !IsDistorted)
            throw new OptionException($"--augment-shift moves one-channel images only; these images are {schema.Shape}");
    }

    /// <summary>The checks against the training file's size (after ValidateSettings).</summary>
    private void ValidateSize(int trainingImages)
    {
        int available = Math.Min(trainingImages, LimitTrain ?? int.MaxValue);
        int train = TrainCount(available);
        if (train < 1)
            throw new OptionException("no training images left after the validation split");
        if (BatchSize < 1 || BatchSize > train)
            throw new OptionException($"--batch-size must be in 1..{train} (the training set size), got {BatchSize}");
    }

    /// <summary>The network these options train on a dataset of <paramref name="schema"/>: the parsed
    /// <see cref="ArchitectureText"/>, or the MLP of <see cref="Hidden"/> with <see cref="Dropout"/>
    /// after each hidden ReLU (see <see cref="NetworkInput"/>).</summary>
    /// <exception cref="ArchitectureException">The text does not parse or its shapes do not chain.</exception>
    public Architecture Network(ImageSchema schema) =>
        ArchitectureText is null ? NetworkInput.Mlp(Hidden, schema, Dropout) : NetworkInput.Parse(ArchitectureText, schema);

    /// <summary>True for the report's MLP (no architecture text).</summary>
    public bool IsMlp => ArchitectureText is null;

    /// <summary>How messages name <paramref name="network"/>, these options' network: the MLP's
    /// widths (784-512-256-10) for the report's MLP, else the stack's text.</summary>
    public string NetworkName(Architecture network)
    {
        ArgumentNullException.ThrowIfNull(network);
        return IsMlp ? network.MlpName! : network.Text;
    }

    /// <summary>Rows per evaluation launch: <see cref="EvaluationBatchSize"/>, capped for networks
    /// with convolutions, whose im2col buffers grow with rows x pixels x patch.</summary>
    public int EvaluationRows(Architecture network)
    {
        ArgumentNullException.ThrowIfNull(network);
        return network.HasConvolution ? Math.Min(EvaluationBatchSize, ConvolutionEvaluationBatchSize) : EvaluationBatchSize;
    }

    /// <summary>The evaluation batch cap of networks with convolutions (the CNN preset's second
    /// convolution needs 627 KiB of im2col columns per row).</summary>
    public const int ConvolutionEvaluationBatchSize = 500;

    /// <summary>The learning rate for a 1-based epoch, from the optimiser's base rate lr. step: halved
    /// every 5 epochs; cosine: lr * (1 + cos(pi * (epoch - 1) / epochs)) / 2, from lr at the first
    /// epoch towards 0.</summary>
    public float LearningRateAt(int epoch)
    {
        float learningRate = Optimizer.LearningRate;
        return Schedule switch
        {
            LearningRateSchedule.Constant => learningRate,
            LearningRateSchedule.Step => learningRate * MathF.Pow(0.5f, (epoch - 1) / 5),
            LearningRateSchedule.Cosine => (float)(learningRate * 0.5 * (1 + Math.Cos(Math.PI * (epoch - 1) / Epochs))),
            _ => throw new ArgumentOutOfRangeException(nameof(Schedule), Schedule, "unknown learning-rate schedule"),
        };
    }

    /// <summary>Whether training with <paramref name="other"/> from the same state gives the same
    /// weights epoch by epoch as with these options: every setting that shapes the updates must
    /// agree (batch, the optimiser with its learning rate and every other hyperparameter, the schedule, dropout,
    /// network, seed, data split, early stopping, augmentation).
    /// The epoch count only says where to stop, so it may differ, except under the cosine schedule
    /// whose rates depend on it; the evaluation batch size and progress read-backs never matter.
    /// This is the one test of "is this the same run?" (a resumed run, a restored trial).</summary>
    public bool SameTrajectory(TrainingOptions other)
    {
        ArgumentNullException.ThrowIfNull(other);
        return BatchSize == other.BatchSize && Optimizer.Equals(other.Optimizer)
            && Dropout.Equals(other.Dropout)
            && Hidden.SequenceEqual(other.Hidden) && ArchitectureText == other.ArchitectureText && Seed == other.Seed && ValidationSplit.Equals(other.ValidationSplit)
            && LimitTrain == other.LimitTrain && Schedule == other.Schedule && EarlyStopPatience == other.EarlyStopPatience
            && AugmentShift == other.AugmentShift
            && (IsDistorted ? Distortion : null) == (other.IsDistorted ? other.Distortion : null)
            && (Schedule != LearningRateSchedule.Cosine || Epochs == other.Epochs);
    }

    public int ValidationCount(int available) => (int)Math.Floor(available * ValidationSplit);
    public int TrainCount(int available) => available - ValidationCount(available);
}

public enum LearningRateSchedule
{
    Constant,
    Step,
    Cosine,
}
