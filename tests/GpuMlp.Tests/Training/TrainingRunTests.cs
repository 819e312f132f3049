using GpuMlp.Data;
using GpuMlp.Models;
using GpuMlp.Runs;
using GpuMlp.Tests.Data;
using GpuMlp.Training;

namespace GpuMlp.Tests.Training;

/// <summary>The run layer in process on a tiny network: a run folder from start to finished
/// artifacts, inference from that folder, an interrupted epoch carried out by the exception and
/// back in by the record, and which checkpoints a retrain continues.</summary>
[Collection(DeviceCollection.Name)]
public sealed class TrainingRunTests(DeviceFixture fixture) : IDisposable
{
    private readonly TempDir dir = new();

    public void Dispose() => dir.Dispose();

    private static readonly TrainingOptions Tiny = new()
    {
        Epochs = 2,
        BatchSize = 50,
        LimitTrain = 500,
        ValidationSplit = 0.2,
        Hidden = [16],
        Seed = 2,
    };

    [Fact]
    public void TrainingRun_StartTrainFinish_WritesEveryArtifactAndTheModelReproducesTheTest()
    {
        var cancel = TestContext.Current.CancellationToken;
        using var data = new DeviceImageDataset(fixture.Device.Accelerator, RealMnist.Load());
        string folder = Path.Combine(dir.Path, "run");
        EvaluationResult test;
        using (var run = TrainingRun.Start(folder, Tiny, fixture.KernelDevice, data))
        {
            Assert.Null(run.ResumedAt);
            var outcome = run.Train(cancel: cancel);
            Assert.Equal([1, 2], outcome.History.Select(e => e.Epoch));
            test = run.Finish(outcome);
        }

        foreach (string file in new[] { RunArtifacts.ConfigFileName, RunArtifacts.HistoryFileName, RunArtifacts.MetricsFileName, Checkpoint.FileName,
            RunArtifacts.ModelFileName, RunArtifacts.CurvesFileName, RunArtifacts.ConfusionFileName })
            Assert.True(File.Exists(Path.Combine(folder, file)), $"{file} missing from the run folder");
        var recorded = RunArtifacts.ReadMetrics(Path.Combine(folder, RunArtifacts.MetricsFileName)).Test;
        Assert.Equal(test.Accuracy, recorded.Accuracy);

        var model = TrainedModel.Load(folder);
        Assert.Equal("784-16-10", model.Name);
        Assert.True(model.IsMlp);
        Assert.Equal(Checkpoint.Load(Path.Combine(folder, Checkpoint.FileName)).Parameters, model.Parameters);
        using var onDevice = model.Upload(fixture.KernelDevice, TrainingOptions.DefaultEvaluationBatchSize);
        var again = onDevice.Evaluate(data.Test);
        Assert.Equal(test.Accuracy, again.Accuracy);
        Assert.Equal(test.Loss, again.Loss);
    }

    [Fact]
    public void TrainingRun_TargetAccuracyReached_StopsAfterThatEpochWithItsWeightsAndRecordsIt()
    {
        var cancel = TestContext.Current.CancellationToken;
        using var data = new DeviceImageDataset(fixture.Device.Accelerator, RealMnist.Load());
        var options = Tiny with { Epochs = 6 };
        var everyEpoch = new List<float[]>();
        IReadOnlyList<EpochRecord> full;
        using (var run = TrainingRun.Start(Path.Combine(dir.Path, "full"), options, fixture.KernelDevice, data))
            full = run.Train(onEpoch: _ => everyEpoch.Add(run.Trainer.ModelParameters()), cancel: cancel).History;
        // The target: the accuracy the third epoch reaches, unless an earlier epoch already did.
        double target = full[2].ValAccuracy!.Value;
        int expected = full.First(r => r.ValAccuracy >= target).Epoch;

        string folder = Path.Combine(dir.Path, "target");
        using (var run = TrainingRun.Start(folder, options with { TargetValidationAccuracy = target }, fixture.KernelDevice, data))
        {
            var outcome = run.Train(cancel: cancel);
            Assert.Equal(expected, outcome.TargetEpoch);
            Assert.Equal(expected, outcome.History.Count);
            Assert.Equal(everyEpoch[expected - 1], run.Trainer.ModelParameters());
            Assert.Equal(expected, outcome.WeightsEpoch);
            Assert.Equal(full.Take(expected).Select(r => r.ValAccuracy), outcome.History.Select(r => r.ValAccuracy));
            run.Finish(outcome, new TargetRecord(target, outcome.TargetEpoch, outcome.TrainSeconds, 12.5));
        }
        var recorded = RunArtifacts.ReadMetrics(Path.Combine(folder, RunArtifacts.MetricsFileName)).Target;
        Assert.Equal(new TargetRecord(target, expected, recorded!.TrainSeconds, 12.5), recorded);
        Assert.True(recorded.TrainSeconds > 0);

        // A resumed run that had reached its target trains no further.
        var checkpoint = Checkpoint.Load(Path.Combine(folder, Checkpoint.FileName));
        using var resumed = TrainingRun.Resume(folder, checkpoint, fixture.KernelDevice, data);
        var again = resumed.Train(cancel: cancel);
        Assert.Equal(expected, again.History.Count);
        Assert.Equal(expected, again.TargetEpoch);
    }

