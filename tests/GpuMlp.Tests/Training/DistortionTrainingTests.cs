using System.Text.Json;
using GpuMlp.Data;
using GpuMlp.Runs;
using GpuMlp.Tests.Data;
using GpuMlp.Training;

namespace GpuMlp.Tests.Training;

/// <summary>Training with the distorting gather (TrainingOptions.Distortion): the options' checks,
/// determinism per seed, validation never distorted, and a run that records its distortion in
/// config.json and its checkpoint and resumes to the same weights. Tiny MLPs on 400 real digits.</summary>
[Collection(DeviceCollection.Name)]
public sealed class DistortionTrainingTests(DeviceFixture fixture) : IDisposable
{
    private readonly TempDir dir = new();

    public void Dispose() => dir.Dispose();

    private static readonly ImageDistortion Both = new() { RotateDegrees = 10, Scale = 0.1f, ShearDegrees = 5, Translate = 0.1f, ElasticAlpha = 34, ElasticSigma = 4 };

    private static readonly TrainingOptions Tiny = new()
    {
        Epochs = 2,
        BatchSize = 50,
        LimitTrain = 400,
        ValidationSplit = 0.25,
        Hidden = [16],
        Seed = 4,
        Distortion = Both,
    };

    public static TheoryData<string, float, string> OutOfRange => new()
    {
        { "rotate", 181f, "--augment-rotate must be in 0..180 degrees (got 181)" },
        { "scale", -0.1f, "--augment-scale must be in 0..0.9 (got -0.1)" },
        { "shear", float.NaN, "--augment-shear must be in 0..60 degrees (got NaN)" },
        { "translate", 0.6f, "--augment-translate must be in 0..0.5 (a fraction of the image size) (got 0.6)" },
        { "alpha", 101f, "--elastic-alpha must be in 0..100 pixels (got 101)" },
        { "sigma", 0.25f, "--elastic-sigma must be 0 or in 0.5..16 pixels (got 0.25)" },
    };

    [Theory]
    [MemberData(nameof(OutOfRange))]
    public void Validate_DistortionOutOfRange_IsAOneLineOptionError(string which, float value, string message)
    {
        var distortion = which switch
        {
            "rotate" => new ImageDistortion { RotateDegrees = value },
            "scale" => new ImageDistortion { Scale = value },
            "shear" => new ImageDistortion { ShearDegrees = value },
            "translate" => new ImageDistortion { Translate = value },
            "alpha" => new ImageDistortion { ElasticAlpha = value, ElasticSigma = 4 },
            "sigma" => new ImageDistortion { ElasticAlpha = 34, ElasticSigma = value },
            _ => throw new ArgumentOutOfRangeException(nameof(which), which, "no such range"),
        };
        var error = Assert.Throws<OptionException>(() => (Tiny with { Distortion = distortion }).Validate(MnistDataset.Schema, 60000));
        Assert.Equal(message, error.Message);
        Assert.DoesNotContain('\n', error.Message);
    }

    [Fact]
    public void Validate_ElasticAlphaWithoutSigma_IsAUsageError()
    {
        var error = Assert.Throws<OptionException>(() => (Tiny with { Distortion = new ImageDistortion { ElasticAlpha = 34 } }).Validate(MnistDataset.Schema, 60000));
        Assert.Equal("--elastic-alpha and --elastic-sigma go together: give both, e.g. --elastic-alpha 34 --elastic-sigma 4", error.Message);
    }

    /// <summary>The distorting gather moves every plane, so it (and the shift it carries) takes
    /// images of any channel count; the plain shift alone still refuses them.</summary>
    [Fact]
    public void Validate_DistortionOnThreeChannels_IsAccepted()
    {
        var schema = new ImageSchema(new ImageShape(3, 8, 8), ["a", "b"]);
        new TrainingOptions { BatchSize = 4, Distortion = Both, AugmentShift = 1 }.Validate(schema, 100);
        Assert.Throws<OptionException>(() => new TrainingOptions { BatchSize = 4, AugmentShift = 1 }.Validate(schema, 100));
    }

    [Fact]
    public void SameTrajectory_DistortionDiffers_IsFalseAndAllZeroIsNone()
    {
        Assert.False(Tiny.SameTrajectory(Tiny with { Distortion = Both with { ElasticAlpha = 30 } }));
        Assert.False(Tiny.SameTrajectory(Tiny with { Distortion = null }));
        var plain = Tiny with { Distortion = null };
        Assert.True(plain.SameTrajectory(plain with { Distortion = ImageDistortion.None }));
        Assert.False((plain with { Distortion = ImageDistortion.None }).IsDistorted);
    }

