using GpuMlp.Models;
using GpuMlp.Tests.Data;
using GpuMlp.Training;

namespace GpuMlp.Tests.Models;

public sealed class ModelFileTests : IDisposable
{
    private readonly TempDir dir = new();

    public void Dispose() => dir.Dispose();

    private string PathOf(string name) => Path.Combine(dir.Path, name);

    private static readonly Dictionary<string, string> Config = new() { ["gpumlp.config"] = """{"epochs":20,"lr":0.001}""" };

    private string WriteTensors(string name, params SafeTensor[] tensors)
    {
        string path = PathOf(name);
        SafeTensorsFile.Write(path, tensors);
        return path;
    }

    private static SafeTensor Zeros(string name, params int[] shape) =>
        new(name, shape, new float[shape.Aggregate(1, (a, b) => a * b)]);

    private static ModelFormatException AssertModelError(Action load, string path, params string[] fragments)
    {
        ModelFormatException ex = Assert.Throws<ModelFormatException>(load);
        Assert.DoesNotContain('\n', ex.Message);
        Assert.StartsWith(path + ": ", ex.Message, StringComparison.Ordinal);
        foreach (string f in fragments)
        {
            Assert.Contains(f, ex.Message, StringComparison.Ordinal);
        }
        return ex;
    }

    [Fact]
    public void SaveThenLoad_DefaultModel_RoundTrips()
    {
        Architecture shape = MnistNetworks.Mlp([512, 256], 0f);
        float[] parameters = shape.InitialParameters(seed: 7);
        string path = PathOf("model.safetensors");

        ModelFile.SaveMlp(path, shape, parameters, Config);
        var (loadedShape, loaded, metadata) = ModelFile.Load(path);

        Assert.Equal([784, 512, 256, 10], loadedShape.MlpWidths);
        Assert.Equal(parameters, loaded);
        Assert.Equal("pt", metadata["format"]);
        Assert.Equal("784,512,256,10", metadata["gpumlp.widths"]);
        Assert.Equal(Config["gpumlp.config"], metadata["gpumlp.config"]);
        Assert.Equal(parameters, ModelFile.Load(path, MnistNetworks.Mlp([512, 256], 0f)).Parameters);
    }

    [Fact]
    public void Save_DefaultModel_WritesPyTorchSequentialNamesAndShapes()
    {
        Architecture shape = Architecture.Mlp(5, [4, 3], 2, 0f);
        string path = PathOf("m.safetensors");
        ModelFile.SaveMlp(path, shape, shape.InitialParameters(1), new Dictionary<string, string>());

        SafeTensorsContent content = SafeTensorsFile.Read(path);

        Assert.Equal(["0.weight", "0.bias", "3.weight", "3.bias", "6.weight", "6.bias"], content.Tensors.Select(t => t.Name));
        Assert.Equal([4, 5], content.Find("0.weight")!.Shape);
        Assert.Equal([4], content.Find("0.bias")!.Shape);
        Assert.Equal([3, 4], content.Find("3.weight")!.Shape);
        Assert.Equal([2, 3], content.Find("6.weight")!.Shape);
        Assert.Equal([2], content.Find("6.bias")!.Shape);
    }

    [Fact]
    public void Save_Weights_AreTransposedToOutByIn()
    {
        // One layer, 3 inputs, 2 outputs: ours is W[in, out] row-major, PyTorch's is [out, in].
        Architecture shape = Architecture.Mlp(3, [], 2, 0f);
        float[] parameters = new float[shape.ParameterCount];
        for (int i = 0; i < 3; i++)
        {
            for (int o = 0; o < 2; o++)
            {
                parameters[(i * 2) + o] = (10 * i) + o; // W[i, o] = 10i + o
            }
        }
        parameters[6] = 100;
        parameters[7] = 101;
        string path = PathOf("t.safetensors");

        ModelFile.SaveMlp(path, shape, parameters, new Dictionary<string, string>());
        SafeTensor w = SafeTensorsFile.Read(path).Find("0.weight")!;

        for (int i = 0; i < 3; i++)
        {
            for (int o = 0; o < 2; o++)
            {
                Assert.Equal((10 * i) + o, w.Data[(o * 3) + i]);
            }
        }
        Assert.Equal([100f, 101f], SafeTensorsFile.Read(path).Find("0.bias")!.Data);
        Assert.Equal(parameters, ModelFile.Load(path).Parameters);
    }

    [Fact]
    public void Save_ReservedMetadataKeys_AreOverridden()
    {
        Architecture shape = Architecture.Mlp(2, [], 2, 0f);
        string path = PathOf("m.safetensors");
        ModelFile.SaveMlp(path, shape, new float[shape.ParameterCount], new Dictionary<string, string> { ["format"] = "np", ["gpumlp.widths"] = "1,1" });
        var metadata = ModelFile.Load(path).Metadata;
        Assert.Equal("pt", metadata["format"]);
        Assert.Equal("2,2", metadata["gpumlp.widths"]);
    }

    [Fact]
    public void Save_RejectsWrongParameterCount_AndNaN()
    {
        Architecture shape = Architecture.Mlp(2, [], 2, 0f);
        Assert.Throws<ArgumentException>(() => ModelFile.SaveMlp(PathOf("a"), shape, new float[5], Config));
        float[] nan = new float[shape.ParameterCount];
        nan[3] = float.NaN;
        Assert.Throws<ArgumentException>(() => ModelFile.SaveMlp(PathOf("b"), shape, nan, Config));
        Assert.False(File.Exists(PathOf("a")));
        Assert.False(File.Exists(PathOf("b")));
    }

