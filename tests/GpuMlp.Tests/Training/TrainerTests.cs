using GpuMlp.Data;
using GpuMlp.Tests.Data;
using GpuMlp.Training;

namespace GpuMlp.Tests.Training;

/// <summary>Training on real MNIST: accuracy a broken gradient cannot reach, determinism, and
/// recorded values of the real 784-512-256-10 model.</summary>
[Collection(DeviceCollection.Name)]
public sealed class TrainerTests(DeviceFixture fixture)
{
    [Fact]
    public void Trainer_TwoEpochsOnAMnistSubset_ReachesHighAccuracy()
    {
        var options = new TrainingOptions { Epochs = 2, BatchSize = 64, LimitTrain = 3000, ValidationSplit = 0.1, Seed = 3 };
        using var trainer = new Trainer(fixture.KernelDevice, RealMnist.Load(), options);
        var first = trainer.TrainEpoch(1, cancel: TestContext.Current.CancellationToken);
        var second = trainer.TrainEpoch(2, cancel: TestContext.Current.CancellationToken);
        var test = trainer.EvaluateTest();

        Assert.Equal(2700, trainer.TrainCount);
        Assert.Equal(300, trainer.ValidationCount);
        Assert.True(second.TrainLoss < first.TrainLoss, $"training loss did not fall: {first.TrainLoss} -> {second.TrainLoss}");
        Assert.NotNull(second.ValAccuracy);
        // 2 epochs over 2,700 images reach ~90% here; chance is 10%, and a model with a wrong
        // gradient (sign, stride, missing mask or scale) stays well below 80%.
        Assert.True(test.Accuracy >= 0.87, $"test accuracy {test.Accuracy:P2} on 10,000 images is below 87%");
        Assert.Equal(10000, test.Report.Total);
        Assert.InRange(test.Loss, 0.05, 0.6);
    }

    [Fact]
    public void Trainer_SameSeed_GivesBitIdenticalWeights()
    {
        var options = new TrainingOptions { Epochs = 1, BatchSize = 100, LimitTrain = 500, ValidationSplit = 0, Seed = 11, Hidden = [32, 16] };
        float[] Run()
        {
            using var trainer = new Trainer(fixture.KernelDevice, RealMnist.Load(), options);
            trainer.TrainEpoch(1, cancel: TestContext.Current.CancellationToken);
            return trainer.Network.GetParameters();
        }
        var a = Run();
        var b = Run();
        Assert.Equal(a, b);
        var other = new TrainingOptions { Epochs = 1, BatchSize = 100, LimitTrain = 500, ValidationSplit = 0, Seed = 12, Hidden = [32, 16] };
        using var trainer = new Trainer(fixture.KernelDevice, RealMnist.Load(), other);
        trainer.TrainEpoch(1, cancel: TestContext.Current.CancellationToken);
        Assert.NotEqual(a, trainer.Network.GetParameters());
    }

    private static readonly int[] RecordedOrder = [0, 6, 3, 5, 1, 2, 7, 9, 8, 4];

    [Fact]
    public void EpochOrder_SeedAndEpoch_GiveARecordedPermutation()
    {
        var a = Trainer.EpochOrder(1000, 1, 1);
        Assert.Equal(Enumerable.Range(0, 1000), a.Order());
        Assert.Equal(a, Trainer.EpochOrder(1000, 1, 1));
        Assert.NotEqual(a, Trainer.EpochOrder(1000, 1, 2));
        Assert.NotEqual(a, Trainer.EpochOrder(1000, 2, 1));
        // Recorded: the shuffle must not depend on the process (HashCode is seeded per process).
        Assert.Equal(RecordedOrder, Trainer.EpochOrder(10, 1, 1));
    }

    [Fact]
    public void Validate_OutOfRangeOptions_AreRejected()
    {
        Assert.Throws<OptionException>(() => new TrainingOptions { Dropout = 1f }.Validate(MnistDataset.Schema, 60000));
        Assert.Throws<OptionException>(() => new TrainingOptions { Optimizer = new OptimizerSettings(OptimizerKind.Adam) { LearningRate = 0f } }.Validate(MnistDataset.Schema, 60000));
        Assert.Throws<OptionException>(() => new TrainingOptions { BatchSize = 0 }.Validate(MnistDataset.Schema, 60000));
        Assert.Throws<OptionException>(() => new TrainingOptions { BatchSize = 5000, LimitTrain = 1000 }.Validate(MnistDataset.Schema, 60000));
        Assert.Throws<OptionException>(() => new TrainingOptions { Hidden = [] }.Validate(MnistDataset.Schema, 60000));
        Assert.Throws<OptionException>(() => new TrainingOptions { ValidationSplit = 1 }.Validate(MnistDataset.Schema, 60000));
        new TrainingOptions().Validate(MnistDataset.Schema, 60000);
    }

