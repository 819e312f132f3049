using GpuMlp.Models;
using GpuMlp.Training;

namespace GpuMlp.Tests.Training;

public sealed class ArchitectureTests
{
    private const string MlpText = "dense512,relu,dropout0.2,dense256,relu,dropout0.2,dense10";

    [Fact]
    public void Cnn_Preset_HasPyTorchShapesNamesAndOffsets()
    {
        Architecture cnn = MnistNetworks.Cnn;

        Assert.Equal(Architecture.CnnText, cnn.Text);
        Assert.Equal(MnistNetworks.Image, cnn.Input);
        Assert.Equal(
            ["32x28x28", "32x28x28", "32x14x14", "64x14x14", "64x14x14", "64x7x7", "3136", "512", "512", "512", "10"],
            cnn.Layers.Select(l => l.Output.ToString()));
        Assert.Equal([832, 0, 0, 51_264, 0, 0, 0, 1_606_144, 0, 0, 5_130], cnn.Layers.Select(l => l.ParameterCount));
        Assert.Equal(1_663_370, cnn.ParameterCount);

        // state_dict order: weight then bias per layer, at the layer's nn.Sequential index.
        (string Name, int[] Shape, int Offset, bool Transposed)[] expected =
        [
            ("0.weight", [32, 1, 5, 5], 0, false),
            ("0.bias", [32], 800, false),
            ("3.weight", [64, 32, 5, 5], 832, false),
            ("3.bias", [64], 52_032, false),
            ("7.weight", [512, 3136], 52_096, true),
            ("7.bias", [512], 1_657_728, false),
            ("10.weight", [10, 512], 1_658_240, true),
            ("10.bias", [10], 1_663_360, false),
        ];
        Assert.Equal(expected.Length, cnn.Tensors.Count);
        for (int i = 0; i < expected.Length; i++)
        {
            ParameterTensor tensor = cnn.Tensors[i];
            Assert.Equal(expected[i].Name, tensor.Name);
            Assert.Equal(expected[i].Shape, tensor.Shape);
            Assert.Equal(expected[i].Offset, tensor.Offset);
            Assert.Equal(expected[i].Transposed, tensor.StoredTransposed);
        }
        Assert.Equal(cnn.ParameterCount, cnn.Tensors[^1].Offset + cnn.Tensors[^1].Length);
    }

    [Fact]
    public void Cnn_Preset_DescribesItsPyTorchModules()
    {
        Assert.Equal(
        [
            "nn.Conv2d(1, 32, kernel_size=(5, 5), padding=2)", "nn.ReLU()", "nn.MaxPool2d(2)",
            "nn.Conv2d(32, 64, kernel_size=(5, 5), padding=2)", "nn.ReLU()", "nn.MaxPool2d(2)", "nn.Flatten()",
            "nn.Linear(3136, 512)", "nn.ReLU()", "nn.Dropout(0.5)", "nn.Linear(512, 10)",
        ], MnistNetworks.Cnn.Layers.Select(l => l.PyTorchModule));
        Assert.True(MnistNetworks.Cnn.HasConvolution);
    }

