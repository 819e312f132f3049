using GpuMlp.Compute;
using GpuMlp.Export;
using GpuMlp.Models;
using GpuMlp.Runs;
using GpuMlp.Tests.Data;
using GpuMlp.Tests.Reference;
using GpuMlp.Training;
using ILGPU;
using ILGPU.Runtime;
using Microsoft.ML.OnnxRuntime;

namespace GpuMlp.Tests.Training;

/// <summary>The bn layer kind: its spec (text, shapes, torch's names, initial values and modules),
/// the whole network's gradient through 2-D and 1-D batch norm against finite differences of the
/// float64 reference in training mode, evaluation on the running statistics, the kernel sets
/// agreeing, training on MNIST, checkpoints, model files and ONNX.</summary>
[Collection(DeviceCollection.Name)]
public sealed class BatchNormLayerTests(DeviceFixture fixture) : IDisposable
{
    /// <summary>conv, bn, relu (fused into bn), pool2, then dense, bn, relu and a dense layer, relu
    /// and bn (whose input gradient applies the dense layer's mask), on 1x6x6 inputs with 3 classes.</summary>
    private const string TinyStack = "conv3x3x3p1,bn,relu,pool2,flatten,dense6,bn,relu,dense5,relu,bn,dense3";
    private const int Rows = 5;

    private readonly TempDir dir = new();

    public void Dispose() => dir.Dispose();

    private static Architecture Tiny() => Architecture.Parse(TinyStack, ActivationShape.Map(1, 6, 6), classes: 3);

    [Fact]
    public void Architecture_BnAfterConvAndDense_HasTorchNamesShapesAndInitialValues()
    {
        Architecture network = Tiny();

        Assert.Equal(["0.weight", "0.bias", "1.weight", "1.bias", "5.weight", "5.bias", "6.weight", "6.bias", "8.weight", "8.bias",
            "10.weight", "10.bias", "11.weight", "11.bias"], network.Tensors.Select(t => t.Name));
        Assert.Equal(["1.running_mean", "1.running_var", "1.num_batches_tracked", "6.running_mean", "6.running_var", "6.num_batches_tracked",
            "10.running_mean", "10.running_var", "10.num_batches_tracked"], network.StateTensors.Select(t => t.Name));
        Assert.Equal([3], network.Tensors.Single(t => t.Name == "1.weight").Shape);
        Assert.Empty(network.StateTensors.Single(t => t.Name == "1.num_batches_tracked").Shape);
        Assert.Equal("nn.BatchNorm2d(3)", network.Layers[1].PyTorchModule);
        Assert.Equal("nn.BatchNorm1d(6)", network.Layers[6].PyTorchModule);
        Assert.Equal(TinyStack, network.Text);

        // torch's initialisation: weight 1, bias 0, running mean 0, running variance 1, count 0; the
        // constant tensors draw nothing, so the others get the draws of the stack without bn.
        float[] parameters = network.InitialParameters(3);
        foreach (var tensor in network.Tensors.Where(t => t.InitialValue is not null))
            Assert.All(parameters.AsSpan(tensor.Offset, tensor.Length).ToArray(), v => Assert.Equal(tensor.InitialValue!.Value, v));
        Assert.Equal([1f, 1f, 1f], parameters.AsSpan(network.Tensors.Single(t => t.Name == "1.weight").Offset, 3).ToArray());
        var plain = Architecture.Parse("conv3x3x3p1,relu,pool2,flatten,dense6,relu,dense5,relu,dense3", ActivationShape.Map(1, 6, 6), 3);
        float[] plainParameters = plain.InitialParameters(3);
        foreach (var (name, plainName) in new[] { ("0.weight", "0.weight"), ("5.bias", "4.bias"), ("8.weight", "6.weight"), ("11.bias", "8.bias") })
        {
            var with = network.Tensors.Single(t => t.Name == name);
            var without = plain.Tensors.Single(t => t.Name == plainName);
            Assert.Equal(plainParameters.AsSpan(without.Offset, without.Length).ToArray(), parameters.AsSpan(with.Offset, with.Length).ToArray());
        }
        Assert.Equal([0f, 0f, 0f, 1f, 1f, 1f, 0f], network.InitialState()[..7]);
    }

