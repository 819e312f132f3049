using GpuMlp.Models;
using GpuMlp.Runs;
using GpuMlp.Tests.Data;
using GpuMlp.Training;

namespace GpuMlp.Tests.Fuzz;

/// <summary>The small valid files every fuzz property starts from, built once.</summary>
internal static class FuzzSeeds
{
    /// <summary>3 images of 4x5 pixels.</summary>
    public static readonly byte[] Images = Idx.Images(3, 4, 5, Idx.Pixels(60, seed: 3));

    /// <summary>8 labels, 0-9.</summary>
    public static readonly byte[] Labels = Idx.Labels(0, 9, 3, 1, 4, 1, 5, 9);

    public static readonly byte[] ImagesGz = Mutate.Gzip(Images);

    public static readonly byte[] LabelsGz = Mutate.Gzip(Labels);

    /// <summary>A 4-3-2 network's parameters.</summary>
    public static readonly Architecture ModelShape = Architecture.Mlp(4, [3], 2, 0f);

    /// <summary>A model.safetensors of <see cref="ModelShape"/> as ModelFile.SaveMlp writes it.</summary>
    public static readonly byte[] Model = SaveModel();

    /// <summary>The hidden widths of the checkpoint's network (784-1-10: 805 parameters).</summary>
    public static readonly int[] CheckpointHidden = [1];

    /// <summary>A checkpoint.bin (format 3, Adam) after epoch 1 of 3, as TrainingRun writes it.</summary>
    public static readonly byte[] Checkpoint = SaveCheckpoint(new OptimizerSettings(OptimizerKind.Adam));

    /// <summary>The same run with centered RMSprop with momentum: three state tensors of format 3.</summary>
    public static readonly byte[] RmspropCheckpoint = SaveCheckpoint(
        new OptimizerSettings(OptimizerKind.Rmsprop) { Momentum = 0.5f, Centered = true, WeightDecay = 1e-4f });

    /// <summary>The Adam checkpoint as format 2 ("GPUMLPC2", adam_steps, the moments in fixed places)
    /// wrote it, which Load still reads.</summary>
    public static readonly byte[] Version2Checkpoint = Version2(Checkpoint);

