using GpuMlp.Export;
using GpuMlp.Models;
using GpuMlp.Tests.Reference;
using GpuMlp.Tests.Training;
using GpuMlp.Training;
using ILGPU;
using ILGPU.Runtime;
using Microsoft.ML.OnnxRuntime;

namespace GpuMlp.Tests.Export;

/// <summary>A network with convolutions in model.safetensors (PyTorch names and layouts) and in
/// ONNX (Conv, MaxPool, Flatten nodes), run in ONNX Runtime against the device's forward pass and
/// the float64 reference.</summary>
[Collection(DeviceCollection.Name)]
public sealed class CnnExportTests(DeviceFixture fixture) : IDisposable
{
    private const string Stack = "conv3x3x4p1,relu,pool2,conv3x3x6,relu,pool2,flatten,dense16,relu,dropout0.5,dense10";
    private const int Rows = 6;
    private readonly string root = Directory.CreateTempSubdirectory("gpumlp-cnn-export-").FullName;

    public void Dispose() => Directory.Delete(root, recursive: true);

    private static (Architecture Network, float[] Parameters, float[] Input) Problem()
    {
        var network = MnistNetworks.Parse(Stack);
        var random = new Random(3);
        float[] input = Enumerable.Range(0, Rows * 784).Select(_ => (float)random.NextDouble()).ToArray();
        return (network, network.InitialParameters(3), input);
    }

    [Fact]
    public void ModelFile_CnnStack_WritesPyTorchNamesAndLayoutsAndReadsBack()
    {
        var (network, parameters, _) = Problem();
        string path = Path.Combine(root, "model.safetensors");
        ModelFile.Save(path, network, parameters, new Dictionary<string, string> { ["gpumlp.seed"] = "3" });

        var content = SafeTensorsFile.Read(path);
        Assert.Equal(["0.weight", "0.bias", "3.weight", "3.bias", "7.weight", "7.bias", "10.weight", "10.bias"], content.Tensors.Select(t => t.Name));
        Assert.Equal([4, 1, 3, 3], content.Find("0.weight")!.Shape);
        Assert.Equal([6, 4, 3, 3], content.Find("3.weight")!.Shape);
        Assert.Equal([16, 216], content.Find("7.weight")!.Shape);
        Assert.Equal([10, 16], content.Find("10.weight")!.Shape);
        // conv weights are stored as PyTorch holds them; dense weights transposed from [in, out].
        Assert.Equal(parameters.AsSpan(0, 36).ToArray(), content.Find("0.weight")!.Data);
        var dense = network.Tensors.Single(t => t.Name == "7.weight");
        Assert.Equal(parameters[dense.Offset + (5 * 16) + 2], content.Find("7.weight")!.Data[(2 * 216) + 5]);
        Assert.Equal(Stack, content.Metadata[ModelFile.ArchitectureKey]);
        Assert.False(content.Metadata.ContainsKey(ModelFile.WidthsKey));

        var loaded = ModelFile.LoadAny(path);
        Assert.False(loaded.IsMlp);
        Assert.Equal(Stack, loaded.Network.Text);
        Assert.Equal(parameters, loaded.Parameters);
    }

    [Fact]
    public void ModelFile_MlpWithoutArchitectureMetadata_LoadsAsTheMlp()
    {
        var shape = MnistNetworks.Mlp([8], 0f);
        string path = Path.Combine(root, "mlp.safetensors");
        float[] parameters = shape.InitialParameters(1);
        ModelFile.SaveMlp(path, shape, parameters, new Dictionary<string, string>());
        var loaded = ModelFile.LoadAny(path);
        Assert.True(loaded.IsMlp);
        Assert.Equal([784, 8, 10], loaded.Network.MlpWidths);
        Assert.Equal("dense8,relu,dropout0,dense10", loaded.Network.Text);
        Assert.Equal(parameters, loaded.Parameters);
    }

