using System.Globalization;
using System.Text.Json.Serialization;
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

    /// <summary>Time to accuracy: stop after the first epoch whose validation accuracy (a fraction,
    /// e.g. 0.99) is at least this; null trains every epoch. The weights are those of that epoch.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? TargetValidationAccuracy { get; init; }
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

    // Per-step schedules, label smoothing and the weights' moving average: each off by default and
    // then absent from checkpoints, so runs without them train and write what they always did.

    /// <summary>OneCycle's parameters with <see cref="LearningRateSchedule.OneCycle"/> (null: torch's
    /// defaults); must be null with any other schedule.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public OneCycleSettings? OneCycle { get; init; }

    /// <summary>Steps of linear warm-up (torch's LinearLR from <see cref="WarmupStartFactor"/> x lr
    /// to lr over this many steps) before the constant, linear or cosine-steps schedule; 0: none.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public int WarmupSteps { get; init; }

    /// <summary>The warm-up's first factor (LinearLR's start_factor, in (0, 1]); null is torch's 1/3.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? WarmupStartFactor { get; init; }

    /// <summary>torch's LinearLR default start_factor.</summary>
    public const double DefaultWarmupStartFactor = 1.0 / 3;

    /// <summary>Label smoothing of the training loss, torch's CrossEntropyLoss(label_smoothing=ε):
    /// the target is (1 - ε) one-hot + ε / K; 0 is plain cross-entropy. Validation and test report
    /// plain cross-entropy whatever ε is, so losses compare across runs (see README).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public float LabelSmoothing { get; init; }

    /// <summary>Decay of an exponential moving average of the weights, updated after every
    /// optimiser step (ema = decay ema + (1 - decay) w); validation, test and the saved model use
    /// the average. Null: no average.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public float? EmaDecay { get; init; }

    /// <summary>True when the learning rate changes per optimiser step (OneCycle, linear,
    /// cosine-steps, or any warm-up), set by <see cref="HyperparametersAt"/>; false for the per-epoch
    /// schedules of <see cref="LearningRateAt"/>.</summary>
    [JsonIgnore]
    public bool SchedulesPerStep => Schedule is LearningRateSchedule.OneCycle or LearningRateSchedule.Linear or LearningRateSchedule.CosineSteps || WarmupSteps > 0;

    /// <summary>The hyperparameters of 0-based optimiser step <paramref name="step"/> of a run of
    /// <see cref="Epochs"/> x <paramref name="stepsPerEpoch"/> steps, computed in double and rounded
    /// once. OneCycle is torch's OneCycleLR (max_lr = the optimiser's rate); otherwise a warm-up of
    /// <see cref="WarmupSteps"/> (LinearLR, closed form) followed by the decay over the remaining
    /// steps: none (constant), linear to 0 (LinearLR end_factor 0) or half a cosine to 0
    /// (CosineAnnealingLR, eta_min 0), as torch's SequentialLR chains them.</summary>
    public StepHyperparameters HyperparametersAt(long step, int stepsPerEpoch)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(stepsPerEpoch, 1);
        long total = (long)Epochs * stepsPerEpoch;
        double learningRate = Optimizer.LearningRate;
        if (Schedule == LearningRateSchedule.OneCycle)
        {
            var (rate, momentum) = (OneCycle ?? OneCycleSettings.Torch).At(step, total, learningRate);
            return new((float)rate, momentum is double m ? (float)m : null);
        }
        return new((float)(learningRate * WarmupDecayFactor(step, total)), null);
    }

    /// <summary>The factor on the base rate of step <paramref name="step"/> of <paramref name="total"/>
    /// under warm-up then decay (constant, linear, cosine-steps).</summary>
    private double WarmupDecayFactor(long step, long total)
    {
        if (step < WarmupSteps)
        {
            double start = WarmupStartFactor ?? DefaultWarmupStartFactor;
            return start + ((1.0 - start) * step / WarmupSteps);
        }
        long decayed = step - WarmupSteps, span = total - WarmupSteps;
        // Validate refuses undefined schedules: every member is named, no catch-all (CS8524 silenced).
#pragma warning disable CS8524
        return Schedule switch
        {
            LearningRateSchedule.Linear => 1.0 - ((double)decayed / span),
            LearningRateSchedule.CosineSteps => (1 + Math.Cos(Math.PI * decayed / span)) / 2,
            LearningRateSchedule.Constant => 1.0,
            LearningRateSchedule.Step or LearningRateSchedule.Cosine or LearningRateSchedule.OneCycle =>
                throw new InvalidOperationException($"the {Schedule.Name()} schedule has no warm-up"),
        };
#pragma warning restore CS8524
    }

    /// <summary>The optimiser settings training builds its optimiser from: these options' own, except
    /// that OneCycle with cycle_momentum starts beta1 (adam, adamw) or momentum (sgd, rmsprop) at the
    /// cycle's max momentum, as torch's OneCycleLR overwrites it (so SGD keeps a momentum buffer).</summary>
    [JsonIgnore]
    public OptimizerSettings EffectiveOptimizer
    {
        get
        {
            if (Schedule != LearningRateSchedule.OneCycle || OneCycle is { CycleMomentum: false })
                return Optimizer;
            float max = (float)(OneCycle ?? OneCycleSettings.Torch).MaxMomentum;
            return Optimizer.Definition.Uses(OptimizerFlags.Betas) ? Optimizer with { Beta1 = max } : Optimizer with { Momentum = max };
        }
    }

    /// <summary>The checks of the schedule, label smoothing and EMA that need no dataset.</summary>
    private void ValidateScheduleAndAveraging()
    {
        if (!Enum.IsDefined(Schedule))
            throw new OptionException($"unknown learning-rate schedule {Schedule}");
        if (OneCycle is not null && Schedule != LearningRateSchedule.OneCycle)
            throw new OptionException($"the OneCycle options apply to --lr-schedule onecycle, not {Schedule.Name()}");
        if (Schedule == LearningRateSchedule.OneCycle)
        {
            var oneCycle = OneCycle ?? OneCycleSettings.Torch;
            oneCycle.Validate();
            if (oneCycle.CycleMomentum && !Optimizer.Definition.Uses(OptimizerFlags.Betas) && !Optimizer.Definition.Uses(OptimizerFlags.Momentum))
                throw new OptionException($"--cycle-momentum on needs an optimizer with betas or momentum; {Optimizer.Kind.Name()} has neither");
        }
        if (WarmupSteps < 0)
            throw new OptionException($"--warmup-steps must be at least 0 (got {WarmupSteps})");
        if (WarmupSteps > 0 && Schedule is not (LearningRateSchedule.Constant or LearningRateSchedule.Linear or LearningRateSchedule.CosineSteps))
            throw new OptionException($"--warmup-steps applies to the constant, linear and cosine-steps schedules, not {Schedule.Name()}");
        if (WarmupStartFactor is double factor && (!(factor is > 0 and <= 1) || WarmupSteps == 0))
        {
            throw new OptionException(WarmupSteps == 0
                ? "--warmup-start-factor needs --warmup-steps"
                : $"--warmup-start-factor must be in (0, 1] (got {factor.ToString(CultureInfo.InvariantCulture)})");
        }
        if (!(LabelSmoothing is >= 0f and <= 1f))
            throw new OptionException($"--label-smoothing must be in [0, 1] (got {LabelSmoothing.ToString(CultureInfo.InvariantCulture)})");
        if (EmaDecay is float decay && !(decay is >= 0f and < 1f))
            throw new OptionException($"--ema must be a decay in [0, 1) (got {decay.ToString(CultureInfo.InvariantCulture)})");
    }

    /// <summary>The schedule's checks against the run's <paramref name="stepsPerEpoch"/>: a decay
    /// needs at least one step after the warm-up, and OneCycle a first phase torch can anneal over.</summary>
    private void CheckStepSchedule(long stepsPerEpoch)
    {
        long total = Epochs * stepsPerEpoch;
        if (Schedule is LearningRateSchedule.Linear or LearningRateSchedule.CosineSteps && WarmupSteps >= total)
            throw new OptionException($"--warmup-steps {WarmupSteps} leaves no step to decay over: this run has {total} steps");
        if (Schedule == LearningRateSchedule.OneCycle && (OneCycle ?? OneCycleSettings.Torch).Problem(total) is string problem)
            throw new OptionException(problem);
    }

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
        if (TargetValidationAccuracy is double target && !(target > 0 && target <= 1))
            throw new OptionException($"--target-accuracy must be a fraction in (0, 1], e.g. 0.99 (got {target.ToString(CultureInfo.InvariantCulture)})");
        if (TargetValidationAccuracy is not null && ValidationSplit <= 0)
            throw new OptionException("--target-accuracy needs a validation split (--val-split > 0): the target is checked on it after every epoch");
        if (LimitTrain is < 1)
            throw new OptionException($"--limit-train must be at least 1 (got {LimitTrain})");
        ValidateScheduleAndAveraging();
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
        CheckStepSchedule((train + (long)BatchSize - 1) / BatchSize);
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
    /// epoch towards 0. The per-step schedules (<see cref="SchedulesPerStep"/>) set each step's rate
    /// through <see cref="HyperparametersAt"/>; for them this is the base rate.</summary>
    public float LearningRateAt(int epoch)
    {
        float learningRate = Optimizer.LearningRate;
        return Schedule switch
        {
            LearningRateSchedule.Constant or LearningRateSchedule.OneCycle or LearningRateSchedule.Linear or LearningRateSchedule.CosineSteps => learningRate,
            LearningRateSchedule.Step => learningRate * MathF.Pow(0.5f, (epoch - 1) / 5),
            LearningRateSchedule.Cosine => (float)(learningRate * 0.5 * (1 + Math.Cos(Math.PI * (epoch - 1) / Epochs))),
            _ => throw new ArgumentOutOfRangeException(nameof(Schedule), Schedule, "unknown learning-rate schedule"),
        };
    }

    /// <summary>Whether training with <paramref name="other"/> from the same state gives the same
    /// weights epoch by epoch as with these options: every setting that shapes the updates must
    /// agree (batch, the optimiser with its learning rate and every other hyperparameter, the schedule, dropout,
    /// network, seed, data split, early stopping and the target accuracy, augmentation).
    /// The epoch count only says where to stop, so it may differ, except under the cosine, onecycle,
    /// linear and cosine-steps schedules whose rates depend on it; the evaluation batch size and progress read-backs never matter.
    /// This is the one test of "is this the same run?" (a resumed run, a restored trial).</summary>
    public bool SameTrajectory(TrainingOptions other)
    {
        ArgumentNullException.ThrowIfNull(other);
        return BatchSize == other.BatchSize && Optimizer.Equals(other.Optimizer)
            && Dropout.Equals(other.Dropout)
            && Hidden.SequenceEqual(other.Hidden) && ArchitectureText == other.ArchitectureText && Seed == other.Seed && ValidationSplit.Equals(other.ValidationSplit)
            && LimitTrain == other.LimitTrain && Schedule == other.Schedule && EarlyStopPatience == other.EarlyStopPatience
            && Nullable.Equals(TargetValidationAccuracy, other.TargetValidationAccuracy)
            && AugmentShift == other.AugmentShift
            && Equals(OneCycle ?? OneCycleSettings.Torch, other.OneCycle ?? OneCycleSettings.Torch)
            && WarmupSteps == other.WarmupSteps && Nullable.Equals(WarmupStartFactor, other.WarmupStartFactor)
            && LabelSmoothing.Equals(other.LabelSmoothing) && Nullable.Equals(EmaDecay, other.EmaDecay)
            && (IsDistorted ? Distortion : null) == (other.IsDistorted ? other.Distortion : null)
            && (Schedule is not (LearningRateSchedule.Cosine or LearningRateSchedule.OneCycle or LearningRateSchedule.Linear or LearningRateSchedule.CosineSteps)
                || Epochs == other.Epochs);
    }

    public int ValidationCount(int available) => (int)Math.Floor(available * ValidationSplit);
    public int TrainCount(int available) => available - ValidationCount(available);
}