    /// <summary>A run validates its options once, where they come in; the dataset checks after that
    /// (the CLI's once the data is loaded, the Trainer's) do not check the settings again.</summary>
    [Fact]
    public void CheckDataset_ValidatedOptions_ChecksOnlyTheDatasetWithoutTheSettings()
    {
        var options = new TrainingOptions { BatchSize = 500, LimitTrain = 1000, ValidationSplit = 0.5 };
        int before = TrainingOptions.SettingsChecksOnThisThread;
        options.Validate(MnistDataset.Schema, int.MaxValue);
        options.CheckDataset(MnistDataset.Schema, 60000);
        options.CheckDataset(MnistDataset.Schema, 1000);
        Assert.Equal(before + 1, TrainingOptions.SettingsChecksOnThisThread);
        // The size checks run against the dataset given, with today's message.
        var error = Assert.Throws<OptionException>(() => options.CheckDataset(MnistDataset.Schema, 990));
        Assert.Equal("--batch-size must be in 1..495 (the training set size), got 500", error.Message);
        Assert.Throws<OptionException>(() => (options with { Epochs = 0 }).Validate(MnistDataset.Schema, 60000));
        Assert.Equal(before + 2, TrainingOptions.SettingsChecksOnThisThread);
    }

    /// <summary>MnistModel.Train is an entry point: it validates the settings, and the Trainer it
    /// builds does not validate them again.</summary>
    [Fact]
    public void MnistModel_Train_ValidatesTheSettingsOnce()
    {
        var options = new TrainingOptions { Epochs = 1, BatchSize = 50, Hidden = [8], LimitTrain = 200, ValidationSplit = 0 };
        int before = TrainingOptions.SettingsChecksOnThisThread;
        using var model = MnistModel.Train(RealMnist.Load(), options, TestDevice.RequestedName);
        Assert.Equal(before + 1, TrainingOptions.SettingsChecksOnThisThread);
    }

    [Fact]
    public void Validate_HiddenChangedInPlaceAfterValidation_IsCheckedAgain()
    {
        int[] hidden = [64, 32];
        var options = new TrainingOptions { Hidden = hidden };
        options.Validate(MnistDataset.Schema, 60000);
        hidden[1] = 0;
        Assert.Throws<OptionException>(() => options.Validate(MnistDataset.Schema, 60000));
    }

    /// <summary>The Trainer checks what depends on its dataset whatever its caller validated:
    /// a batch larger than the training split of options a library caller never validated is
    /// refused there with the same one-line message, and the settings are not checked again.</summary>
    [Fact]
    public void Trainer_UnvalidatedBatchLargerThanTheTrainingSet_IsRefusedWithAOneLineError()
    {
        int before = TrainingOptions.SettingsChecksOnThisThread;
        var error = Assert.Throws<OptionException>(() =>
            new Trainer(fixture.KernelDevice, RealMnist.Load(), new TrainingOptions { BatchSize = 2000, LimitTrain = 1000 }));
        Assert.Equal("--batch-size must be in 1..900 (the training set size), got 2000", error.Message);
        Assert.Equal(before, TrainingOptions.SettingsChecksOnThisThread);
    }
}

/// <summary>The real 784-512-256-10 model over its first three Adam steps (seed 1, batch 128,
/// dropout 0.2) against values recorded from this implementation on the CPU accelerator on
/// 2026-11-27 and cross-checked by the double-precision reference tests above. A change to the
/// initialisation, shuffle, dropout hash, kernels or optimizer moves them.</summary>
[Collection(DeviceCollection.Name)]
public sealed class RecordedTrainingTests(DeviceFixture fixture)
{
    [Fact]
    public void Trainer_FirstStepsOfTheReportModel_MatchRecordedValues()
    {
        var options = new TrainingOptions { Epochs = 1, BatchSize = 128, LimitTrain = 384, ValidationSplit = 0, Seed = 1 };
        using var trainer = new Trainer(fixture.KernelDevice, RealMnist.Load(), options);
        var epoch = trainer.TrainEpoch(1, cancel: TestContext.Current.CancellationToken);
        var parameters = trainer.Network.GetParameters();
        double sumOfMagnitudes = parameters.Sum(p => Math.Abs((double)p)), sumOfSquares = parameters.Sum(p => (double)p * p);
        // Float32 sums in a different order (GPU FMA contraction, fast exp/log) move these in the
        // 5th-6th significant digit; a wrong step moves them in the 2nd-3rd.
        const double rtol = 2e-5;
        Assert.Equal(3, trainer.Optimizer.Steps);
        AssertClose(2.252690869073073, epoch.TrainLoss, rtol, "mean training loss over the 3 steps");
        AssertClose(10190.682075291123, sumOfMagnitudes, rtol, "sum of |parameters|");
        AssertClose(261.8578779596963, sumOfSquares, rtol, "sum of squared parameters");
    }