    [Fact]
    public void TrainingRun_TargetAccuracyWithEarlyStop_KeepsTheLowestValidationLossWeightsAndNamesTheirEpoch()
    {
        var cancel = TestContext.Current.CancellationToken;
        using var data = new DeviceImageDataset(fixture.Device.Accelerator, RealMnist.Load());
        // A learning rate high enough that the validation loss rises again while the accuracy still climbs.
        var options = Tiny with { Epochs = 8, Optimizer = new OptimizerSettings(OptimizerKind.Adam) { LearningRate = 0.03f } };
        var everyEpoch = new List<float[]>();
        IReadOnlyList<EpochRecord> full;
        using (var run = TrainingRun.Start(Path.Combine(dir.Path, "full"), options, fixture.KernelDevice, data))
            full = run.Train(onEpoch: _ => everyEpoch.Add(run.Trainer.ModelParameters()), cancel: cancel).History;
        // The target: the first epoch with a new best validation accuracy but not a new lowest
        // validation loss; the early-stopped run keeps the lowest loss's epoch, an earlier one.
        int targetEpoch = Enumerable.Range(2, full.Count - 1).FirstOrDefault(e =>
            full.Take(e - 1).All(r => r.ValAccuracy < full[e - 1].ValAccuracy) && full.Take(e - 1).Any(r => r.ValLoss <= full[e - 1].ValLoss));
        Assert.True(targetEpoch > 0, "no epoch gains accuracy without lowering the validation loss: "
            + string.Join("; ", full.Select(r => $"epoch {r.Epoch} loss {r.ValLoss} accuracy {r.ValAccuracy}")));
        double target = full[targetEpoch - 1].ValAccuracy!.Value;
        double lowestLoss = full.Take(targetEpoch).Min(r => r.ValLoss!.Value);
        int weightsEpoch = full.First(r => r.ValLoss == lowestLoss).Epoch;

        string folder = Path.Combine(dir.Path, "target");
        using (var run = TrainingRun.Start(folder, options with { TargetValidationAccuracy = target, EarlyStopPatience = options.Epochs },
            fixture.KernelDevice, data))
        {
            var outcome = run.Train(cancel: cancel);
            Assert.Equal(targetEpoch, outcome.TargetEpoch);
            Assert.Equal(targetEpoch, outcome.History.Count);
            Assert.Equal(weightsEpoch, outcome.WeightsEpoch);
            Assert.True(weightsEpoch < targetEpoch);
            Assert.Equal(everyEpoch[weightsEpoch - 1], run.Trainer.ModelParameters());
            run.Finish(outcome, new TargetRecord(target, outcome.TargetEpoch, outcome.TrainSeconds, 12.5, outcome.WeightsEpoch));
        }
        var recorded = RunArtifacts.ReadMetrics(Path.Combine(folder, RunArtifacts.MetricsFileName)).Target;
        Assert.Equal(new TargetRecord(target, targetEpoch, recorded!.TrainSeconds, 12.5, weightsEpoch), recorded);
        Assert.Contains($"\"weights_epoch\": {weightsEpoch}", File.ReadAllText(Path.Combine(folder, RunArtifacts.MetricsFileName)), StringComparison.Ordinal);
        Assert.Equal(everyEpoch[weightsEpoch - 1], TrainedModel.Load(folder).Parameters);
    }

