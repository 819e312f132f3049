using System.Text.Json.Nodes;
using GpuMlp.Tests.Fuzz;
using GpuMlp.Training;

namespace GpuMlp.Tests.Training;

/// <summary>The learning rate lives in the optimiser's settings alone, yet a checkpoint's options keep
/// the top-level "learning_rate" they always had: files written before and after read the same.</summary>
public sealed class CheckpointLearningRateTests : IDisposable
{
    private readonly TempDir dir = new();

    public void Dispose() => dir.Dispose();

    /// <summary>The options' keys, in the order every checkpoint so far has written them.</summary>
    private static readonly string[] OptionKeys =
    [
        "epochs", "batch_size", "learning_rate", "optimizer", "dropout", "hidden", "architecture_text", "seed", "validation_split",
        "limit_train", "evaluation_batch_size", "early_stop_patience", "schedule", "augment_shift", "progress_updates_per_epoch", "is_mlp",
    ];

    [Fact]
    public void Save_OptimizersLearningRate_IsWrittenUnderTheOptionsLearningRateKeyAsBefore()
    {
        var checkpoint = Load(FuzzSeeds.Checkpoint);
        var sgd = new OptimizerSettings(OptimizerKind.Sgd) { LearningRate = 0.05f, Momentum = 0.9f };
        var rewritten = new Checkpoint
        {
            State = checkpoint.State with { Options = checkpoint.State.Options with { Optimizer = sgd } },
            Parameters = checkpoint.Parameters,
            Optimizer = new OptimizerState(OptimizerKind.Sgd, 12, new Dictionary<string, float[]>(StringComparer.Ordinal)
            {
                [Optimizers.MomentumBuffer] = new float[checkpoint.Parameters.Length],
            }),
        };
        string path = Path.Combine(dir.Path, "sgd.bin");
        rewritten.Save(path);

        var options = StateJson(File.ReadAllBytes(path))["options"]!.AsObject();
        Assert.Equal(OptionKeys, options.Select(p => p.Key));
        Assert.Equal(0.05f, options["learning_rate"]!.GetValue<float>());
        Assert.Equal(0.05f, options["optimizer"]!["learning_rate"]!.GetValue<float>());
        Assert.Equal(sgd, Checkpoint.Load(path).State.Options.Optimizer);
    }

    [Fact]
    public void Load_OldFileWhoseOptionsLearningRateDiffersFromTheOptimizers_TrainsAtTheOptionsRate()
    {
        // Before the rate lived in the optimiser alone, the options' learning_rate was the one used.
        var old = WithStateJson(FuzzSeeds.Checkpoint, state =>
        {
            state["options"]!["learning_rate"] = 0.0025f;
            state["options"]!["optimizer"]!["learning_rate"] = 0.001f;
        });

        var options = Load(old).State.Options;

        Assert.Equal(0.0025f, options.Optimizer.LearningRate);
        Assert.Equal(0.0025f, options.LearningRateAt(1));
        Assert.Equal(new OptimizerSettings(OptimizerKind.Adam) { LearningRate = 0.0025f }, options.Optimizer);
    }

    [Fact]
    public void Load_Version2FileWithoutOptimizer_IsAdamAtTheOptionsLearningRate()
    {
        var old = WithStateJson(FuzzSeeds.Version2Checkpoint, state => state["options"]!["learning_rate"] = 0.004f);

        var options = Load(old).State.Options;

        Assert.Equal(new OptimizerSettings(OptimizerKind.Adam) { LearningRate = 0.004f }, options.Optimizer);
    }

    private Checkpoint Load(byte[] bytes)
    {
        string path = Path.Combine(dir.Path, $"{Guid.NewGuid():N}.bin");
        File.WriteAllBytes(path, bytes);
        return Checkpoint.Load(path);
    }

    private static JsonObject StateJson(byte[] checkpoint) =>
        JsonNode.Parse(checkpoint.AsSpan(12, BitConverter.ToInt32(checkpoint, 8)))!.AsObject();

    /// <summary>The checkpoint with its state JSON changed by <paramref name="change"/> (the tensors kept).</summary>
    private static byte[] WithStateJson(byte[] checkpoint, Action<JsonObject> change)
    {
        int length = BitConverter.ToInt32(checkpoint, 8);
        var state = StateJson(checkpoint);
        change(state);
        byte[] json = System.Text.Encoding.UTF8.GetBytes(state.ToJsonString());
        return [.. checkpoint.AsSpan(0, 8), .. BitConverter.GetBytes(json.Length), .. json, .. checkpoint.AsSpan(12 + length)];
    }
}