    /// <summary>The MLP preset has the MLP files' layout: W_l [in, out] then b_l [out], layer by
    /// layer, the same PyTorch names as the MLP model files, the same initial parameters (each layer's
    /// W then b uniform in ±1/sqrt(in) from one seeded generator), so MLP checkpoints and models stay valid.</summary>
    [Fact]
    public void Mlp_Preset_MatchesTheMlpFilesLayoutNamesAndInitialisation()
    {
        Architecture mlp = MnistNetworks.Mlp([512, 256], 0.2f);
        int[] widths = [784, 512, 256, 10];
        int layers = widths.Length - 1;
        var weightOffsets = new int[layers];
        var biasOffsets = new int[layers];
        int offset = 0;
        for (int l = 0; l < layers; l++)
        {
            weightOffsets[l] = offset;
            offset += widths[l] * widths[l + 1];
            biasOffsets[l] = offset;
            offset += widths[l + 1];
        }
        var initial = new float[offset];
        var random = new Random(42);
        for (int l = 0; l < layers; l++)
        {
            double bound = 1.0 / Math.Sqrt(widths[l]);
            for (int i = weightOffsets[l]; i < biasOffsets[l] + widths[l + 1]; i++)
                initial[i] = (float)((random.NextDouble() * 2.0 - 1.0) * bound);
        }

        Assert.Equal(MlpText, mlp.Text);
        Assert.Equal(MnistNetworks.Vector, mlp.Input);
        Assert.False(mlp.HasConvolution);
        Assert.Equal(widths, mlp.MlpWidths);
        Assert.Equal("784-512-256-10", mlp.MlpName);
        Assert.Equal(offset, mlp.ParameterCount);
        var weights = mlp.Tensors.Where(t => t.Name.EndsWith(".weight", StringComparison.Ordinal)).ToArray();
        var biases = mlp.Tensors.Where(t => t.Name.EndsWith(".bias", StringComparison.Ordinal)).ToArray();
        Assert.Equal(weightOffsets, weights.Select(t => t.Offset));
        Assert.Equal(biasOffsets, biases.Select(t => t.Offset));
        Assert.Equal(Enumerable.Range(0, layers).Select(ModelFile.WeightName), weights.Select(t => t.Name));
        Assert.Equal(Enumerable.Range(0, layers).Select(ModelFile.BiasName), biases.Select(t => t.Name));
        Assert.Equal([512, 784], weights[0].Shape);
        Assert.All(weights, w => Assert.True(w.StoredTransposed));
        Assert.Equal(initial, mlp.InitialParameters(42));
        Assert.Null(MnistNetworks.Cnn.MlpWidths);
        Assert.Equal(mlp.Text, MnistNetworks.Parse(MlpText).Text);
        Assert.Equal(MnistNetworks.Vector, MnistNetworks.Parse(MlpText).Input);
    }

    [Theory]
    [InlineData(Architecture.CnnText)]
    [InlineData(MlpText)]
    [InlineData("dense10")]
    [InlineData("flatten,dense10")]
    [InlineData("conv3x3x8,pool2,flatten,dense10")]
    [InlineData("conv3x5x4p1,relu,conv1x1x2,pool2,flatten,dropout0,dense10")]
    [InlineData("conv7x7x3p6,pool2,pool2,flatten,dropout0.25,dense64,relu,dropout0.125,dense10")]
    public void Parse_CanonicalText_RoundTrips(string text)
    {
        Architecture parsed = MnistNetworks.Parse(text);
        Assert.Equal(text, parsed.Text);
        Assert.Equal(parsed.Specs, MnistNetworks.Parse(parsed.Text).Specs);
    }

    [Fact]
    public void Parse_CaseAndSpacesAndPaddingZero_GiveCanonicalText()
    {
        Architecture parsed = MnistNetworks.Parse(" Conv5x5x32P2 , RELU,Pool2, conv3x3x8p0 ,FLATTEN, Dropout.5 ,dense10 ");
        Assert.Equal("conv5x5x32p2,relu,pool2,conv3x3x8,flatten,dropout0.5,dense10", parsed.Text);
    }

    [Theory]
    [InlineData(0.5f)]
    [InlineData(0.2f)]
    [InlineData(0.1f)]
    [InlineData(1e-5f)]
    [InlineData(0.99999f)]
    [InlineData(0f)]
    public void DropoutToken_AnyRate_ReadsBackTheSameFloat(float rate)
    {
        string token = LayerSpec.Dropout(rate).Token;
        Assert.DoesNotContain("E", token, StringComparison.Ordinal);
        Assert.Equal(LayerSpec.Dropout(rate), Assert.Single(Architecture.ParseLayers(token)));
    }