    [Fact]
    public void TrainingRun_TargetAccuracyNotReached_TrainsEveryEpochAndWritesNoTargetByDefault()
    {
        var cancel = TestContext.Current.CancellationToken;
        using var data = new DeviceImageDataset(fixture.Device.Accelerator, RealMnist.Load());
        using var run = TrainingRun.Start(Path.Combine(dir.Path, "run"), Tiny with { TargetValidationAccuracy = 1.0 }, fixture.KernelDevice, data);
        var outcome = run.Train(cancel: cancel);
        Assert.Null(outcome.TargetEpoch);
        Assert.Equal(Tiny.Epochs, outcome.History.Count);
        run.Finish(outcome);
        Assert.Null(RunArtifacts.ReadMetrics(Path.Combine(run.Folder, RunArtifacts.MetricsFileName)).Target);
        Assert.DoesNotContain("\"target\"", File.ReadAllText(Path.Combine(run.Folder, RunArtifacts.MetricsFileName)), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0.0, 0.1, "--target-accuracy must be a fraction in (0, 1], e.g. 0.99 (got 0)")]
    [InlineData(99.0, 0.1, "--target-accuracy must be a fraction in (0, 1], e.g. 0.99 (got 99)")]
    [InlineData(0.99, 0.0, "--target-accuracy needs a validation split (--val-split > 0): the target is checked on it after every epoch")]
    public void Validate_TargetAccuracyOutOfRangeOrWithoutValidation_IsAOneLineOptionError(double target, double split, string message)
    {
        var error = Assert.Throws<OptionException>(() =>
            (Tiny with { TargetValidationAccuracy = target, ValidationSplit = split }).Validate(MnistDataset.Schema, 60000));
        Assert.Equal(message, error.Message);
    }

    [Fact]
    public void TrainingRun_InAnOccupiedFolder_IsRefusedAsAnOption()
    {
        using var data = new DeviceImageDataset(fixture.Device.Accelerator, RealMnist.Load());
        File.WriteAllText(Path.Combine(dir.Path, "notes.txt"), "mine");
        var error = Assert.Throws<OptionException>(() => TrainingRun.Start(dir.Path, Tiny, fixture.KernelDevice, data));
        Assert.Contains("not empty", error.Message, StringComparison.Ordinal);
        Assert.Equal(["notes.txt"], dir.Files());
    }

    [Fact]
    public void TrainEpoch_InterruptedBetweenSteps_CarriesThePartialEpochOutAndResumesBitIdentically()
    {
        var options = Tiny with { Epochs = 1, ValidationSplit = 0, Hidden = [24, 12], Dropout = 0.3f };
        using var data = new DeviceImageDataset(fixture.Device.Accelerator, RealMnist.Load());
        using var straight = new Trainer(fixture.KernelDevice, data, options);
        var uninterrupted = straight.TrainEpoch(1, cancel: TestContext.Current.CancellationToken);

        using var stopped = new Trainer(fixture.KernelDevice, data, options);
        using var stop = new CancellationTokenSource();
        var interrupted = Assert.Throws<TrainingInterruptedException>(() => stopped.TrainEpoch(1, progress: p =>
        {
            if (p.SamplesDone == 3 * options.BatchSize)
                stop.Cancel();
        }, cancel: stop.Token));
        var partial = interrupted.Partial;
        Assert.NotNull(partial);
        Assert.Equal((1, 3, 3 * options.BatchSize), (partial.Epoch, partial.Steps, partial.SampleLoss.Length));
        Assert.Equal(3, stopped.Optimizer.Steps);

        var resumed = stopped.TrainEpoch(1, partial, cancel: TestContext.Current.CancellationToken);
        Assert.Equal(uninterrupted.TrainLoss, resumed.TrainLoss);
        Assert.Equal(uninterrupted.TrainAccuracy, resumed.TrainAccuracy);
        Assert.Equal(straight.Network.GetParameters(), stopped.Network.GetParameters());
    }

