using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using GpuMlp.Data;
using GpuMlp.Runs;

namespace GpuMlp.Training;

/// <summary>A checkpoint file that is truncated, corrupt or from another configuration.</summary>
public sealed class CheckpointFormatException : Exception
{
    public CheckpointFormatException(string message) : base(message) { }
    public CheckpointFormatException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>Everything but the tensors: enough to continue a run exactly where it stopped. This is
/// the file's JSON; OptimizerSteps, OptimizerTensors and StepsIntoEpoch are written from the
/// checkpoint's optimizer state and partial epoch when it is saved.</summary>
public sealed record CheckpointState
{
    /// <summary>The run's options, the optimiser's kind and hyperparameters included (format 2 files
    /// have none there: they are Adam's, the default). The learning rate is also stored as the
    /// options' top-level "learning_rate", as files always held it (<see cref="TrainingOptionsJsonConverter"/>).</summary>
    public required TrainingOptions Options { get; init; }
    public required int EpochsCompleted { get; init; }
    /// <summary>The optimizer's step count (Checkpoint.Optimizer.Steps).</summary>
    public long OptimizerSteps { get; init; }
    /// <summary>The optimizer's state tensors in the order the file stores them after the fixed
    /// arrays (format 3; their names are torch's, see OptimizerSettings.StateNames).</summary>
    public IReadOnlyList<string>? OptimizerTensors { get; init; }
    /// <summary>Format 2's name for the step count; read from old files only.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    [JsonPropertyName("adam_steps")]
    public long? Version2AdamSteps { get; init; }
    public double? BestValidationLoss { get; init; }
    public int BestEpoch { get; init; }
    public int EpochsWithoutImprovement { get; init; }
    public required IReadOnlyList<EpochRecord> History { get; init; }
    public required string Device { get; init; }
    public double TrainSeconds { get; init; }
    /// <summary>Steps of epoch EpochsCompleted + 1 already taken (0 at an epoch boundary); the
    /// checkpoint then also holds that epoch's per-sample losses and predictions so far.</summary>
    public int StepsIntoEpoch { get; init; }
    public double CompileSeconds { get; init; }
    /// <summary>The layers' non-trained state tensors (Architecture.StateTensors names, torch's
    /// buffer names), stored as one flat array after the optimizer's; absent, and the file's bytes
    /// those of a stack without state, when the network keeps none.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyList<string>? LayerStateTensors { get; init; }
    /// <summary>The dataset's image shape, "CxHxW", and its class names (absent from files written
    /// before they were recorded: MNIST's, see <see cref="RecordedSchema"/>).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? InputShape { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyList<string>? ClassNames { get; init; }
}

/// <summary>The full training state after an epoch, or after a step when training was interrupted:
/// the run's counters and history, the parameters, the optimizer's state, the best parameters
/// (early stopping) and the interrupted epoch so far. Capture and RestoreInto are the only places
/// that move this state between a trainer and a checkpoint; Continues decides whether a
/// checkpoint belongs to a run.
///
/// Layout (little-endian), format 3: "GPUMLPC3", int32 JSON length, UTF-8 JSON state (the options
/// name the optimiser and its hyperparameters; optimizer_tensors lists its state tensors), then
/// float32 arrays each preceded by its int32 length: parameters, best parameters (empty when not
/// kept), the interrupted epoch's per-sample losses and predictions so far (empty at an epoch
/// boundary), then one array per optimizer state tensor in optimizer_tensors order (none for plain
/// SGD; Adam: exp_avg, exp_avg_sq), then, only when layer_state_tensors is present, the layers'
/// non-trained state as one array in that order, then, only when the options have ema_decay, the
/// weights' moving average (as long as the parameters). Format 2 ("GPUMLPC2", Adam only) is still read: parameters,
/// exp_avg, exp_avg_sq, best parameters, epoch losses, epoch predictions.
/// Written atomically, so a crash leaves the previous checkpoint intact.</summary>
public sealed class Checkpoint
{
    public const string FileName = "checkpoint.bin";
    private static readonly byte[] Magic = "GPUMLPC3"u8.ToArray();
    private static readonly byte[] MagicVersion2 = "GPUMLPC2"u8.ToArray();
    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower), new TrainingOptionsJsonConverter() },
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public required CheckpointState State { get; init; }
    public required float[] Parameters { get; init; }
    public required OptimizerState Optimizer { get; init; }
    public float[]? BestParameters { get; init; }
    /// <summary>The interrupted epoch so far; null at an epoch boundary.</summary>
    public PartialEpoch? Partial { get; init; }

    /// <summary>The layers' non-trained state, flat, in the order State.LayerStateTensors names
    /// (Architecture.StateTensors'); empty for stacks without state.</summary>
    public float[] LayerState { get; init; } = [];

    /// <summary>The best epoch's layer state, kept with <see cref="BestParameters"/> under early
    /// stopping (null when there are no best weights or the network keeps no state); stored right
    /// after <see cref="LayerState"/>.</summary>
    public float[]? BestLayerState { get; init; }

    /// <summary>The weights' moving average (--ema), stored last; null without it.</summary>
    public float[]? AverageParameters { get; init; }

    /// <summary>Adam's state as version 2 stores it: its first and second moments.</summary>
    public static OptimizerState AdamState(long steps, float[] firstMoment, float[] secondMoment) =>
        new(OptimizerKind.Adam, steps, new Dictionary<string, float[]>(StringComparer.Ordinal)
        {
            [Optimizers.ExpAvg] = firstMoment,
            [Optimizers.ExpAvgSq] = secondMoment,
        });

    /// <summary>The trainer's parameters and optimizer state with the run's <paramref name="state"/>.</summary>
    public static Checkpoint Capture(Trainer trainer, CheckpointState state, float[]? bestParameters = null, PartialEpoch? partial = null,
        float[]? bestLayerState = null)
    {
        ArgumentNullException.ThrowIfNull(trainer);
        ArgumentNullException.ThrowIfNull(state);
        var optimizer = trainer.Optimizer.Capture();
        var layerState = trainer.Network.Architecture.StateTensors;
        return new Checkpoint
        {
            State = state with
            {
                OptimizerSteps = optimizer.Steps,
                OptimizerTensors = trainer.Optimizer.StateNames,
                StepsIntoEpoch = partial?.Steps ?? 0,
                LayerStateTensors = layerState.Count == 0 ? null : layerState.Select(t => t.Name).ToArray(),
                InputShape = trainer.Schema.Shape.ToString(),
                ClassNames = trainer.Schema.ClassNames,
            },
            Parameters = trainer.Network.GetParameters(),
            LayerState = trainer.Network.GetState(),
            Optimizer = optimizer,
            BestParameters = bestParameters,
            BestLayerState = bestLayerState is { Length: > 0 } ? bestLayerState : null,
            Partial = partial,
            AverageParameters = trainer.GetAverageParameters(),
        };
    }

    /// <summary>Puts the parameters and the optimizer state back into <paramref name="trainer"/>.
    /// A trainer with another optimiser (or other settings of its state) is refused with a one-line
    /// <see cref="CheckpointFormatException"/> and nothing changed.</summary>
    public void RestoreInto(Trainer trainer)
    {
        ArgumentNullException.ThrowIfNull(trainer);
        if (Optimizer.Kind != trainer.Optimizer.Kind)
            throw new CheckpointFormatException(
                $"the checkpoint holds {Optimizer.Kind.Name()} state; it cannot continue a run that uses {trainer.Optimizer.Kind.Name()}");
        try
        {
            trainer.Optimizer.Restore(Optimizer);
        }
        catch (ArgumentException error)
        {
            throw new CheckpointFormatException($"the checkpoint does not fit this run: {error.Message}", error);
        }
        CheckLayerState(trainer.Network.Architecture, "the checkpoint");
        if (trainer.AveragesWeights != AverageParameters is not null)
            throw new CheckpointFormatException(trainer.AveragesWeights
                ? "the checkpoint holds no moving average of the weights; this run keeps one (--ema)"
                : "the checkpoint holds a moving average of the weights; this run keeps none");
        trainer.Network.SetParameters(Parameters);
        trainer.Network.SetState(LayerState);
        if (AverageParameters is not null)
            trainer.SetAverageParameters(AverageParameters);
    }

    /// <summary>The layer state's names and length must be <paramref name="network"/>'s.</summary>
    private void CheckLayerState(Architecture network, string where)
    {
        var expected = network.StateTensors.Select(t => t.Name).ToArray();
        var stored = State.LayerStateTensors ?? [];
        if (!stored.SequenceEqual(expected, StringComparer.Ordinal) || LayerState.Length != network.StateCount)
            throw new CheckpointFormatException(
                // The file's names are not quoted: they may be any bytes.
                $"{where} holds {stored.Count} layer state tensors ({LayerState.Length} values); the {network.Text} network keeps [{string.Join(", ", expected)}] ({network.StateCount} values)");
        if (BestLayerState is { } best && best.Length != network.StateCount)
            throw new CheckpointFormatException(
                $"{where} holds a best layer state of {best.Length} values; the {network.Text} network keeps {network.StateCount}");
        if (BestLayerState is not null && BestParameters is null)
            throw new CheckpointFormatException($"{where} holds a best layer state without best weights");
    }

    /// <summary>The dataset schema the run trains on (checked when the checkpoint is loaded).</summary>
    public ImageSchema Schema => RecordedSchema.Read(State.InputShape, State.ClassNames);

    /// <summary>Whether a run with <paramref name="options"/> continues this checkpoint: the same
    /// training trajectory (TrainingOptions.SameTrajectory) and no more epochs done than it trains.</summary>
    public bool Continues(TrainingOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return State.Options.SameTrajectory(options) && State.EpochsCompleted <= options.Epochs;
    }

    public void Save(string path)
    {
        var names = State.Options.EffectiveOptimizer.StateNames;
        if (Optimizer.Kind != State.Options.EffectiveOptimizer.Kind
            || !names.Order(StringComparer.Ordinal).SequenceEqual(Optimizer.Tensors.Keys.Order(StringComparer.Ordinal), StringComparer.Ordinal))
            throw new ArgumentException($"the optimizer state ({Optimizer.Kind.Name()}: {string.Join(", ", Optimizer.Tensors.Keys)}) is not what {State.Options.EffectiveOptimizer.Describe()} keeps");
        if (State.LayerStateTensors is null && LayerState.Length != 0)
            throw new ArgumentException($"the layer state ({LayerState.Length} values) has no tensor names");
        if ((State.Options.EmaDecay is not null) != (AverageParameters is not null))
            throw new ArgumentException("the weights' moving average is stored exactly when the options have ema_decay");
        var state = State with
        {
            OptimizerSteps = Optimizer.Steps,
            OptimizerTensors = names,
            Version2AdamSteps = null,
            StepsIntoEpoch = Partial?.Steps ?? 0,
        };
        float[] epochLoss = Partial?.SampleLoss ?? [];
        float[] predictions = (Partial?.SamplePrediction ?? []).Select(p => (float)p).ToArray();
        AtomicFile.Write(path, stream =>
        {
            using var writer = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true);
            writer.Write(Magic);
            byte[] json = JsonSerializer.SerializeToUtf8Bytes(state, Json);
            writer.Write(json.Length);
            writer.Write(json);
            // A network with state stores its state and then its best state (empty without best weights).
            var layerState = state.LayerStateTensors is null ? [] : new[] { LayerState, BestLayerState ?? [] };
            float[][] averaged = AverageParameters is null ? [] : [AverageParameters];
            foreach (var array in new[] { Parameters, BestParameters ?? [], epochLoss, predictions }.Concat(names.Select(n => Optimizer.Tensors[n])).Concat(layerState).Concat(averaged))
            {
                writer.Write(array.Length);
                writer.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(array.AsSpan()));
            }
        });
    }

    /// <summary>Reads a checkpoint and checks its tensors against the network its options describe.</summary>
    public static Checkpoint Load(string path) => Load(path, null);

    /// <summary>Reads a checkpoint and checks its tensors against <paramref name="network"/>, or,
    /// when null, against the network its options describe.</summary>
    public static Checkpoint Load(string path, Architecture? network)
    {
        if (!File.Exists(path))
            throw new FileNotFoundException($"no checkpoint at {path}", path);
        try
        {
            using var stream = File.OpenRead(path);
            using var reader = new BinaryReader(stream);
            byte[] magic = reader.ReadBytes(Magic.Length);
            bool version2 = magic.AsSpan().SequenceEqual(MagicVersion2);
            if (!version2 && !magic.AsSpan().SequenceEqual(Magic))
                throw new CheckpointFormatException($"{path}: not a GpuMlp checkpoint (bad magic)");
            int jsonLength = reader.ReadInt32();
            if (jsonLength <= 0 || jsonLength > stream.Length - stream.Position)
                throw new CheckpointFormatException($"{path}: state length {jsonLength} is beyond the file");
            var state = JsonSerializer.Deserialize<CheckpointState>(reader.ReadBytes(jsonLength), Json)
                ?? throw new CheckpointFormatException($"{path}: empty state");
            float[] ReadArray(string what)
            {
                int length = reader.ReadInt32();
                if (length < 0 || (long)length * sizeof(float) > stream.Length - stream.Position)
                    throw new CheckpointFormatException($"{path}: {what} length {length} is beyond the file");
                var values = new float[length];
                stream.ReadExactly(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()));
                return values;
            }
            float[] parameters, best, epochLoss, epochPrediction;
            var tensors = new Dictionary<string, float[]>(StringComparer.Ordinal);
            if (version2)
            {
                parameters = ReadArray("parameters");
                tensors[Optimizers.ExpAvg] = ReadArray("first moment");
                tensors[Optimizers.ExpAvgSq] = ReadArray("second moment");
                best = ReadArray("best parameters");
                epochLoss = ReadArray("epoch losses");
                epochPrediction = ReadArray("epoch predictions");
                ValidateState(state, path);
                if (state.Options.Optimizer.Kind != OptimizerKind.Adam || state.OptimizerTensors is not null)
                    throw new CheckpointFormatException($"{path}: invalid checkpoint state: format 2 stores Adam state only");
                state = state with { OptimizerSteps = state.Version2AdamSteps ?? 0, Version2AdamSteps = null, OptimizerTensors = state.Options.EffectiveOptimizer.StateNames };
            }
            else
            {
                parameters = ReadArray("parameters");
                best = ReadArray("best parameters");
                epochLoss = ReadArray("epoch losses");
                epochPrediction = ReadArray("epoch predictions");
                ValidateState(state, path);
                var names = state.Options.EffectiveOptimizer.StateNames;
                if (state.OptimizerTensors is null || state.Version2AdamSteps is not null
                    || !state.OptimizerTensors.SequenceEqual(names, StringComparer.Ordinal))
                    throw new CheckpointFormatException(
                        // The file's names are not quoted: they may be any bytes.
                        $"{path}: invalid checkpoint state: {state.Options.EffectiveOptimizer.Kind.Name()} with these settings keeps [{string.Join(", ", names)}], but optimizer_tensors lists {(state.OptimizerTensors is null ? "none" : $"{state.OptimizerTensors.Count} other names")}");
                foreach (string name in names)
                    tensors[name] = ReadArray($"optimizer {name}");
            }
            float[] layerState = state.LayerStateTensors is null ? [] : ReadArray("layer state");
            float[] bestLayerState = state.LayerStateTensors is null ? [] : ReadArray("best layer state");
            float[]? averageParameters = state.Options.EmaDecay is null ? null : ReadArray("weight average");
            if (stream.Position != stream.Length)
                throw new CheckpointFormatException($"{path}: {stream.Length - stream.Position} unexpected trailing bytes");
            Require(state.OptimizerSteps >= 0, path, "negative step counters");
            var schema = RecordedSchema.Read(state.InputShape, state.ClassNames);
            network ??= state.Options.Network(schema);
            int expected = network.ParameterCount;
            if (parameters.Length != expected || tensors.Values.Any(t => t.Length != expected)
                || (best.Length != 0 && best.Length != expected) || (averageParameters is not null && averageParameters.Length != expected))
                throw new CheckpointFormatException($"{path}: tensor sizes do not match the {state.Options.NetworkName(network)} network it describes");
            foreach (var (values, what) in new[] { (parameters, "weights"), (best, "best weights"), (epochLoss, "epoch losses"), (layerState, "layer state"), (bestLayerState, "best layer state"), (averageParameters ?? [], "weight average") }
                .Concat(tensors.Select(t => (t.Value, $"optimizer {t.Key}"))))
            {
                int bad = Array.FindIndex(values, v => !float.IsFinite(v));
                if (bad >= 0)
                    throw new CheckpointFormatException($"{path}: {what} contain {values[bad]} at index {bad}");
            }
            // Averages of squares are never negative; a negative one would put a NaN into every step.
            foreach (string name in state.Options.Optimizer.Definition.NonNegativeStateNames)
            {
                if (tensors.TryGetValue(name, out var squares) && Array.FindIndex(squares, v => v < 0) is int negative and >= 0)
                    throw new CheckpointFormatException($"{path}: optimizer {name} is negative ({squares[negative]}) at index {negative}");
            }
            if (state.StepsIntoEpoch < 0 || epochLoss.Length != epochPrediction.Length
                || (state.StepsIntoEpoch == 0) != (epochLoss.Length == 0)
                || epochPrediction.Any(p => p < 0 || p >= schema.Classes || p != MathF.Floor(p)))
                throw new CheckpointFormatException($"{path}: inconsistent mid-epoch state");
            var checkpoint = new Checkpoint
            {
                State = state,
                Parameters = parameters,
                LayerState = layerState,
                Optimizer = new OptimizerState(state.Options.Optimizer.Kind, state.OptimizerSteps, tensors),
                BestParameters = best.Length == 0 ? null : best,
                BestLayerState = bestLayerState.Length == 0 ? null : bestLayerState,
                AverageParameters = averageParameters,
                Partial = state.StepsIntoEpoch == 0
                    ? null
                    : new PartialEpoch(state.EpochsCompleted + 1, state.StepsIntoEpoch, epochLoss, epochPrediction.Select(p => (int)p).ToArray()),
            };
            checkpoint.CheckLayerState(network, path);
            return checkpoint;
        }
        catch (JsonException error)
        {
            // JsonException messages quote the offending text, which may be binary garbage.
            throw new CheckpointFormatException($"{path}: corrupt checkpoint (invalid state JSON at byte {error.BytePositionInLine})", error);
        }
        catch (Exception error) when (error is EndOfStreamException or NotSupportedException or InvalidOperationException or ArgumentException)
        {
            throw new CheckpointFormatException($"{path}: corrupt checkpoint ({error.GetType().Name.Replace("Exception", "", StringComparison.Ordinal)})", error);
        }
    }

    /// <summary>The JSON state can be syntactically valid and still meaningless (nulls, negative
    /// counters, an impossible network): refuse it before anything is allocated from it.</summary>
    private static void Require(bool condition, string path, string what)
    {
        if (!condition)
            throw new CheckpointFormatException($"{path}: invalid checkpoint state: {what}");
    }

    private static void ValidateState(CheckpointState state, string path)
    {
        void Require(bool condition, string what) => Checkpoint.Require(condition, path, what);
        Require(state.Options is not null, "no options");
        var options = state.Options!;
        Require(options.Hidden is not null && options.Hidden.Count > 0 && options.Hidden.All(h => h is >= 1 and <= 65536), "bad hidden layer widths");
        Require(state.History is not null && state.History.All(e => e is not null), "no history");
        Require(state.Device is not null, "no device");
        Require(options.Epochs >= 1 && state.EpochsCompleted >= 0 && state.EpochsCompleted <= options.Epochs, "epoch counters out of range");
        Require(state.History!.Count == state.EpochsCompleted, "history length differs from the epochs completed");
        Require(state.OptimizerSteps >= 0 && state.Version2AdamSteps is null or >= 0 && state.StepsIntoEpoch >= 0, "negative step counters");
        ImageSchema schema;
        try
        {
            schema = RecordedSchema.Read(state.InputShape, state.ClassNames);
        }
        catch (DataFormatException error)
        {
            throw new CheckpointFormatException($"{path}: invalid checkpoint state: {error.Message}");
        }
        try
        {
            options.Validate(schema, int.MaxValue);
        }
        catch (ArgumentException error)
        {
            throw new CheckpointFormatException($"{path}: invalid checkpoint configuration: {error.Message}");
        }
    }
}
