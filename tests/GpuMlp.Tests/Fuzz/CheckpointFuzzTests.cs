using CsCheck;
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

    private static readonly Gen<Mutation> Kinds = Gen.Frequency(
        (3, Mutate.Generic),
        (1, Gen.OneOf([.. FuzzSeeds.CheckpointFields().Select(f => Mutate.Field(f.Name, f.Offset, 4))])),
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
        Outcome.Require(state.AdamSteps >= 0, $"adam_steps is {state.AdamSteps}");
        try
        {
            state.Options!.Validate(int.MaxValue);
        }
        catch (ArgumentException error)
        {
            throw new InvalidOperationException($"parsed successfully but its options are invalid: {error.Message}", error);
        }
        Outcome.Require(state.Options.EvaluationBatchSize >= 1, $"evaluation_batch_size is {state.Options.EvaluationBatchSize}");
        int expected = NetworkShape.Mnist(state.Options.Hidden!).ParameterCount;
        float[] firstMoment = checkpoint.Optimizer.Tensors[Optimizers.ExpAvg], secondMoment = checkpoint.Optimizer.Tensors[Optimizers.ExpAvgSq];
        Outcome.Require(checkpoint.Parameters.Length == expected && firstMoment.Length == expected
            && secondMoment.Length == expected && (checkpoint.BestParameters is null || checkpoint.BestParameters.Length == expected),
            "tensor sizes do not match the network");
        Outcome.Require(checkpoint.Parameters.All(float.IsFinite) && firstMoment.All(float.IsFinite)
            && (checkpoint.BestParameters ?? []).All(float.IsFinite), "a parameter or first moment is NaN or infinite");
        Outcome.Require(secondMoment.All(v => float.IsFinite(v) && v >= 0), "a second moment is negative, NaN or infinite");
    }

    [Fact]
    public void CheckpointLoad_MutatedFiles_LoadUsablyOrFailWithAFormatError()
    {
        Mutate.Some(Kinds).Sample(mutations => Check(Mutation.ApplyAll(FuzzSeeds.Checkpoint, mutations)), iter: Cases, print: Mutate.Print);
    }

    [Fact]
    public void CheckpointLoad_UnmutatedSeed_Loads()
    {
        Check(FuzzSeeds.Checkpoint);
        string file = path.Value!;
        Assert.Equal(1, Checkpoint.Load(file).State.EpochsCompleted);
    }
}