    [Fact]
    public void TrainEpoch_CancelledBeforeItsFirstStep_CarriesNoPartialEpoch()
    {
        using var data = new DeviceImageDataset(fixture.Device.Accelerator, RealMnist.Load());
        using var trainer = new Trainer(fixture.KernelDevice, data, Tiny);
        var interrupted = Assert.Throws<TrainingInterruptedException>(() => trainer.TrainEpoch(1, cancel: new CancellationToken(canceled: true)));
        Assert.Null(interrupted.Partial);
        Assert.Equal(0, trainer.Optimizer.Steps);
    }

    [Fact]
    public void StartOrResume_OwnOrForeignCheckpoint_ContinuesOrStartsAfresh()
    {
        var cancel = TestContext.Current.CancellationToken;
        using var data = new DeviceImageDataset(fixture.Device.Accelerator, RealMnist.Load());
        string folder = Path.Combine(dir.Path, "final");
        using (var first = TrainingRun.StartOrResume(folder, Tiny with { Epochs = 1 }, fixture.KernelDevice, data))
            first.Train(cancel: cancel);

        using (var same = TrainingRun.StartOrResume(folder, Tiny, fixture.KernelDevice, data))
        {
            Assert.Equal("after epoch 1", same.ResumedAt);
            Assert.Equal(1, same.EpochsCompleted);
        }
        using (var other = TrainingRun.StartOrResume(folder, Tiny with { Seed = 3 }, fixture.KernelDevice, data))
        {
            Assert.Null(other.ResumedAt);
            Assert.Equal(0, other.EpochsCompleted);
        }
    }
}

/// <summary>Every optimiser's state goes through a checkpoint (format 3): a run stopped mid-epoch and
/// resumed from its checkpoint ends with the uninterrupted run's weights and state bit for bit, and a
/// checkpoint of one optimiser does not continue a run of another.</summary>
[Collection(DeviceCollection.Name)]
public sealed class OptimizerResumeTests(DeviceFixture fixture) : IDisposable
{
    private readonly TempDir dir = new();

    public void Dispose() => dir.Dispose();

    private static readonly TrainingOptions Tiny = new()
    {
        Epochs = 2,
        BatchSize = 50,
        LimitTrain = 400,
        ValidationSplit = 0.25,
        Hidden = [12],
        Seed = 6,
    };

    public static TheoryData<string> Optimizers() => ["sgd-momentum", "sgd-nesterov", "rmsprop", "adamw"];

    private static OptimizerSettings Settings(string name) => name switch
    {
        "sgd-momentum" => new OptimizerSettings(OptimizerKind.Sgd) { Momentum = 0.9f, Dampening = 0.1f, WeightDecay = 1e-3f },
        "sgd-nesterov" => new OptimizerSettings(OptimizerKind.Sgd) { Momentum = 0.8f, Nesterov = true },
        "rmsprop" => new OptimizerSettings(OptimizerKind.Rmsprop) { Momentum = 0.5f, Centered = true, WeightDecay = 1e-4f },
        _ => new OptimizerSettings(OptimizerKind.AdamW),
    };

