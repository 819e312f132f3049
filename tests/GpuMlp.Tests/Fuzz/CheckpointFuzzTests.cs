using CsCheck;
using GpuMlp.Data;
using GpuMlp.Training;

namespace GpuMlp.Tests.Fuzz;

/// <summary>Mutated checkpoint.bin files: Checkpoint.Load either returns a checkpoint that
/// `train --resume` can use (state present and consistent, tensors sized for the network it
/// describes and finite) or throws CheckpointFormatException with a one-line message naming the
/// file. Anything else fails. Load takes a path, so every case is written to a temp file.</summary>
public sealed class CheckpointFuzzTests : IDisposable
{
    public const int Cases = 10_000;

    private readonly string dir = Directory.CreateTempSubdirectory("gpumlp-fuzz-checkpoint-").FullName;
    private readonly ThreadLocal<string> path;

    public CheckpointFuzzTests()
    {
        path = new ThreadLocal<string>(() => Path.Combine(dir, $"checkpoint-{Environment.CurrentManagedThreadId}.bin"));
    }

    public void Dispose()
    {
        path.Dispose();
        Directory.Delete(dir, recursive: true);
    }

    /// <summary>Cases for each of the other seeds (format 3 RMSprop, format 2 Adam).</summary>
    public const int OtherSeedCases = 3_000;

    private static Gen<Mutation> Kinds(byte[] seed) => Gen.Frequency(
        (3, Mutate.Generic),
        (1, Gen.OneOf([.. FuzzSeeds.CheckpointFields(seed).Select(f => Mutate.Field(f.Name, f.Offset, 4))])),
        (4, Mutate.Json(new JsonFrame(LengthOffset: 8, LengthWidth: 4, JsonOffset: 12))));

    private void Check(byte[] bytes)
    {
        string file = path.Value!;
        File.WriteAllBytes(file, bytes);
        Checkpoint? checkpoint = null;
        if (Outcome.Of<CheckpointFormatException>(file, () => checkpoint = Checkpoint.Load(file)) is not null)
        {
            return;
        }

        // What TrainCommand and TrainingRun rely on when they resume from it.
        var state = checkpoint!.State;
        Outcome.Require(state is not null, "the state is null");
        Outcome.Require(state!.Options is not null && state.Options.Hidden is not null, "the options or their hidden widths are null");
        Outcome.Require(state.History is not null && state.History.All(e => e is not null), "the history is null or holds null");
        Outcome.Require(state.Device is not null, "the device is null");
        Outcome.Require(state.EpochsCompleted >= 0 && state.History!.Count == state.EpochsCompleted,
            $"{state.EpochsCompleted} epochs completed but {state.History!.Count} history rows");
        Outcome.Require(state.OptimizerSteps >= 0, $"optimizer_steps is {state.OptimizerSteps}");
        try
        {
            state.Options!.Validate(MnistDataset.Schema, int.MaxValue);
        }
        catch (ArgumentException error)
        {
            throw new InvalidOperationException($"parsed successfully but its options are invalid: {error.Message}", error);
        }
        Outcome.Require(state.Options.EvaluationBatchSize >= 1, $"evaluation_batch_size is {state.Options.EvaluationBatchSize}");
        int expected = MnistNetworks.Mlp(state.Options.Hidden!, 0f).ParameterCount;
        var tensors = checkpoint.Optimizer.Tensors;
        Outcome.Require(checkpoint.Optimizer.Kind == state.Options.Optimizer.Kind
            && tensors.Keys.Order(StringComparer.Ordinal).SequenceEqual(state.Options.Optimizer.StateNames.Order(StringComparer.Ordinal)),
            "the optimizer tensors are not the ones its settings keep");
        Outcome.Require(checkpoint.Parameters.Length == expected && tensors.Values.All(t => t.Length == expected)
            && (checkpoint.BestParameters is null || checkpoint.BestParameters.Length == expected),
            "tensor sizes do not match the network");
        Outcome.Require(checkpoint.Parameters.All(float.IsFinite) && tensors.Values.All(t => t.All(float.IsFinite))
            && (checkpoint.BestParameters ?? []).All(float.IsFinite), "a parameter or optimizer value is NaN or infinite");
        foreach (string squares in new[] { Optimizers.ExpAvgSq, Optimizers.SquareAvg })
            Outcome.Require(!tensors.TryGetValue(squares, out var values) || values.All(v => v >= 0), $"{squares} is negative");
    }

    [Fact]
    public void CheckpointLoad_MutatedFiles_LoadUsablyOrFailWithAFormatError()
    {
        Mutate.Some(Kinds(FuzzSeeds.Checkpoint)).Sample(mutations => Check(Mutation.ApplyAll(FuzzSeeds.Checkpoint, mutations)), iter: Cases, print: Mutate.Print);
    }

    [Fact]
    public void CheckpointLoad_MutatedRmspropFiles_LoadUsablyOrFailWithAFormatError()
    {
        Mutate.Some(Kinds(FuzzSeeds.RmspropCheckpoint)).Sample(mutations => Check(Mutation.ApplyAll(FuzzSeeds.RmspropCheckpoint, mutations)), iter: OtherSeedCases, print: Mutate.Print);
    }

    [Fact]
    public void CheckpointLoad_MutatedVersion2Files_LoadUsablyOrFailWithAFormatError()
    {
        Mutate.Some(Kinds(FuzzSeeds.Version2Checkpoint)).Sample(mutations => Check(Mutation.ApplyAll(FuzzSeeds.Version2Checkpoint, mutations)), iter: OtherSeedCases, print: Mutate.Print);
    }

    [Fact]
    public void CheckpointLoad_UnmutatedOtherSeeds_LoadWithTheirOptimizers()
    {
        string file = path.Value!;
        Check(FuzzSeeds.RmspropCheckpoint);
        var rmsprop = Checkpoint.Load(file);
        Assert.Equal(OptimizerKind.Rmsprop, rmsprop.Optimizer.Kind);
        Assert.Equal([Optimizers.SquareAvg, Optimizers.MomentumBuffer, Optimizers.GradAvg], rmsprop.State.OptimizerTensors);
        Assert.Equal(12, rmsprop.Optimizer.Steps);
        Check(FuzzSeeds.Version2Checkpoint);
        var adam = Checkpoint.Load(file);
        Assert.Equal(OptimizerKind.Adam, adam.Optimizer.Kind);
        Assert.Equal(12, adam.Optimizer.Steps);
        File.WriteAllBytes(file, FuzzSeeds.Checkpoint);
        var version3 = Checkpoint.Load(file);
        Assert.Equal(version3.Parameters, adam.Parameters);
        Assert.Equal(version3.Optimizer.Tensors[Optimizers.ExpAvgSq], adam.Optimizer.Tensors[Optimizers.ExpAvgSq]);
    }

    [Fact]
    public void CheckpointLoad_UnmutatedSeed_Loads()
    {
        Check(FuzzSeeds.Checkpoint);
        string file = path.Value!;
        Assert.Equal(1, Checkpoint.Load(file).State.EpochsCompleted);
    }
}