/// <summary>The learning-rate schedules: per epoch (constant, step, cosine) or per optimiser step
/// (onecycle, linear, cosine-steps; <see cref="TrainingOptions.HyperparametersAt"/>).</summary>
public enum LearningRateSchedule
{
    Constant,
    Step,
    Cosine,

    /// <summary>torch's OneCycleLR over every step of the run.</summary>
    OneCycle,

    /// <summary>Per step, linearly to 0 at the end of the run (after any warm-up).</summary>
    Linear,

    /// <summary>Per step, half a cosine to 0 at the end of the run (after any warm-up).</summary>
    CosineSteps,
}

/// <summary>The schedules' command-line names.</summary>
public static class LearningRateSchedules
{
    /// <summary>Every schedule, in the enum's order.</summary>
    public static IReadOnlyList<LearningRateSchedule> All { get; } = Enum.GetValues<LearningRateSchedule>();

    /// <summary>constant, step, cosine, onecycle, linear, cosine-steps (the first three as config.json
    /// has always written them).</summary>
    public static string Name(this LearningRateSchedule schedule)
    {
        if (!Enum.IsDefined(schedule))
            throw new ArgumentOutOfRangeException(nameof(schedule), schedule, "unknown learning-rate schedule");
#pragma warning disable CS8524
        return schedule switch
        {
            LearningRateSchedule.Constant => "constant",
            LearningRateSchedule.Step => "step",
            LearningRateSchedule.Cosine => "cosine",
            LearningRateSchedule.OneCycle => "onecycle",
            LearningRateSchedule.Linear => "linear",
            LearningRateSchedule.CosineSteps => "cosine-steps",
        };
#pragma warning restore CS8524
    }

    /// <summary>Parses a command-line name (case-insensitive); the error is a one-line usage message
    /// naming <paramref name="flag"/>.</summary>
    public static LearningRateSchedule Parse(string text, string flag = "--lr-schedule")
    {
        ArgumentNullException.ThrowIfNull(text);
        string name = text.Trim().ToLowerInvariant();
        foreach (var schedule in All)
        {
            if (schedule.Name() == name)
                return schedule;
        }
        throw new OptionException($"{flag} must be {Optimizers.JoinNames(All.Select(s => s.Name()).ToList(), "or")} (got '{text}')");
    }
}