    [Theory]
    [MemberData(nameof(Optimizers))]
    public void TrainingRun_InterruptedMidEpochAndResumed_IsBitIdenticalToAnUninterruptedRun(string name)
    {
        var settings = Settings(name);
        var options = Tiny with { Optimizer = settings };
        var cancel = TestContext.Current.CancellationToken;
        using var data = new DeviceImageDataset(fixture.Device.Accelerator, RealMnist.Load());
        string straight = Path.Combine(dir.Path, "straight"), stopped = Path.Combine(dir.Path, "stopped");
        using (var run = TrainingRun.Start(straight, options, fixture.KernelDevice, data))
            run.Train(cancel: cancel);

        using (var run = TrainingRun.Start(stopped, options, fixture.KernelDevice, data))
        {
            using var stop = new CancellationTokenSource();
            Assert.Throws<TrainingInterruptedException>(() => run.Train(progress: p =>
            {
                if (p.Epoch == 2 && p.SamplesDone == 2 * options.BatchSize)
                    stop.Cancel();
            }, cancel: stop.Token));
        }
        var interrupted = Checkpoint.Load(Path.Combine(stopped, Checkpoint.FileName));
        Assert.Equal((1, 2), (interrupted.State.EpochsCompleted, interrupted.State.StepsIntoEpoch));
        Assert.Equal(settings.StateNames, interrupted.State.OptimizerTensors);
        Assert.Equal(settings, interrupted.State.Options.Optimizer);
        using (var resumed = TrainingRun.Resume(stopped, interrupted, fixture.KernelDevice, data))
            resumed.Train(cancel: cancel);

        var a = Checkpoint.Load(Path.Combine(straight, Checkpoint.FileName));
        var b = Checkpoint.Load(Path.Combine(stopped, Checkpoint.FileName));
        Assert.Equal(a.Optimizer.Steps, b.Optimizer.Steps);
        Assert.True(a.Parameters.AsSpan().SequenceEqual(b.Parameters), $"{name}: resumed weights differ from the uninterrupted run");
        foreach (string tensor in settings.StateNames)
            Assert.True(a.Optimizer.Tensors[tensor].AsSpan().SequenceEqual(b.Optimizer.Tensors[tensor]), $"{name}: {tensor} differs");
        Assert.Equal(a.State.History.Select(e => (e.TrainLoss, e.ValLoss)), b.State.History.Select(e => (e.TrainLoss, e.ValLoss)));
    }

    [Fact]
    public void RestoreInto_CheckpointOfAnotherOptimizer_IsRefusedWithAOneLineFormatError()
    {
        var cancel = TestContext.Current.CancellationToken;
        using var data = new DeviceImageDataset(fixture.Device.Accelerator, RealMnist.Load());
        var sgd = Tiny with { Epochs = 1, Optimizer = Settings("sgd-momentum") with { LearningRate = 0.01f } };
        string folder = Path.Combine(dir.Path, "sgd");
        using (var run = TrainingRun.Start(folder, sgd, fixture.KernelDevice, data))
            run.Train(cancel: cancel);
        var checkpoint = Checkpoint.Load(Path.Combine(folder, Checkpoint.FileName));
        Assert.False(checkpoint.Continues(sgd with { Optimizer = new OptimizerSettings(OptimizerKind.Adam) { LearningRate = 0.01f } }));
        Assert.False(checkpoint.Continues(sgd with { Optimizer = Settings("sgd-momentum") with { Momentum = 0.5f } }));
        Assert.True(checkpoint.Continues(sgd with { Epochs = 3 }));

        using var adam = new Trainer(fixture.KernelDevice, data, Tiny);
        float[] before = adam.Network.GetParameters();
        var error = Assert.Throws<CheckpointFormatException>(() => checkpoint.RestoreInto(adam));
        Assert.Equal("the checkpoint holds sgd state; it cannot continue a run that uses adam", error.Message);
        Assert.Equal(before, adam.Network.GetParameters());

        using var other = TrainingRun.StartOrResume(folder, Tiny with { Epochs = 1 }, fixture.KernelDevice, data);
        Assert.Null(other.ResumedAt);
    }
}

/// <summary>The one "is this the same run?" rule.</summary>
public sealed class RunCompatibilityTests
{
    private static readonly TrainingOptions Options = new() { Epochs = 5, Hidden = [32], Seed = 4 };

    [Fact]
    public void SameTrajectory_OnlyTheEpochCountDiffers_IsTrue()
    {
        Assert.True(Options.SameTrajectory(Options with { Epochs = 9, Hidden = [32], EvaluationBatchSize = 10 }));
    }