    [Theory]
    [InlineData("", "architecture: empty; give comma-separated layers: conv<kh>x<kw>x<out>[p<pad>], pool2, flatten, dense<out>, relu, dropout<p>, bn")]
    [InlineData("conv5x5x32,,relu", "architecture: layer 2 is empty (two commas in a row)")]
    [InlineData("dense10,", "architecture: layer 2 is empty (a trailing comma)")]
    [InlineData("conv5x5", "architecture: layer 1 'conv5x5': expected conv<kh>x<kw>x<out>[p<pad>], e.g. conv5x5x32p2")]
    [InlineData("conv5x5x32p", "architecture: layer 1 'conv5x5x32p': expected conv<kh>x<kw>x<out>[p<pad>], e.g. conv5x5x32p2")]
    [InlineData("conv5x5x0", "architecture: layer 1 'conv5x5x0': output channels must be 1..65536")]
    [InlineData("conv0x5x8", "architecture: layer 1 'conv0x5x8': kernel height must be 1..64")]
    [InlineData("conv5x5x32p5", "architecture: layer 1 'conv5x5x32p5': padding must be 0..4")]
    [InlineData("conv5x3x32p3", "architecture: layer 1 'conv5x3x32p3': padding must be 0..2")]
    [InlineData("conv5x5x99999999999", "architecture: layer 1 'conv5x5x99999999999': output channels must be 1..65536")]
    [InlineData("relu,dense", "architecture: layer 2 'dense': expected dense<out>, e.g. dense512")]
    [InlineData("dense-5", "architecture: layer 1 'dense-5': expected dense<out>, e.g. dense512")]
    [InlineData("dense2000000", "architecture: layer 1 'dense2000000': width must be 1..1048576")]
    [InlineData("dropout1", "architecture: layer 1 'dropout1': the dropout rate must be below 1")]
    [InlineData("dropout0.9999999999", "architecture: layer 1 'dropout0.9999999999': the dropout rate must be below 1")]
    [InlineData("dropout-0.1", "architecture: layer 1 'dropout-0.1': expected dropout<p> with p in [0, 1), e.g. dropout0.5")]
    [InlineData("dropout", "architecture: layer 1 'dropout': expected dropout<p> with p in [0, 1), e.g. dropout0.5")]
    [InlineData("pool3", "architecture: layer 1 'pool3': only 2x2 max-pooling exists, written pool2")]
    [InlineData("flatten,dense10,softmax", "architecture: layer 3 'softmax' is not a layer; layers are conv<kh>x<kw>x<out>[p<pad>], pool2, flatten, dense<out>, relu, dropout<p>, bn")]
    [InlineData("conv 5x5x8", "architecture: layer 1 'conv 5x5x8': expected conv<kh>x<kw>x<out>[p<pad>], e.g. conv5x5x32p2")]
    public void Parse_BadToken_OneLineErrorNamingIt(string text, string message)
    {
        var error = Assert.Throws<ArchitectureException>(() => MnistNetworks.Parse(text));
        Assert.Equal(message, error.Message);
    }

    [Theory]
    [InlineData("conv28x28x4,pool2,flatten,dense10", "architecture: layer 2 'pool2': 2x2 pooling needs a map of at least 2x2, but its input is 4x1x1")]
    [InlineData("conv5x5x8,dense10", "architecture: layer 2 'dense10': a dense layer needs a vector; put flatten before it (its input is 8x24x24)")]
    [InlineData("flatten,conv3x3x4,dense10", "architecture: layer 2 'conv3x3x4': a convolution needs a CxHxW map, but its input is a vector of 784")]
    [InlineData("flatten,pool2,dense10", "architecture: layer 2 'pool2': 2x2 pooling needs a CxHxW map, but its input is a vector of 784")]
    [InlineData("pool2,pool2,pool2,pool2,conv5x5x4,flatten,dense10", "architecture: layer 5 'conv5x5x4': a 5x5 kernel with padding 0 does not fit its 1x1x1 input")]
    [InlineData("flatten,flatten,dense10", "architecture: layer 2 'flatten': its input is already a vector (784)")]
    [InlineData("dropout0.2,dense10,flatten", "architecture: layer 2 'dense10': a dense layer needs a vector; put flatten before it (its input is 1x28x28)")]
    [InlineData("conv3x3x10", "architecture: the stack ends in a 10x26x26 map; it must end in a vector of 10 class scores (e.g. flatten,dense10)")]
    [InlineData("dense512,relu", "architecture: the stack ends in a vector of 512; it must end in a vector of 10 class scores (e.g. dense10)")]
    [InlineData("conv5x5x65536p2,flatten,dense65536,dense10", "architecture: layer 3 'dense65536': the stack would have more than 2147483647 parameters")]
    public void Parse_ShapesThatDoNotChain_OneLineErrorNamingTheLayer(string text, string message)
    {
        var error = Assert.Throws<ArchitectureException>(() => MnistNetworks.Parse(text));
        Assert.Equal(message, error.Message);
    }

