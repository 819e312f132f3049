using GpuMlp.Models;
using GpuMlp.Runs;
using GpuMlp.Tests.Data;
using GpuMlp.Tests.Reference;
using GpuMlp.Training;
using ILGPU;
using ILGPU.Runtime;

namespace GpuMlp.Tests.Training;

/// <summary>The layer-sequence network with convolutions: the whole CNN's gradient against finite
/// differences of a double-precision reference, the device sequence's rules, determinism and a
/// short real training.</summary>
[Collection(DeviceCollection.Name)]
public sealed class CnnTests(DeviceFixture fixture)
{
    /// <summary>Two convolutions (so the second one's input gradient, the pool's backward and the
    /// fused ReLU are all exercised), a relu written after the pool (moved into the first conv),
    /// flatten and two dense layers, on 1x6x6 inputs with 3 classes.</summary>
    private const string TinyStack = "conv3x3x2p1,pool2,relu,conv2x2x3,relu,flatten,dense5,relu,dense3";
    private const int Rows = 4;

    /// <summary>The kernel sets a whole-CNN gradient runs on: the test device's (on the CPU the SIMD
    /// set with the CPU convolution kernels), the portable kernels with CPU launches, and the GPU
    /// launch profile.</summary>
    public static TheoryData<string> KernelSets() => ["main", "cpu-portable", "gpu-profile"];

    private KernelSet SetNamed(string name) => name switch
    {
        "main" => fixture.Main,
        "cpu-portable" => fixture.Cpu(GpuMlp.Compute.CpuSimdRequest.Off),
        "gpu-profile" => fixture.GpuProfile,
        _ => throw new ArgumentOutOfRangeException(nameof(name)),
    };

    [Theory]
    [MemberData(nameof(KernelSets))]
    public void Backward_TinyCnn_MatchesFiniteDifferencesOfTheDoubleReference(string kernelSet)
    {
        var architecture = Architecture.Parse(TinyStack, ActivationShape.Map(1, 6, 6), classes: 3);
        var random = new Random(7);
        float[] parameters = architecture.InitialParameters(7);
        // Larger weights keep pre-activations and pooling windows well apart relative to h.
        for (int i = 0; i < parameters.Length; i++)
            parameters[i] *= 2f;
        float[] input = Enumerable.Range(0, Rows * 36).Select(_ => (float)random.NextDouble()).ToArray();
        int[] labels = Enumerable.Range(0, Rows).Select(_ => random.Next(3)).ToArray();
        var reference = new ReferenceLayerNetwork(architecture, parameters.Select(v => (double)v).ToArray());
        double[] numeric = reference.FiniteDifferenceGradient(input.Select(v => (double)v).ToArray(), labels, Rows);

        var set = SetNamed(kernelSet);
        var kernels = set.Kernels;
        using var network = new LayerNetwork(kernels, architecture, Rows);
        network.SetParameters(parameters);
        network.Input.SubView(0, input.Length).CopyFromCPU(ref input[0], input.Length);
        network.Labels.SubView(0, Rows).CopyFromCPU(ref labels[0], Rows);
        using var loss = kernels.Accelerator.Allocate1D<float>(Rows);
        using var prediction = kernels.Accelerator.Allocate1D<int>(Rows);
        network.Forward(Rows, training: true, 1, 0);
        network.Loss(Rows, writeGradient: true, 0, loss.View, prediction.View);
        network.Backward(Rows);
        float[] device = network.GetGradients();

        // float32 sums of at most 4 rows x 18 products of O(1) terms against FD with h = 1e-6
        // (truncation ~1e-12, rounding ~1e-10): a wrong stride, route or mask is off by >= 1e-2.
        Compare.AllClose(device, numeric, 2e-5, 1e-4, $"{set.Name} CNN device gradient vs finite differences");
        foreach (var tensor in architecture.Tensors)
            Assert.Contains(device.AsSpan(tensor.Offset, tensor.Length).ToArray(), g => Math.Abs(g) > 1e-3f);
    }