    private static void AssertClose(double expected, double actual, double rtol, string what) =>
        Assert.True(Math.Abs(actual - expected) <= rtol * Math.Abs(expected),
            $"{what}: expected {expected:R}, got {actual:R}");
}

public sealed class DeviceMemoryTests
{
    [Fact]
    public void EnsureFits_RunTooLarge_IsRefusedWithTheSizeAndAHint()
    {
        var small = new TrainingOptions();
        var large = new TrainingOptions { BatchSize = 8192, Hidden = [16384, 16384] };
        long smallBytes = Trainer.DeviceBytes(small, MnistDataset.Schema, 60000, 10000, partialSums: 1024);
        long largeBytes = Trainer.DeviceBytes(large, MnistDataset.Schema, 60000, 10000, partialSums: 1024);
        // 535,818 parameters x 4 buffers x 4 bytes alone are 8.6 MB.
        Assert.InRange(smallBytes, 8_500_000, 40_000_000);
        Assert.True(largeBytes > 4L * 4 * 16384 * 16384);
        Trainer.EnsureFits(smallBytes, 16L << 30);
        var error = Assert.Throws<GpuMlp.Compute.DeviceOutOfMemoryException>(() => Trainer.EnsureFits(largeBytes, 1L << 30));
        Assert.Contains($"{largeBytes / (1024 * 1024)} MiB", error.Message, StringComparison.Ordinal);
        Assert.Contains("1024 MiB", error.Message, StringComparison.Ordinal);
        Assert.Contains("--batch-size", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void EnsureFits_RunFitsAloneButNotBesideTheDataset_IsRefusedNamingTheDataset()
    {
        long mebibyte = 1024 * 1024;
        Trainer.EnsureFits(600 * mebibyte, 1024 * mebibyte);
        var error = Assert.Throws<GpuMlp.Compute.DeviceOutOfMemoryException>(() => Trainer.EnsureFits(600 * mebibyte, 1024 * mebibyte, datasetBytes: 500 * mebibyte));
        Assert.Contains("600 MiB besides the dataset (500 MiB)", error.Message, StringComparison.Ordinal);
        Assert.Contains("1024 MiB", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void DeviceImageSetEnsureFits_SplitLargerThanTheDevice_IsRefusedWithItsSizeBeforeAllocating()
    {
        var shape = new ImageShape(3, 224, 224);
        long bytes = DeviceImageSet.DeviceBytes(shape, 100_000);
        Assert.Equal((100_000L * 3 * 224 * 224) + 100_000 + (4 * 100_000), bytes);
        DeviceImageSet.EnsureFits("train", shape, 100_000, bytes);
        var error = Assert.Throws<GpuMlp.Compute.DeviceOutOfMemoryException>(() => DeviceImageSet.EnsureFits("train", shape, 100_000, 8L << 30));
        Assert.Contains("train holds 100000 images of 3x224x224", error.Message, StringComparison.Ordinal);
        Assert.Contains("14356 MiB", error.Message, StringComparison.Ordinal);
        Assert.Contains("8192 MiB", error.Message, StringComparison.Ordinal);
        Assert.Contains("--image-size", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', error.Message);
    }

    [Fact]
    public void DeviceImageDatasetEnsureFits_SplitsTogetherTooLarge_IsRefusedThoughEachFits()
    {
        var shape = new ImageShape(1, 28, 28);
        var data = new ImageDataset(
            new ImageSet("train", shape, new byte[1000 * 784], new byte[1000]),
            new ImageSet("test", shape, new byte[1000 * 784], new byte[1000]),
            [.. Enumerable.Range(0, 10).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture))]);
        long one = DeviceImageSet.DeviceBytes(shape, 1000);
        Assert.Equal(2 * one, DeviceImageDataset.DeviceBytes(data));
        DeviceImageDataset.EnsureFits(data, 2 * one);
        var error = Assert.Throws<GpuMlp.Compute.DeviceOutOfMemoryException>(() => DeviceImageDataset.EnsureFits(data, (2 * one) - 1));
        Assert.Contains("1000 training and 1000 test images of 1x28x28", error.Message, StringComparison.Ordinal);
    }
}
