using GpuMlp.Tests.Data;
using GpuMlp.Training;
using GpuMlp.Tuning;

namespace GpuMlp.Tests.Tuning;

/// <summary>The real objective on a tiny network and 600 images (the only tuning test that
/// trains): continuing a live trainer, restoring a trial checkpoint and training again from scratch
/// give bit-identical validation results, and none of them touches the test set.</summary>
[Collection(DeviceCollection.Name)]
public sealed class TrainerObjectiveTests(DeviceFixture fixture) : IDisposable
{
    private readonly TempDir dir = new();

    public void Dispose() => dir.Dispose();

    private static readonly TrainingOptions Template = new() { Seed = 5, ValidationSplit = 0.2, LimitTrain = 600 };
    private static readonly TrialConfig Config = new(50, 0.002f, 0.1f, [24]);

    /// <summary>Each optimiser's state goes through the trial checkpoint.</summary>
    private static TrialConfig ConfigFor(string optimizer) => optimizer switch
    {
        "sgd" => Config with { LearningRate = 0.05f, Optimizer = new OptimizerSettings(OptimizerKind.Sgd) { Momentum = 0.9f, Nesterov = true } },
        "rmsprop" => Config with { LearningRate = 0.001f, Optimizer = new OptimizerSettings(OptimizerKind.Rmsprop) { Momentum = 0.5f, Centered = true } },
        _ => Config,
    };

    [Theory]
    [InlineData("adam")]
    [InlineData("sgd")]
    [InlineData("rmsprop")]
    public void Run_LiveCheckpointedOrReplayedTrial_GivesTheSameResults(string optimizer)
    {
        var config = ConfigFor(optimizer);
        var cancel = TestContext.Current.CancellationToken;
        using var data = new DeviceImageDataset(fixture.Device.Accelerator, RealMnist.Load());
        string checkpoints = Path.Combine(dir.Path, "trials");

        // Live: epochs 1, then 2-3 on the same trainer.
        List<TrialEpoch> live;
        using (var objective = new TrainerObjective(fixture.KernelDevice, data, Template, checkpoints))
        {
            live = [.. objective.Run(new TrialRun(0, config, 1, 1, KeepState: true), cancel)];
            Assert.True(File.Exists(objective.CheckpointPath(0)));
            Assert.Equal(1, objective.LiveTrials);
            live.AddRange(objective.Run(new TrialRun(0, config, 2, 3, KeepState: false), cancel));
            Assert.Equal(0, objective.Restored + objective.ReplayedEpochs);
        }
        Assert.Equal([1, 2, 3], live.Select(e => e.Epoch));
        Assert.All(live, e => Assert.True(e.IsFinite));
        Assert.True(live[2].ValLoss < live[0].ValLoss);

        // A new process: restores epoch 1 from the checkpoint.
        using (var objective = new TrainerObjective(fixture.KernelDevice, data, Template, checkpoints))
        {
            var restored = objective.Run(new TrialRun(0, config, 2, 3, KeepState: false), cancel);
            Assert.Equal((1, 0), (objective.Restored, objective.ReplayedEpochs));
            Assert.Equal(live.Skip(1).Select(e => (e.ValLoss, e.ValAccuracy, e.TrainLoss)), restored.Select(e => (e.ValLoss, e.ValAccuracy, e.TrainLoss)));
            objective.Release(0);
            Assert.False(File.Exists(objective.CheckpointPath(0)));
            Assert.Equal(0, objective.LiveTrials);
        }

        // No checkpoint: epoch 1 is trained again from scratch.
        using (var objective = new TrainerObjective(fixture.KernelDevice, data, Template, checkpoints))
        {
            var replayed = objective.Run(new TrialRun(0, config, 2, 3, KeepState: false), cancel);
            Assert.Equal((0, 1), (objective.Restored, objective.ReplayedEpochs));
            Assert.Equal(live.Skip(1).Select(e => (e.ValLoss, e.ValAccuracy)), replayed.Select(e => (e.ValLoss, e.ValAccuracy)));
        }
    }

    [Fact]
    public void Run_InterleavedTrials_DoNotInterfere()
    {
        var cancel = TestContext.Current.CancellationToken;
        using var data = new DeviceImageDataset(fixture.Device.Accelerator, RealMnist.Load());
        var other = new TrialConfig(30, 0.004f, 0.3f, [40, 20]);
        List<TrialEpoch> interleaved;
        using (var objective = new TrainerObjective(fixture.KernelDevice, data, Template, null))
        {
            interleaved = [.. objective.Run(new TrialRun(0, Config, 1, 1, KeepState: true), cancel)];
            objective.Run(new TrialRun(1, other, 1, 1, KeepState: true), cancel);
            objective.Run(new TrialRun(2, Config with { BatchSize = 20 }, 1, 1, KeepState: true), cancel);
            objective.Release(1);
            interleaved.AddRange(objective.Run(new TrialRun(0, Config, 2, 2, KeepState: false), cancel));
            Assert.Equal(0, objective.ReplayedEpochs);
        }
        using (var objective = new TrainerObjective(fixture.KernelDevice, data, Template, null))
        {
            var alone = objective.Run(new TrialRun(0, Config, 1, 2, KeepState: false), cancel);
            Assert.Equal(alone.Select(e => (e.TrainLoss, e.ValLoss, e.ValAccuracy)), interleaved.Select(e => (e.TrainLoss, e.ValLoss, e.ValAccuracy)));
        }
    }

    [Fact]
    public void Release_UnknownTrial_IsANoOp()
    {
        using var data = new DeviceImageDataset(fixture.Device.Accelerator, RealMnist.Load());
        using var objective = new TrainerObjective(fixture.KernelDevice, data, Template, Path.Combine(dir.Path, "never-created"));
        objective.Release(3);
        Assert.Equal(0, objective.LiveTrials);
    }

    [Fact]
    public void Constructor_TemplateWithoutValidation_IsRefused()
    {
        using var data = new DeviceImageDataset(fixture.Device.Accelerator, RealMnist.Load());
        var error = Assert.Throws<OptionException>(() =>
            new TrainerObjective(fixture.KernelDevice, data, Template with { ValidationSplit = 0 }, null));
        Assert.StartsWith("--val-split", error.Message, StringComparison.Ordinal);
    }
}