    [Theory]
    [InlineData("conv3x3x4,dropout0.5,flatten,dense10", "dropout must follow a dense layer's relu")]
    [InlineData("flatten,relu,dense10", "relu must follow conv, pool2 or dense")]
    [InlineData("pool2,relu,flatten,dense10", "relu after pool2 needs a conv right before the pool")]
    [InlineData("flatten,dense10,relu", "must end in a dense layer without relu")]
    public void Plan_UnsupportedOrder_ThrowsOneLineArchitectureException(string text, string expected)
    {
        var error = Assert.Throws<ArchitectureException>(() => LayerNetwork.Plan(MnistNetworks.Parse(text)));
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', error.Message);
    }

    [Fact]
    public void Plan_CnnPreset_FusesReluAndDropoutIntoTheLayerBefore()
    {
        var plan = LayerNetwork.Plan(MnistNetworks.Cnn);
        Assert.Equal(["conv5x5x32p2", "pool2", "conv5x5x64p2", "pool2", "flatten", "dense512", "dense10"], plan.Select(p => p.Layer.Spec.Token));
        Assert.True(plan[0].Relu && plan[2].Relu && plan[5].Relu && !plan[6].Relu);
        Assert.Equal(0.5f, plan[5].DropoutRate);
    }

    private static readonly TrainingOptions SmallCnn = new()
    {
        ArchitectureText = "conv5x5x8p2,relu,pool2,flatten,dense10",
        Epochs = 2,
        BatchSize = 20,
        Optimizer = new OptimizerSettings(OptimizerKind.Adam) { LearningRate = 0.002f },
        LimitTrain = 1200,
        ValidationSplit = 0.2,
        Seed = 4,
    };

    [Fact]
    public void Trainer_SmallCnnOnAMnistSubset_LearnsAndIsBitIdenticalPerSeed()
    {
        float[] afterFirstEpoch;
        EpochRecord second;
        using (var trainer = new Trainer(fixture.KernelDevice, RealMnist.Load(), SmallCnn))
        {
            trainer.TrainEpoch(1, cancel: TestContext.Current.CancellationToken);
            afterFirstEpoch = trainer.Network.GetParameters();
            second = trainer.TrainEpoch(2, cancel: TestContext.Current.CancellationToken);
        }
        // 2 epochs over 960 images reach ~85-90 % on the 240 held-out images with this one-conv
        // net; chance is 10 % and a wrong gradient (route, stride, mask or scale) stays far below.
        Assert.True(second.ValAccuracy >= 0.8, $"validation accuracy {second.ValAccuracy:P2} is below 80 %");
        Assert.True(second.TrainAccuracy > 0.75, $"training accuracy {second.TrainAccuracy:P2}");

        using var again = new Trainer(fixture.KernelDevice, RealMnist.Load(), SmallCnn);
        again.TrainEpoch(1, cancel: TestContext.Current.CancellationToken);
        Assert.Equal(afterFirstEpoch, again.Network.GetParameters());
    }

    /// <summary>Shifted training images give other weights than the plain ones, the same weights
    /// again for the same seed, and still learn (the shifts are ±2 pixels, the digit stays whole).</summary>
    [Fact]
    public void Trainer_AugmentShift_ChangesTheTrajectoryAndRepeatsPerSeed()
    {
        var cancel = TestContext.Current.CancellationToken;
        var shifted = SmallCnn with { AugmentShift = 2, Epochs = 1 };
        float[] Train(TrainingOptions options, out EpochRecord record)
        {
            using var trainer = new Trainer(fixture.KernelDevice, RealMnist.Load(), options);
            record = trainer.TrainEpoch(1, cancel: cancel);
            return trainer.Network.GetParameters();
        }
        float[] plain = Train(SmallCnn with { Epochs = 1 }, out _);
        float[] first = Train(shifted, out var record);
        float[] second = Train(shifted, out _);
        Assert.NotEqual(plain, first);
        Assert.Equal(first, second);
        Assert.True(record.ValAccuracy >= 0.6, $"validation accuracy {record.ValAccuracy:P2} after one shifted epoch");
    }
}