    [Fact]
    public void SameTrajectory_AnySettingThatShapesTheUpdatesDiffers_IsFalse()
    {
        foreach (var other in new[]
        {
            Options with { BatchSize = 64 }, Options with { Optimizer = new OptimizerSettings(OptimizerKind.Adam) { LearningRate = 0.002f } }, Options with { Dropout = 0.1f },
            Options with { Hidden = [32, 8] }, Options with { Seed = 5 }, Options with { ValidationSplit = 0.2 },
            Options with { LimitTrain = 1000 }, Options with { Schedule = LearningRateSchedule.Step }, Options with { EarlyStopPatience = 2 },
            Options with { Optimizer = new OptimizerSettings(OptimizerKind.AdamW) },
            Options with { Optimizer = new OptimizerSettings(OptimizerKind.Adam) { WeightDecay = 1e-4f } },
            Options with { Optimizer = new OptimizerSettings(OptimizerKind.Adam) { Beta2 = 0.99f } },
            Options with { AugmentShift = 2 }, Options with { TargetValidationAccuracy = 0.9 },
        })
            Assert.False(Options.SameTrajectory(other), other.ToString());
    }

    [Fact]
    public void LearningRateAt_OptimizersRate_IsTheRunsBaseRate()
    {
        var options = Options with { Optimizer = new OptimizerSettings(OptimizerKind.Sgd) { LearningRate = 0.5f } };
        Assert.Equal(1e-3f, new TrainingOptions().Optimizer.LearningRate);
        Assert.Equal(0.5f, options.LearningRateAt(1));
        Assert.Equal(0.25f, (options with { Schedule = LearningRateSchedule.Step }).LearningRateAt(6));
        Assert.False(options.SameTrajectory(options with { Optimizer = new OptimizerSettings(OptimizerKind.Sgd) }));
    }

    [Fact]
    public void Validate_OptimizerSettingOutOfRange_IsAOneLineOptionError()
    {
        var error = Assert.Throws<OptionException>(() =>
            (Options with { Optimizer = new OptimizerSettings(OptimizerKind.Adam) { Momentum = 0.9f } }).Validate(MnistDataset.Schema, 60000));
        Assert.Equal("--momentum applies to sgd and rmsprop, not adam", error.Message);
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(TrainingOptions.MaxAugmentShift + 1)]
    public void Validate_AugmentShiftOutOfRange_IsAOneLineOptionError(int shift)
    {
        var error = Assert.Throws<OptionException>(() => (Options with { AugmentShift = shift }).Validate(MnistDataset.Schema, 60000));
        Assert.Equal($"--augment-shift must be in 0..{TrainingOptions.MaxAugmentShift} pixels (got {shift})", error.Message);
    }

    [Fact]
    public void SameTrajectory_CosineScheduleWithOtherEpochs_IsFalse()
    {
        var cosine = Options with { Schedule = LearningRateSchedule.Cosine };
        Assert.False(cosine.SameTrajectory(cosine with { Epochs = 6 }));
    }
}

/// <summary>The GEMMs a training step launches, as the network lists them (and the benchmarks use).</summary>
public sealed class StepGemmsTests
{
    [Fact]
    public void StepGemms_ReportModel_AreForwardThenWeightAndInputGradientsFromTheLastLayer()
    {
        var launches = GemmLaunch.StepOf(MnistNetworks.Mlp([512, 256], 0f), rows: 128, dropout: true);
        Assert.Equal(
            [
                "Forward 0 128x512x784 BiasReluDropout", "Forward 1 128x256x512 BiasReluDropout", "Forward 2 128x10x256 Bias",
                "WeightGradient 2 256x10x128 Store", "InputGradient 2 128x256x10 ActiveMask",
                "WeightGradient 1 512x256x128 Store", "InputGradient 1 128x512x256 ActiveMask",
                "WeightGradient 0 784x512x128 Store",
            ],
            launches.Select(l => $"{l.Pass} {l.Layer} {l.Shape.M}x{l.Shape.N}x{l.Shape.K} {l.Mode}"));
        Assert.All(GemmLaunch.StepOf(MnistNetworks.Mlp([512, 256], 0f), 128, dropout: false).Take(2),
            l => Assert.Equal(GpuMlp.Kernels.EpilogueMode.BiasRelu, l.Mode));
    }
}