    /// <summary>A layer kind is one spec record with its parser in LayerSpec.Kinds: every concrete
    /// spec type has a parser, and the text of each kind reads back as its type.</summary>
    [Fact]
    public void Kinds_EveryConcreteLayerSpec_HasOneRegisteredParser()
    {
        var specTypes = typeof(LayerSpec).Assembly.GetTypes()
            .Where(t => t.IsSubclassOf(typeof(LayerSpec)) && !t.IsAbstract).ToHashSet();
        var parsed = Architecture.ParseLayers("conv3x3x4p1,pool2,flatten,dense8,relu,dropout0.5,bn");

        Assert.Equal(specTypes.Count, LayerSpec.Kinds.Count);
        Assert.Equal(specTypes, parsed.Select(l => l.GetType()).ToHashSet());
        Assert.All(parsed, spec => Assert.Equal(spec, Assert.Single(Architecture.ParseLayers(spec.Token))));
    }

    [Fact]
    public void Constructor_TinyInput_InfersShapesAndCounts()
    {
        var architecture = new Architecture(
            [LayerSpec.Conv(4, 3, padding: 1), LayerSpec.Relu, LayerSpec.MaxPool2, LayerSpec.Flatten, LayerSpec.Dense(3)],
            ActivationShape.Map(2, 7, 5), classes: 3);
        Assert.Equal(["4x7x5", "4x7x5", "4x3x2", "24", "3"], architecture.Layers.Select(l => l.Output.ToString()));
        Assert.Equal((4 * 2 * 3 * 3) + 4 + (24 * 3) + 3, architecture.ParameterCount);
        Assert.Equal(["0.weight", "0.bias", "4.weight", "4.bias"], architecture.Tensors.Select(t => t.Name));
        Assert.Equal([18, 24], architecture.Tensors.Where(t => t.Name.EndsWith("weight", StringComparison.Ordinal)).Select(t => t.FanIn));
    }

    [Fact]
    public void Constructor_InvalidProgrammaticLayers_Throw()
    {
        Assert.Throws<ArchitectureException>(() => new Architecture([], MnistNetworks.Vector, MnistNetworks.Classes));
        Assert.Contains("positive", Assert.Throws<ArchitectureException>(() =>
            new Architecture([new ConvSpec(0, 3, 3, 0), LayerSpec.Flatten, LayerSpec.Dense(10)], MnistNetworks.Image, MnistNetworks.Classes)).Message, StringComparison.Ordinal);
        Assert.Contains("[0, 1)", Assert.Throws<ArchitectureException>(() =>
            new Architecture([LayerSpec.Dropout(1.5f), LayerSpec.Dense(10)], MnistNetworks.Vector, MnistNetworks.Classes)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void InitialParameters_Seeded_WithinPyTorchBounds()
    {
        Architecture cnn = MnistNetworks.Cnn;
        float[] parameters = cnn.InitialParameters(7);
        Assert.Equal(parameters, cnn.InitialParameters(7));
        Assert.NotEqual(parameters, cnn.InitialParameters(8));
        foreach (ParameterTensor tensor in cnn.Tensors)
        {
            double bound = 1.0 / Math.Sqrt(tensor.FanIn);
            var values = parameters.AsSpan(tensor.Offset, tensor.Length).ToArray();
            Assert.All(values, v => Assert.InRange(Math.Abs(v), 0, bound));
            // Uniform draws fill the interval: the largest magnitude is close to the bound.
            Assert.True(values.Max(Math.Abs) > 0.8 * bound, $"{tensor.Name}: max |value| {values.Max(Math.Abs)} vs bound {bound}");
        }
    }

    [Fact]
    public void Summary_AnyStack_ListsEveryLayerAndTheTotal()
    {
        IReadOnlyList<string> lines = MnistNetworks.Cnn.Summary();
        Assert.Equal(MnistNetworks.Cnn.Layers.Count + 3, lines.Count);
        Assert.Contains("conv5x5x32p2", lines[2], StringComparison.Ordinal);
        Assert.Contains("1,606,144", lines[9], StringComparison.Ordinal);
        Assert.EndsWith("1,663,370", lines[^1], StringComparison.Ordinal);
    }
}