    [Fact]
    public void Load_WithoutWidthsMetadata_IsAccepted()
    {
        // As written by safetensors.torch.save_file(model.state_dict()) with no metadata.
        string path = WriteTensors("torch.safetensors", Zeros("0.weight", 3, 4), Zeros("0.bias", 3), Zeros("3.weight", 2, 3), Zeros("3.bias", 2));
        Assert.Equal([4, 3, 2], ModelFile.Load(path).Network.MlpWidths);
    }

    [Fact]
    public void Load_WrongExpectedShape_IsRejected()
    {
        Architecture small = MnistNetworks.Mlp([128], 0f);
        string path = PathOf("small.safetensors");
        ModelFile.SaveMlp(path, small, small.InitialParameters(3), Config);

        AssertModelError(() => ModelFile.Load(path, MnistNetworks.Mlp([512, 256], 0f)), path,
            "model has widths 784-128-10 but the configuration expects 784-512-256-10");
    }

    [Fact]
    public void Load_WidthsMetadataDisagreeingWithTensors_IsRejected()
    {
        string path = PathOf("m.safetensors");
        SafeTensorsFile.Write(path, [Zeros("0.weight", 2, 4), Zeros("0.bias", 2)], new Dictionary<string, string> { ["gpumlp.widths"] = "4,3" });
        AssertModelError(() => ModelFile.Load(path), path, "metadata gpumlp.widths says 4,3 but the tensors have widths 4,2");
    }

    [Fact]
    public void Load_MissingTensor_IsRejected()
    {
        string path = WriteTensors("m.safetensors", Zeros("0.weight", 3, 4), Zeros("0.bias", 3), Zeros("3.weight", 2, 3));
        AssertModelError(() => ModelFile.Load(path), path, "missing tensor 3.bias");
    }

    [Fact]
    public void Load_SkippedLayer_IsRejectedAsMissing()
    {
        string path = WriteTensors("m.safetensors", Zeros("0.weight", 3, 4), Zeros("0.bias", 3), Zeros("6.weight", 2, 3), Zeros("6.bias", 2));
        AssertModelError(() => ModelFile.Load(path), path, "missing tensor 3.weight");
    }

    [Theory]
    [InlineData("extra")]
    [InlineData("1.weight")]
    [InlineData("03.weight")]
    [InlineData("0.running_mean")]
    public void Load_ExtraTensor_IsRejected(string extra)
    {
        string path = WriteTensors("m.safetensors", Zeros("0.weight", 2, 4), Zeros("0.bias", 2), Zeros(extra, 2));
        AssertModelError(() => ModelFile.Load(path), path, $"unexpected tensor {extra}");
    }

    [Fact]
    public void Load_NoTensors_IsRejected()
    {
        string path = WriteTensors("m.safetensors");
        AssertModelError(() => ModelFile.Load(path), path, "no tensors");
    }

    [Fact]
    public void Load_ConsecutiveLayersThatDoNotChain_AreRejected()
    {
        string path = WriteTensors("m.safetensors", Zeros("0.weight", 3, 4), Zeros("0.bias", 3), Zeros("3.weight", 2, 5), Zeros("3.bias", 2));
        AssertModelError(() => ModelFile.Load(path), path, "tensor 3.weight has 5 inputs but the previous layer (0.weight) has 3 outputs");
    }

    [Fact]
    public void Load_BiasOfWrongLength_IsRejected()
    {
        string path = WriteTensors("m.safetensors", Zeros("0.weight", 3, 4), Zeros("0.bias", 4));
        AssertModelError(() => ModelFile.Load(path), path, "tensor 0.bias has shape [4] but 0.weight has 3 outputs");
    }

    [Fact]
    public void Load_WeightOfWrongRank_IsRejected()
    {
        string path = WriteTensors("m.safetensors", Zeros("0.weight", 12), Zeros("0.bias", 3));
        AssertModelError(() => ModelFile.Load(path), path, "tensor 0.weight has shape [12]; a weight must be [out, in]");
    }

    [Fact]
    public void Load_BiasOfWrongRank_IsRejected()
    {
        string path = WriteTensors("m.safetensors", Zeros("0.weight", 3, 4), Zeros("0.bias", 3, 1));
        AssertModelError(() => ModelFile.Load(path), path, "tensor 0.bias has shape [3, 1]; a bias must be [out]");
    }

    [Fact]
    public void Load_EmptyLayer_IsRejected()
    {
        string path = WriteTensors("m.safetensors", Zeros("0.weight", 0, 4), Zeros("0.bias", 0));
        AssertModelError(() => ModelFile.Load(path), path, "at least one input and one output");
    }

    [Fact]
    public void Load_SingleClass_IsRejected()
    {
        string path = WriteTensors("m.safetensors", Zeros("0.weight", 1, 4), Zeros("0.bias", 1));
        AssertModelError(() => ModelFile.Load(path), path, "at least two classes");
    }

    [Fact]
    public void Load_NaNWeight_IsRejected()
    {
        float[] w = new float[8];
        w[5] = float.NaN;
        string path = PathOf("nan.safetensors");
        // The writer refuses NaN, so craft the file.
        byte[] file = Crafted.File(
            """{"0.weight":{"dtype":"F32","shape":[2,4],"data_offsets":[0,32]},"0.bias":{"dtype":"F32","shape":[2],"data_offsets":[32,40]}}""",
            Crafted.Floats([.. w, 0, 0]));
        File.WriteAllBytes(path, file);
        AssertModelError(() => ModelFile.Load(path), path, "tensor 0.weight contains NaN at index 5");
    }
}