    /// <summary>Same seed, same weights bit for bit; the distortion changes the trajectory.</summary>
    [Fact]
    public void Trainer_Distortion_RepeatsPerSeedAndChangesTheTrajectory()
    {
        var cancel = TestContext.Current.CancellationToken;
        using var data = new DeviceImageDataset(fixture.Device.Accelerator, RealMnist.Load());
        float[] Train(TrainingOptions options)
        {
            using var trainer = new Trainer(fixture.KernelDevice, data, options with { Epochs = 1 });
            trainer.TrainEpoch(1, cancel: cancel);
            return trainer.Network.GetParameters();
        }
        float[] distorted = Train(Tiny);
        Assert.Equal(distorted, Train(Tiny));
        Assert.NotEqual(distorted, Train(Tiny with { Distortion = null }));
        Assert.NotEqual(distorted, Train(Tiny with { Distortion = Both with { ElasticAlpha = 0, ElasticSigma = 0 } }));
    }

    /// <summary>The epoch's validation figures are those of the undistorted validation images: the
    /// trained weights evaluated by a trainer without distortion give the same loss and accuracy.</summary>
    [Fact]
    public void TrainEpoch_Distortion_ValidationIsNeverDistorted()
    {
        var cancel = TestContext.Current.CancellationToken;
        using var data = new DeviceImageDataset(fixture.Device.Accelerator, RealMnist.Load());
        using var distorted = new Trainer(fixture.KernelDevice, data, Tiny with { Epochs = 1 });
        var record = distorted.TrainEpoch(1, cancel: cancel);
        using var plain = new Trainer(fixture.KernelDevice, data, Tiny with { Epochs = 1, Distortion = null });
        plain.Network.SetParameters(distorted.Network.GetParameters());
        var validation = plain.EvaluateValidation();
        Assert.Equal(record.ValLoss, validation.Loss);
        Assert.Equal(record.ValAccuracy, validation.Accuracy);
    }

    /// <summary>The distortion is in config.json and the checkpoint; one epoch, then a resumed second,
    /// gives the weights of two straight epochs (the draws continue from the optimiser's step count).
    /// A run without distortion writes no "distortion" key anywhere.</summary>
    [Fact]
    public void TrainingRun_Distortion_IsRecordedAndResumesBitIdentically()
    {
        var cancel = TestContext.Current.CancellationToken;
        using var data = new DeviceImageDataset(fixture.Device.Accelerator, RealMnist.Load());
        string straight = Path.Combine(dir.Path, "straight"), split = Path.Combine(dir.Path, "split"), plain = Path.Combine(dir.Path, "plain");
        using (var run = TrainingRun.Start(straight, Tiny, fixture.KernelDevice, data))
            run.FinishWithoutTest(run.Train(cancel: cancel));
        using (var first = TrainingRun.Start(split, Tiny with { Epochs = 1 }, fixture.KernelDevice, data))
            first.FinishWithoutTest(first.Train(cancel: cancel));
        using (var second = TrainingRun.StartOrResume(split, Tiny, fixture.KernelDevice, data))
        {
            Assert.NotNull(second.ResumedAt);
            second.FinishWithoutTest(second.Train(cancel: cancel));
        }
        var a = Checkpoint.Load(Path.Combine(straight, Checkpoint.FileName));
        var b = Checkpoint.Load(Path.Combine(split, Checkpoint.FileName));
        Assert.Equal(Both, b.State.Options.Distortion);
        Assert.Equal(a.Parameters, b.Parameters);

        using var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(straight, RunArtifacts.ConfigFileName)));
        var recorded = config.RootElement.GetProperty("distortion");
        Assert.Equal(34f, recorded.GetProperty("elastic_alpha").GetSingle());
        Assert.Equal(10f, recorded.GetProperty("rotate_degrees").GetSingle());

        using (var run = TrainingRun.Start(plain, Tiny with { Epochs = 1, Distortion = null }, fixture.KernelDevice, data))
            run.FinishWithoutTest(run.Train(cancel: cancel));
        Assert.DoesNotContain("distortion", File.ReadAllText(Path.Combine(plain, RunArtifacts.ConfigFileName)), StringComparison.Ordinal);
        Assert.True(File.ReadAllBytes(Path.Combine(plain, Checkpoint.FileName)).AsSpan().IndexOf("distortion"u8) < 0, "the checkpoint names a distortion");
        Assert.Null(Checkpoint.Load(Path.Combine(plain, Checkpoint.FileName)).State.Options.Distortion);
    }
}