/// <summary>A CNN through the run layer: artifacts that name the stack, the model read back for
/// evaluation, and a checkpoint continued to the same weights as an uninterrupted run.</summary>
[Collection(DeviceCollection.Name)]
public sealed class CnnRunTests(DeviceFixture fixture) : IDisposable
{
    private readonly TempDir dir = new();

    public void Dispose() => dir.Dispose();

    private static readonly TrainingOptions Tiny = new()
    {
        ArchitectureText = "conv3x3x4,relu,pool2,flatten,dense16,relu,dropout0.25,dense10",
        Epochs = 2,
        BatchSize = 50,
        LimitTrain = 400,
        ValidationSplit = 0,
        Seed = 5,
        AugmentShift = 2,
    };

    /// <summary>With ±2-pixel shifts (the augmentation a CNN run is expected to use): the stack and
    /// the shift in config.json, the model evaluated to the run's figures, a resumed run continuing
    /// the shifts' draws to the same weights.</summary>
    [Fact]
    public void TrainingRun_CnnStack_RecordsTheStackAndResumesBitIdentically()
    {
        var cancel = TestContext.Current.CancellationToken;
        using var data = new DeviceImageDataset(fixture.Device.Accelerator, RealMnist.Load());
        string straight = Path.Combine(dir.Path, "straight"), split = Path.Combine(dir.Path, "split");
        EvaluationResult test;
        using (var run = TrainingRun.Start(straight, Tiny, fixture.KernelDevice, data))
            test = run.Finish(run.Train(cancel: cancel));

        string config = File.ReadAllText(Path.Combine(straight, RunArtifacts.ConfigFileName));
        Assert.Contains("\"architecture\": \"" + Tiny.ArchitectureText + "\"", config, StringComparison.Ordinal);
        Assert.Contains("\"augment_shift\": 2", config, StringComparison.Ordinal);
        Assert.DoesNotContain("\"hidden\"", config, StringComparison.Ordinal);
        Assert.DoesNotContain("\"dropout\"", config, StringComparison.Ordinal);
        var model = TrainedModel.Load(straight);
        Assert.False(model.IsMlp);
        Assert.Equal(Tiny.ArchitectureText, model.Network.Text);
        Assert.Equal(Tiny.ArchitectureText, model.Metadata[ModelFile.ArchitectureKey]);
        using (var onDevice = model.Upload(fixture.KernelDevice, TrainingOptions.DefaultEvaluationBatchSize))
        {
            var again = onDevice.Evaluate(data.Test);
            Assert.Equal(test.Accuracy, again.Accuracy);
            Assert.Equal(test.Loss, again.Loss);
        }

        // One epoch, then the same options with two continue the checkpoint.
        using (var first = TrainingRun.Start(split, Tiny with { Epochs = 1 }, fixture.KernelDevice, data))
            first.Finish(first.Train(cancel: cancel));
        using (var second = TrainingRun.StartOrResume(split, Tiny, fixture.KernelDevice, data))
        {
            Assert.NotNull(second.ResumedAt);
            second.Finish(second.Train(cancel: cancel));
        }
        var a = Checkpoint.Load(Path.Combine(straight, Checkpoint.FileName));
        var b = Checkpoint.Load(Path.Combine(split, Checkpoint.FileName));
        Assert.Equal(Tiny.ArchitectureText, b.State.Options.ArchitectureText);
        Assert.Equal(a.Parameters, b.Parameters);
        Assert.Equal(a.Optimizer.Tensors[Optimizers.ExpAvgSq], b.Optimizer.Tensors[Optimizers.ExpAvgSq]);
    }
}