    /// <summary>Offsets of a checkpoint's length fields: the JSON length, then each float array's
    /// (parameters, best parameters, ..., optimizer tensors: however many the format has).</summary>
    public static IReadOnlyList<(string Name, int Offset)> CheckpointFields(byte[] checkpoint)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        int json = BitConverter.ToInt32(checkpoint, 8);
        int at = 12 + json;
        var fields = new List<(string, int)> { ("json length", 8) };
        for (int array = 0; at + 4 <= checkpoint.Length; array++)
        {
            fields.Add(($"array {array} length", at));
            at += 4 + (4 * BitConverter.ToInt32(checkpoint, at));
        }
        return fields;
    }

    /// <summary>Rewrites a format-3 Adam checkpoint in format 2's layout.</summary>
    private static byte[] Version2(byte[] version3)
    {
        int jsonLength = BitConverter.ToInt32(version3, 8);
        var state = System.Text.Json.Nodes.JsonNode.Parse(version3.AsSpan(12, jsonLength))!.AsObject();
        long steps = state["optimizer_steps"]!.GetValue<long>();
        state.Remove("optimizer_steps");
        state.Remove("optimizer_tensors");
        state["adam_steps"] = steps;
        state["options"]!.AsObject().Remove("optimizer");
        var arrays = new List<byte[]>();
        for (int at = 12 + jsonLength; at < version3.Length;)
        {
            int length = BitConverter.ToInt32(version3, at);
            arrays.Add(version3[at..(at + 4 + (4 * length))]);
            at += 4 + (4 * length);
        }
        // Format 3: parameters, best, losses, predictions, exp_avg, exp_avg_sq;
        // format 2: parameters, exp_avg, exp_avg_sq, best, losses, predictions.
        byte[] json = System.Text.Encoding.UTF8.GetBytes(state.ToJsonString());
        return [.. "GPUMLPC2"u8, .. BitConverter.GetBytes(json.Length), .. json,
            .. arrays[0], .. arrays[4], .. arrays[5], .. arrays[1], .. arrays[2], .. arrays[3]];
    }

    private static byte[] SaveModel()
    {
        float[] parameters = ModelShape.InitialParameters(7);
        string path = Path.Combine(Path.GetTempPath(), $"gpumlp-fuzz-{Guid.NewGuid():N}.safetensors");
        try
        {
            ModelFile.SaveMlp(path, ModelShape, parameters, new Dictionary<string, string> { ["gpumlp.seed"] = "7" });
            return File.ReadAllBytes(path);
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static byte[] SaveCheckpoint(OptimizerSettings optimizer)
    {
        var options = new TrainingOptions { Hidden = CheckpointHidden, Epochs = 3, BatchSize = 4, Seed = 5, Optimizer = optimizer };
        var shape = MnistNetworks.Mlp(CheckpointHidden, 0f);
        var checkpoint = new Checkpoint
        {
            State = new CheckpointState
            {
                Options = options,
                EpochsCompleted = 1,
                OptimizerSteps = 12,
                BestValidationLoss = 2.25,
                BestEpoch = 1,
                History = [new EpochRecord(1, 2.3, 0.11, 2.25, 0.125, 0.5, 1000)],
                Device = "cpu: CPUAccelerator",
                TrainSeconds = 0.5,
                CompileSeconds = 1.5,
            },
            Parameters = shape.InitialParameters(5),
            Optimizer = new OptimizerState(optimizer.Kind, 12, optimizer.StateNames.ToDictionary(
                name => name,
                name => name is Optimizers.ExpAvgSq or Optimizers.SquareAvg
                    ? Enumerable.Range(0, shape.ParameterCount).Select(i => (i % 5) * 1e-6f).ToArray()
                    : Enumerable.Range(0, shape.ParameterCount).Select(i => (i % 7 - 3) * 1e-3f).ToArray(),
                StringComparer.Ordinal)),
        };
        string path = Path.Combine(Path.GetTempPath(), $"gpumlp-fuzz-{Guid.NewGuid():N}.bin");
        try
        {
            checkpoint.Save(path);
            return File.ReadAllBytes(path);
        }
        finally
        {
            File.Delete(path);
        }
    }
}

/// <summary>The only outcomes a parser may have on bad input: success, or its documented
/// exception with a one-line message that starts with the file's name.</summary>
internal static class Outcome
{
    /// <summary>Runs <paramref name="parse"/>; returns the error it documented, null on success,
    /// and lets every other exception escape (which fails the property).</summary>
    public static TError? Of<TError>(string name, Action parse)
        where TError : Exception
    {
        try
        {
            parse();
            return null;
        }
        catch (TError error)
        {
            if (error.Message.Length == 0 || error.Message.Contains('\n', StringComparison.Ordinal) || error.Message.Contains('\r', StringComparison.Ordinal))
            {
                throw new InvalidOperationException($"{typeof(TError).Name} message is not one line: \"{error.Message}\"", error);
            }
            if (error.Message.Any(char.IsControl) || error.Message.Contains('\uFFFD', StringComparison.Ordinal))
            {
                throw new InvalidOperationException($"{typeof(TError).Name} message holds control characters or undecodable bytes: {System.Text.Json.JsonSerializer.Serialize(error.Message)}", error);
            }
            if (!error.Message.StartsWith(name + ": ", StringComparison.Ordinal))
            {
                throw new InvalidOperationException($"{typeof(TError).Name} message does not start with the file name {name}: \"{error.Message}\"", error);
            }
            return error;
        }
    }

    public static void Require(bool condition, string what)
    {
        if (!condition)
        {
            throw new InvalidOperationException($"parsed successfully but {what}");
        }
    }
}