    [Fact]
    public void OnnxExport_CnnStack_MatchesTheDeviceAndTheReferenceInOnnxRuntime()
    {
        var (network, parameters, input) = Problem();
        var description = NetworkDescription.FromArchitecture(network, parameters);
        Assert.Equal([1, 28, 28], description.SampleShape);
        string path = Path.Combine(root, "model.onnx");
        OnnxExporter.Write(path, description, null, replace: false);
        var model = OnnxExporter.Build(description);
        Assert.Equal(["Conv", "Relu", "MaxPool", "Conv", "Relu", "MaxPool", "Flatten", "Gemm", "Relu", "Gemm", "Softmax"],
            model.Graph.Node.Select(n => n.OpType));

        using var session = new InferenceSession(path);
        using var tensor = OrtValue.CreateTensorValueFromMemory(input, [Rows, 1, 28, 28]);
        using var runOptions = new RunOptions();
        using var outputs = session.Run(runOptions, ["input"], [tensor], ["logits", "probabilities"]);
        float[] onnx = outputs[0].GetTensorDataAsSpan<float>().ToArray();
        Assert.Equal([Rows, 10], outputs[0].GetTensorTypeAndShape().Shape);

        var reference = new ReferenceLayerNetwork(network, parameters.Select(v => (double)v).ToArray())
            .Forward(input.Select(v => (double)v).ToArray(), Rows);
        // Sums of at most 216 float32 products of O(1) values per layer in either runtime.
        Compare.AllClose(onnx, reference, 1e-4, 1e-4, "ONNX Runtime logits vs the float64 reference");

        using var device = new LayerNetwork(fixture.Kernels, network, Rows);
        device.SetParameters(parameters);
        device.Input.SubView(0, input.Length).CopyFromCPU(ref input[0], input.Length);
        device.Forward(Rows, training: false, 0, 0);
        var logits = new float[Rows * 10];
        device.Logits.SubView(0, logits.Length).CopyToCPU(ref logits[0], logits.Length);
        Compare.AllClose(onnx, logits.Select(v => (double)v).ToArray(), 1e-4, 1e-4, "ONNX Runtime logits vs the device forward pass");
    }
    /// <summary>The library's short way in with a layer stack: MnistModel trains it (with shifts),
    /// names it, evaluates and predicts, saves it with its architecture so it loads back to the same
    /// predictions, and exports the stack's ONNX graph (Conv nodes, image input).</summary>
    [Fact]
    public void MnistModel_CnnStack_TrainsSavesLoadsAndExports()
    {
        var data = Data.RealMnist.Load();
        var options = new TrainingOptions
        {
            ArchitectureText = "conv3x3x4p1,relu,pool2,flatten,dense10",
            Epochs = 1,
            LimitTrain = 600,
            BatchSize = 20,
            Optimizer = new OptimizerSettings(OptimizerKind.Adam) { LearningRate = 0.002f },
            ValidationSplit = 0,
            Seed = 2,
            AugmentShift = 1,
        };
        using var model = MnistModel.Train(data, options, TestDevice.RequestedName);
        Assert.Equal(options.ArchitectureText, model.Name);
        Assert.Equal(options.ArchitectureText, model.Network.Text);
        Assert.Throws<InvalidOperationException>(() => model.Shape);
        double accuracy = model.Evaluate(data).Accuracy;
        // 30 steps of 20 shifted images reach 58 % test accuracy on the CPU accelerator; chance is 10 %.
        Assert.True(accuracy > 0.3, $"test accuracy {accuracy:P2} after one epoch of 600 images");
        float[] image = MnistModel.TestImage(data, 0);
        var prediction = model.Predict(image);

        string path = Path.Combine(root, "api-cnn.safetensors");
        model.Save(path);
        Assert.Equal(options.ArchitectureText, TrainedModel.Load(path).Metadata[ModelFile.ArchitectureKey]);
        Assert.False(TrainedModel.Load(path).Metadata.ContainsKey(TrainedModel.DropoutKey));
        using (var loaded = MnistModel.Load(path, TestDevice.RequestedName))
        {
            Assert.Equal(model.GetParameters(), loaded.GetParameters());
            Assert.Equal(prediction.Probabilities, loaded.Predict(image).Probabilities);
        }

        string onnx = Path.Combine(root, "api-cnn.onnx");
        model.ExportOnnx(onnx);
        var graph = GpuMlp.Export.Onnx.ModelProto.Parser.ParseFrom(File.ReadAllBytes(onnx)).Graph;
        Assert.Contains(graph.Node, n => n.OpType == "Conv");
        Assert.Equal([1, 28, 28], graph.Input[0].Type.TensorType.Shape.Dim.Skip(1).Select(d => d.DimValue));
    }
}