    [Theory]
    [InlineData("bn2", "batch normalisation is written bn")]
    [InlineData("batchnorm", "batch normalisation is written bn")]
    public void Parse_MalformedBn_OneLineErrorNamingIt(string token, string expected)
    {
        var error = Assert.Throws<ArchitectureException>(() => Architecture.ParseLayers("dense4," + token + ",dense10"));
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
        Assert.Contains("layer 2", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Plan_BnRelu_FusesTheReluIntoTheBn()
    {
        var plan = LayerNetwork.Plan(Tiny());
        Assert.Equal(["conv3x3x3p1", "bn", "pool2", "flatten", "dense6", "bn", "dense5", "bn", "dense3"], plan.Select(p => p.Layer.Spec.Token));
        Assert.Equal([false, true, false, false, false, true, true, false, false], plan.Select(p => p.Relu));
        var error = Assert.Throws<ArchitectureException>(() => LayerNetwork.Plan(MnistNetworks.Parse("dense8,bn,relu,dropout0.5,dense10")));
        Assert.Contains("dropout must follow a dense layer's relu", error.Message, StringComparison.Ordinal);
    }

    public static TheoryData<string> KernelSets() => ["main", "cpu-portable", "gpu-profile"];

    private KernelSet SetNamed(string name) => name switch
    {
        "main" => fixture.Main,
        "cpu-portable" => fixture.Cpu(CpuSimdRequest.Off),
        "gpu-profile" => fixture.GpuProfile,
        _ => throw new ArgumentOutOfRangeException(nameof(name)),
    };

    private static (float[] Parameters, float[] Input, int[] Labels) TinyProblem(Architecture network)
    {
        var random = new Random(11);
        float[] parameters = network.InitialParameters(11);
        // Larger weights keep pre-activations and pooling windows well apart relative to h; gamma
        // and beta away from their initial 1 and 0, so a swapped or ignored one shows.
        for (int i = 0; i < parameters.Length; i++)
            parameters[i] = parameters[i] * 2f;
        foreach (var tensor in network.Tensors.Where(t => t.InitialValue is not null))
        {
            for (int i = tensor.Offset; i < tensor.Offset + tensor.Length; i++)
                parameters[i] += (float)(random.NextDouble() - 0.5);
        }
        float[] input = Enumerable.Range(0, Rows * (int)network.Input.Elements).Select(_ => (float)random.NextDouble()).ToArray();
        int[] labels = Enumerable.Range(0, Rows).Select(_ => random.Next(network.Classes)).ToArray();
        return (parameters, input, labels);
    }

    private static LayerNetwork Upload(KernelSet set, Architecture network, float[] parameters, float[] input, int[] labels)
    {
        var device = new LayerNetwork(set.Kernels, network, Rows);
        device.SetParameters(parameters);
        device.Input.SubView(0, input.Length).CopyFromCPU(ref input[0], input.Length);
        device.Labels.SubView(0, Rows).CopyFromCPU(ref labels[0], Rows);
        return device;
    }

    private static float[] TrainingGradient(KernelSet set, LayerNetwork device)
    {
        using var loss = set.Accelerator.Allocate1D<float>(Rows);
        using var prediction = set.Accelerator.Allocate1D<int>(Rows);
        device.Forward(Rows, training: true, 1, 0);
        device.Loss(Rows, writeGradient: true, 0, loss.View, prediction.View);
        device.Backward(Rows);
        return device.GetGradients();
    }

    private static float[] Logits(LayerNetwork device, int classes)
    {
        var logits = new float[Rows * classes];
        device.Logits.SubView(0, logits.Length).CopyToCPU(ref logits[0], logits.Length);
        return logits;
    }

    /// <summary>The training step's gradient of every parameter (gamma and beta of each bn, and
    /// every conv and dense tensor, whose gradients pass through the bn input gradients) against
    /// central differences of the mean loss of the float64 reference with batch statistics.</summary>
    [Theory]
    [MemberData(nameof(KernelSets))]
    public void Backward_ConvBnAndDenseBnStack_MatchesFiniteDifferencesOfTheDoubleReference(string kernelSet)
    {
        Architecture network = Tiny();
        var (parameters, input, labels) = TinyProblem(network);
        var reference = new ReferenceLayerNetwork(network, parameters.Select(v => (double)v).ToArray()) { BatchStatistics = true };
        double[] numeric = reference.FiniteDifferenceGradient(input.Select(v => (double)v).ToArray(), labels, Rows);

        KernelSet set = SetNamed(kernelSet);
        using var device = Upload(set, network, parameters, input, labels);
        float[] gradient = TrainingGradient(set, device);

        // float32 sums of at most 5 rows x 18 products and bn's channel means, against FD with h =
        // 1e-6: a wrong mean, variance, mask or input gradient is off by >= 1e-2.
        Compare.AllClose(gradient, numeric, 5e-5, 1e-3, $"{set.Name} bn stack gradient vs finite differences");
        // Every tensor's gradient is exercised, but the biases of the layers feeding a bn: the bn
        // takes the batch mean off, so their gradient is 0 (and is, up to rounding).
        foreach (var tensor in network.Tensors)
        {
            var layer = network.Layers.Single(l => l.Parameters.Contains(tensor));
            bool feedsBn = layer.Index + 1 < network.Layers.Count && network.Layers[layer.Index + 1].Spec is BatchNormSpec;
            if (feedsBn && tensor == layer.Parameters[1])
                Assert.All(gradient.AsSpan(tensor.Offset, tensor.Length).ToArray(), g => Assert.True(Math.Abs(g) < 1e-5f, $"{tensor.Name}: {g}"));
            else
                Assert.Contains(gradient.AsSpan(tensor.Offset, tensor.Length).ToArray(), g => Math.Abs(g) > 1e-3f);
        }
    }

    /// <summary>A training forward updates each bn's running statistics as torch does (from the
    /// batch's statistics at that layer); evaluation then normalises with them.</summary>
    [Fact]
    public void Forward_TrainingThenEvaluation_UpdatesRunningStatisticsAndEvaluatesWithThem()
    {
        Architecture network = Tiny();
        var (parameters, input, labels) = TinyProblem(network);
        using var device = Upload(fixture.Main, network, parameters, input, labels);
        double[] x = input.Select(v => (double)v).ToArray();

        device.Forward(Rows, training: true, 1, 0);
        float[] state = device.GetState();

        // The state the reference says one training forward leaves: each bn's input in train mode.
        var training = new ReferenceLayerNetwork(network, parameters.Select(v => (double)v).ToArray()) { BatchStatistics = true };
        double[] expected = network.InitialState().Select(v => (double)v).ToArray();
        foreach (var layer in network.Layers.Where(l => l.Spec is BatchNormSpec))
        {
            double[] before = training.ForwardTo(x, Rows, layer.Index);
            var shape = new GpuMlp.Kernels.BatchNormShape(Rows, layer.Input.Channels, layer.Input.IsMap ? layer.Input.Height * layer.Input.Width : 1);
            var (mean, variance) = BatchNormReference.Statistics(shape, before);
            var (runningMean, runningVariance) = BatchNormReference.RunningUpdate(shape, new double[mean.Length],
                Enumerable.Repeat(1.0, mean.Length).ToArray(), mean, variance);
            runningMean.CopyTo(expected, layer.State[0].Offset);
            runningVariance.CopyTo(expected, layer.State[1].Offset);
            expected[layer.State[2].Offset] = 1;
        }
        Compare.AllClose(state, expected, 2e-5, 2e-5, "running statistics after one training forward");

        device.Forward(Rows, training: false, 0, 0);
        var evaluation = new ReferenceLayerNetwork(network, parameters.Select(v => (double)v).ToArray())
        {
            State = state.Select(v => (double)v).ToArray(),
        };
        Compare.AllClose(Logits(device, 3), evaluation.Forward(x, Rows), 1e-4, 1e-4, "evaluation logits on the running statistics");
        Assert.Equal(state, device.GetState());
    }

    /// <summary>The CPU SIMD set and the portable kernels give the same bn outputs, gradients and
    /// state; the GEMMs around them are held to their documented tolerance.</summary>
    [Fact]
    public void TrainingStep_SimdAndPortableSets_Agree()
    {
        Architecture network = Tiny();
        var (parameters, input, labels) = TinyProblem(network);
        KernelSet simd = fixture.Cpu(CpuSimdRequest.Vector256), portable = fixture.Cpu(CpuSimdRequest.Off);
        using var a = Upload(simd, network, parameters, input, labels);
        using var b = Upload(portable, network, parameters, input, labels);
        float[] ga = TrainingGradient(simd, a), gb = TrainingGradient(portable, b);
        Compare.AllClose(ga, gb.Select(v => (double)v).ToArray(), 1e-5, 1e-4, "SIMD vs portable bn stack gradient");
        Compare.AllClose(a.GetState(), b.GetState().Select(v => (double)v).ToArray(), 1e-6, 1e-5, "SIMD vs portable running statistics");
    }

    private static readonly TrainingOptions SmallBn = new()
    {
        ArchitectureText = "conv3x3x8p1,bn,relu,pool2,flatten,dense32,bn,relu,dense10",
        Epochs = 2,
        BatchSize = 32,
        LimitTrain = 640,
        ValidationSplit = 0.25,
        Seed = 6,
    };

    /// <summary>Two epochs over 480 MNIST images: the loss falls, validation (on the running
    /// statistics) is far above chance, and the same seed gives the same bits.</summary>
    [Fact]
    public void Trainer_BnStackOnAMnistSubset_LearnsAndIsBitIdenticalPerSeed()
    {
        var cancel = TestContext.Current.CancellationToken;
        EpochRecord first, second;
        float[] parameters, state;
        using (var trainer = new Trainer(fixture.KernelDevice, RealMnist.Load(), SmallBn))
        {
            first = trainer.TrainEpoch(1, cancel: cancel);
            second = trainer.TrainEpoch(2, cancel: cancel);
            parameters = trainer.Network.GetParameters();
            state = trainer.Network.GetState();
        }
        Assert.True(second.TrainLoss < first.TrainLoss, $"training loss {first.TrainLoss} then {second.TrainLoss}");
        // ~67 % here on the CPU accelerator after 30 steps; chance is 10 %, and evaluating with wrong
        // running statistics (or none) lands far below.
        Assert.True(second.ValAccuracy >= 0.5, $"validation accuracy {second.ValAccuracy:P2}");
        // 15 steps per epoch, counted by every bn.
        Assert.Equal(30f, state[Architecture.Parse(SmallBn.ArchitectureText!, MnistNetworks.Image, 10).StateTensors[2].Offset]);

        using var again = new Trainer(fixture.KernelDevice, RealMnist.Load(), SmallBn);
        again.TrainEpoch(1, cancel: cancel);
        again.TrainEpoch(2, cancel: cancel);
        Assert.Equal(parameters, again.Network.GetParameters());
        Assert.Equal(state, again.Network.GetState());
    }

    /// <summary>Through the run layer: the model file holds the five tensors of each bn under torch's
    /// names (num_batches_tracked a float32 scalar), evaluates to the run's test figures, exports to
    /// ONNX (BatchNormalization) that ONNX Runtime runs to the device's evaluation logits, and a run
    /// resumed from its one-epoch checkpoint ends with the uninterrupted run's bits, state included.</summary>
    [Fact]
    public void TrainingRun_BnStack_SavesTorchTensorsExportsAndResumesBitIdentically()
    {
        var cancel = TestContext.Current.CancellationToken;
        var options = SmallBn with { ValidationSplit = 0, LimitTrain = 320 };
        using var data = new DeviceImageDataset(fixture.Device.Accelerator, RealMnist.Load());
        string straight = Path.Combine(dir.Path, "straight"), split = Path.Combine(dir.Path, "split");
        EvaluationResult test;
        using (var run = TrainingRun.Start(straight, options, fixture.KernelDevice, data))
            test = run.Finish(run.Train(cancel: cancel));

        var content = SafeTensorsFile.Read(Path.Combine(straight, RunArtifacts.ModelFileName));
        Assert.Equal(["0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var", "1.num_batches_tracked",
            "5.weight", "5.bias", "6.weight", "6.bias", "6.running_mean", "6.running_var", "6.num_batches_tracked", "8.weight", "8.bias"],
            content.Tensors.Select(t => t.Name));
        Assert.Empty(content.Find("6.num_batches_tracked")!.Shape);
        Assert.Equal([20f], content.Find("6.num_batches_tracked")!.Data);
        Assert.Equal([8], content.Find("1.running_var")!.Shape);

        var model = TrainedModel.Load(straight);
        using (var onDevice = model.Upload(fixture.KernelDevice, TrainingOptions.DefaultEvaluationBatchSize))
        {
            var again = onDevice.Evaluate(data.Test);
            Assert.Equal(test.Accuracy, again.Accuracy);
            Assert.Equal(test.Loss, again.Loss);
        }
        CheckOnnx(model);

        using (var first = TrainingRun.Start(split, options with { Epochs = 1 }, fixture.KernelDevice, data))
            first.Finish(first.Train(cancel: cancel));
        using (var second = TrainingRun.StartOrResume(split, options, fixture.KernelDevice, data))
        {
            Assert.NotNull(second.ResumedAt);
            second.Finish(second.Train(cancel: cancel));
        }
        var a = Checkpoint.Load(Path.Combine(straight, Checkpoint.FileName));
        var b = Checkpoint.Load(Path.Combine(split, Checkpoint.FileName));
        Assert.Equal(a.Parameters, b.Parameters);
        Assert.Equal(a.LayerState, b.LayerState);
        Assert.Equal(model.State, b.LayerState);
    }

    /// <summary>The exported graph has one BatchNormalization per bn, and ONNX Runtime's logits are
    /// the device's evaluation logits on a few test images.</summary>
    private void CheckOnnx(TrainedModel model)
    {
        var description = NetworkDescription.FromArchitecture(model.Network, model.Parameters, model.State, model.Schema.Shape);
        Assert.Equal(["Conv", "BatchNormalization", "Relu", "MaxPool", "Flatten", "Gemm", "BatchNormalization", "Relu", "Gemm", "Softmax"],
            OnnxExporter.Build(description).Graph.Node.Select(n => n.OpType));
        string path = Path.Combine(dir.Path, "bn.onnx");
        OnnxExporter.Write(path, description, null, replace: false);

        var images = RealMnist.Load().Test;
        float[] input = Enumerable.Range(0, Rows).SelectMany(images.Normalised).ToArray();
        using var session = new InferenceSession(path);
        using var tensor = OrtValue.CreateTensorValueFromMemory(input, [Rows, 1, 28, 28]);
        using var runOptions = new RunOptions();
        using var outputs = session.Run(runOptions, ["input"], [tensor], ["logits"]);
        float[] onnx = outputs[0].GetTensorDataAsSpan<float>().ToArray();

        using var device = new LayerNetwork(fixture.Kernels, model.Network, Rows);
        device.SetParameters(model.Parameters);
        device.SetState(model.State);
        device.Input.SubView(0, input.Length).CopyFromCPU(ref input[0], input.Length);
        device.Forward(Rows, training: false, 0, 0);
        // Sums of at most 1568 float32 products in either runtime, then bn's scale.
        Compare.AllClose(onnx, Logits(device, 10).Select(v => (double)v).ToArray(), 2e-4, 2e-4, "ONNX Runtime logits vs the device's evaluation");
    }

    /// <summary>The library's short way in: MnistModel trains a bn stack, saves it with its state
    /// (it loads back to the same predictions, so the running statistics came along) and exports it.</summary>
    [Fact]
    public void MnistModel_BnStack_SavesLoadsAndExportsWithItsState()
    {
        var data = RealMnist.Load();
        var options = new TrainingOptions
        {
            ArchitectureText = "dense16,bn,relu,dense10",
            Epochs = 1,
            LimitTrain = 200,
            BatchSize = 20,
            ValidationSplit = 0,
            Seed = 2,
        };
        using var model = MnistModel.Train(data, options, TestDevice.RequestedName);
        float[] state = model.GetState();
        Assert.Equal(10f, state[^1]);
        float[] image = MnistModel.TestImage(data, 0);
        var prediction = model.Predict(image);

        string path = Path.Combine(dir.Path, "api-bn.safetensors");
        model.Save(path);
        using (var loaded = MnistModel.Load(path, TestDevice.RequestedName))
        {
            Assert.Equal(state, loaded.GetState());
            Assert.Equal(prediction.Probabilities, loaded.Predict(image).Probabilities);
        }
        string onnx = Path.Combine(dir.Path, "api-bn.onnx");
        model.ExportOnnx(onnx);
        Assert.True(new FileInfo(onnx).Length > 0);
    }
}
