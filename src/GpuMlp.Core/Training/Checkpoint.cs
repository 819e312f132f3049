using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using GpuMlp.Runs;

namespace GpuMlp.Training;

/// <summary>A checkpoint file that is truncated, corrupt or from another configuration.</summary>
public sealed class CheckpointFormatException : Exception
{
    public CheckpointFormatException(string message) : base(message) { }
    public CheckpointFormatException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>Everything but the tensors: enough to continue a run exactly where it stopped.</summary>
public sealed record CheckpointState
{
    public required TrainingOptions Options { get; init; }
    public required int EpochsCompleted { get; init; }
    public required long AdamSteps { get; init; }
    public double? BestValidationLoss { get; init; }
    public int BestEpoch { get; init; }
    public int EpochsWithoutImprovement { get; init; }
    public required IReadOnlyList<EpochRecord> History { get; init; }
    public required string Device { get; init; }
    public double TrainSeconds { get; init; }
    public double CompileSeconds { get; init; }
}

/// <summary>The full training state after an epoch. Layout (little-endian): "GPUMLPC1", int32 JSON
/// length, UTF-8 JSON state, then four float32 arrays each preceded by its int32 length:
/// parameters, Adam first moment, Adam second moment, best parameters (length 0 when not kept).
/// Written atomically, so a crash leaves the previous checkpoint intact.</summary>
public sealed class Checkpoint
{
    public const string FileName = "checkpoint.bin";
    private static readonly byte[] Magic = "GPUMLPC1"u8.ToArray();
    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public required CheckpointState State { get; init; }
    public required float[] Parameters { get; init; }
    public required float[] FirstMoment { get; init; }
    public required float[] SecondMoment { get; init; }
    public float[]? BestParameters { get; init; }

    public void Save(string path) => AtomicFile.Write(path, stream =>
    {
        using var writer = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true);
        writer.Write(Magic);
        byte[] json = JsonSerializer.SerializeToUtf8Bytes(State, Json);
        writer.Write(json.Length);
        writer.Write(json);
        foreach (var array in new[] { Parameters, FirstMoment, SecondMoment, BestParameters ?? [] })
        {
            writer.Write(array.Length);
            writer.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(array.AsSpan()));
        }
    });

    public static Checkpoint Load(string path)
    {
        if (!File.Exists(path))
            throw new FileNotFoundException($"no checkpoint at {path}", path);
        try
        {
            using var stream = File.OpenRead(path);
            using var reader = new BinaryReader(stream);
            if (!reader.ReadBytes(Magic.Length).AsSpan().SequenceEqual(Magic))
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
            var parameters = ReadArray("parameters");
            var first = ReadArray("first moment");
            var second = ReadArray("second moment");
            var best = ReadArray("best parameters");
            if (stream.Position != stream.Length)
                throw new CheckpointFormatException($"{path}: {stream.Length - stream.Position} unexpected trailing bytes");
            int expected = NetworkShape.Mnist(state.Options.Hidden).ParameterCount;
            if (parameters.Length != expected || first.Length != expected || second.Length != expected
                || (best.Length != 0 && best.Length != expected))
                throw new CheckpointFormatException($"{path}: tensor sizes do not match the {NetworkShape.Mnist(state.Options.Hidden)} network it describes");
            return new Checkpoint
            {
                State = state,
                Parameters = parameters,
                FirstMoment = first,
                SecondMoment = second,
                BestParameters = best.Length == 0 ? null : best,
            };
        }
        catch (Exception error) when (error is EndOfStreamException or JsonException or NotSupportedException)
        {
            throw new CheckpointFormatException($"{path}: corrupt checkpoint ({error.Message})", error);
        }
    }
}
