using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using GpuMlp.Data;

namespace GpuMlp.Training;

/// <summary>An architecture text that does not parse, or a layer stack whose shapes do not chain;
/// the message is one line naming the layer (1-based position and its text).</summary>
public sealed class ArchitectureException : Exception
{
    public ArchitectureException(string message) : base(message) { }
}

/// <summary>What flows between two layers for one sample: a Channels x Height x Width map (NCHW
/// without the batch) or a vector of Channels values (Height = Width = 1).</summary>
public readonly record struct ActivationShape(int Channels, int Height, int Width, bool IsMap)
{
    public static ActivationShape Map(int channels, int height, int width) => new(channels, height, width, true);

    public static ActivationShape Vector(int length) => new(length, 1, 1, false);

    /// <summary>Values per sample (C * H * W).</summary>
    public long Elements => (long)Channels * Height * Width;

    public override string ToString() =>
        IsMap ? string.Create(CultureInfo.InvariantCulture, $"{Channels}x{Height}x{Width}") : Channels.ToString(CultureInfo.InvariantCulture);
}

/// <summary>One layer of a stack, as written in the architecture text (see <see cref="Architecture"/>).
/// Each is one module of PyTorch's nn.Sequential, so its position is its index there.</summary>
public abstract record LayerSpec
{
    /// <summary>The canonical text of the layer (what <see cref="Architecture.Parse(string)"/> reads).</summary>
    public abstract string Token { get; }

    public static ConvSpec Conv(int outChannels, int kernel, int padding = 0) => new(outChannels, kernel, kernel, padding);

    public static MaxPool2Spec MaxPool2 { get; } = new();

    public static FlattenSpec Flatten { get; } = new();

    public static DenseSpec Dense(int outputs) => new(outputs);

    public static ReluSpec Relu { get; } = new();

    public static DropoutSpec Dropout(float rate) => new(rate);

    public sealed override string ToString() => Token;
}

/// <summary>nn.Conv2d(C, OutChannels, (KernelH, KernelW), stride 1, padding=Padding): zero padding
/// on all four sides. Text: conv{KernelH}x{KernelW}x{OutChannels}[p{Padding}].</summary>
public sealed record ConvSpec(int OutChannels, int KernelH, int KernelW, int Padding) : LayerSpec
{
    public override string Token => string.Create(CultureInfo.InvariantCulture,
        $"conv{KernelH}x{KernelW}x{OutChannels}{(Padding > 0 ? $"p{Padding}" : "")}");
}

/// <summary>nn.MaxPool2d(2): 2x2 windows, stride 2, odd last row/column dropped. Text: pool2.</summary>
public sealed record MaxPool2Spec : LayerSpec
{
    public override string Token => "pool2";
}

/// <summary>nn.Flatten(): a C x H x W map to the vector of its C * H * W values in NCHW order (no
/// kernel: the dense layer reads the map's buffer as [batch, C * H * W]). Text: flatten.</summary>
public sealed record FlattenSpec : LayerSpec
{
    public override string Token => "flatten";
}

/// <summary>nn.Linear(in, Outputs). Text: dense{Outputs}.</summary>
public sealed record DenseSpec(int Outputs) : LayerSpec
{
    public override string Token => string.Create(CultureInfo.InvariantCulture, $"dense{Outputs}");
}

/// <summary>nn.ReLU(). Text: relu.</summary>
public sealed record ReluSpec : LayerSpec
{
    public override string Token => "relu";
}

/// <summary>nn.Dropout(Rate), 0 &lt;= Rate &lt; 1. Text: dropout{Rate}, e.g. dropout0.5.</summary>
public sealed record DropoutSpec(float Rate) : LayerSpec
{
    public override string Token => "dropout" + FormatRate(Rate);

    /// <summary>The shortest decimal that reads back as the same float, never in exponent form.</summary>
    internal static string FormatRate(float rate)
    {
        string shortest = rate.ToString("R", CultureInfo.InvariantCulture);
        return shortest.Contains('E', StringComparison.Ordinal)
            ? rate.ToString("0.##############################", CultureInfo.InvariantCulture)
            : shortest;
    }
}

/// <summary>One tensor in the flat parameter buffer.</summary>
/// <param name="Name">PyTorch's state_dict key: "{index in the nn.Sequential}.weight" or ".bias".</param>
/// <param name="Shape">PyTorch's shape: [O, C, KH, KW] for a convolution weight, [out, in] for a
/// dense weight, [out] for a bias.</param>
/// <param name="Offset">First element in the flat buffer (parameters, gradients and Adam moments alike).</param>
/// <param name="StoredTransposed">True for dense weights: the buffer holds them [in, out] row-major
/// (the dense GEMM's layout, the one MLP checkpoints already use), so an export to PyTorch
/// transposes; everything else is stored exactly in <paramref name="Shape"/>'s row-major layout.</param>
/// <param name="FanIn">Inputs per output (C * KH * KW or in): PyTorch's default initialisation draws
/// uniformly from ±1/sqrt(FanIn).</param>
public sealed record ParameterTensor(string Name, IReadOnlyList<int> Shape, int Offset, bool StoredTransposed, int FanIn)
{
    public int Length => Shape.Aggregate(1, (product, d) => product * d);
}

/// <summary>A layer of a resolved stack: its shapes and parameters.</summary>
/// <param name="Index">Position in the stack, 0-based: the module's index in PyTorch's nn.Sequential.</param>
public sealed record ArchitectureLayer(
    int Index, LayerSpec Spec, ActivationShape Input, ActivationShape Output, IReadOnlyList<ParameterTensor> Parameters)
{
    public int ParameterCount => Parameters.Sum(p => p.Length);

    /// <summary>The equivalent PyTorch module, e.g. "nn.Conv2d(1, 32, kernel_size=(5, 5), padding=2)".</summary>
    public string PyTorchModule => Spec switch
    {
        ConvSpec c => string.Create(CultureInfo.InvariantCulture,
            $"nn.Conv2d({Input.Channels}, {c.OutChannels}, kernel_size=({c.KernelH}, {c.KernelW}), padding={c.Padding})"),
        MaxPool2Spec => "nn.MaxPool2d(2)",
        FlattenSpec => "nn.Flatten()",
        DenseSpec d => string.Create(CultureInfo.InvariantCulture, $"nn.Linear({Input.Elements}, {d.Outputs})"),
        ReluSpec => "nn.ReLU()",
        DropoutSpec p => "nn.Dropout(" + DropoutSpec.FormatRate(p.Rate) + ")",
        _ => throw new InvalidOperationException($"unknown layer {Spec}"),
    };
}

/// <summary>A network as a stack of layers, from the input to the class scores: the shape of every
/// activation, and every parameter tensor's place in one flat buffer in PyTorch's state_dict order
/// (layer by layer, weight then bias).
///
/// Text form (what --arch reads): layers separated by commas, no spaces needed, case ignored:
/// <code>
///   conv{kh}x{kw}x{out}[p{pad}]   2-D convolution, stride 1, zero padding pad (default 0, at most kh-1 and kw-1)
///   pool2                         2x2 max-pooling, stride 2 (an odd last row/column is dropped)
///   flatten                       C x H x W map to a vector of C*H*W (NCHW order, as nn.Flatten)
///   dense{out}                    fully connected layer
///   relu                          ReLU
///   dropout{p}                    dropout with rate p in [0, 1), e.g. dropout0.5
/// </code>
/// e.g. the CNN preset: conv5x5x32p2,relu,pool2,conv5x5x64p2,relu,pool2,flatten,dense512,relu,dropout0.5,dense10.
/// A stack with no conv, pool2 or flatten is an MLP and reads each image as the vector of its 784
/// pixels (row-major, as x.view(-1, 784) does); any other stack reads it as a 1x28x28 map and needs
/// flatten before its first dense layer. The stack must end in a vector of 10 class scores.</summary>
public sealed partial class Architecture
{
    public const int MnistClasses = MnistDataset.ClassCount;

    /// <summary>The CNN preset, calibrated in PyTorch (conv 5x5x32, pool, conv 5x5x64, pool, dense 512,
    /// dropout 0.5, 10 classes); padding 2 keeps the maps at 28x28 and 14x14 before pooling.</summary>
    public const string CnnText = "conv5x5x32p2,relu,pool2,conv5x5x64p2,relu,pool2,flatten,dense512,relu,dropout0.5,dense10";

    private const int MaxChannels = 1 << 16;
    private const int MaxKernel = 64;
    private const int MaxDenseOutputs = 1 << 20;

    private const string ConvForm = "conv<kh>x<kw>x<out>[p<pad>], e.g. conv5x5x32p2";
    private const string LayerForms = "conv<kh>x<kw>x<out>[p<pad>], pool2, flatten, dense<out>, relu, dropout<p>";

    /// <param name="layers">The stack, input first.</param>
    /// <param name="input">What one sample is: <see cref="MnistImage"/>, <see cref="MnistVector"/> or
    /// any other shape (tests use tiny ones).</param>
    /// <param name="classes">The length of the vector the stack must end in.</param>
    public Architecture(IReadOnlyList<LayerSpec> layers, ActivationShape input, int classes = MnistClasses)
    {
        if (layers.Count == 0)
            throw new ArchitectureException("architecture: no layers");
        Input = input;
        Classes = classes;
        var resolved = new List<ArchitectureLayer>(layers.Count);
        var tensors = new List<ParameterTensor>();
        ActivationShape shape = input;
        long offset = 0;
        for (int i = 0; i < layers.Count; i++)
        {
            LayerSpec spec = layers[i];
            ActivationShape output = OutputOf(spec, shape, i, layers.Count);
            var parameters = new List<ParameterTensor>(2);
            switch (spec)
            {
                case ConvSpec conv:
                    int fanIn = checked(shape.Channels * conv.KernelH * conv.KernelW);
                    parameters.Add(new ParameterTensor(WeightName(i), [conv.OutChannels, shape.Channels, conv.KernelH, conv.KernelW], 0, false, fanIn));
                    parameters.Add(new ParameterTensor(BiasName(i), [conv.OutChannels], 0, false, fanIn));
                    break;
                case DenseSpec dense:
                    int inputs = (int)shape.Elements;
                    parameters.Add(new ParameterTensor(WeightName(i), [dense.Outputs, inputs], 0, true, inputs));
                    parameters.Add(new ParameterTensor(BiasName(i), [dense.Outputs], 0, false, inputs));
                    break;
            }
            for (int p = 0; p < parameters.Count; p++)
            {
                long length = parameters[p].Shape.Aggregate(1L, (product, d) => product * d);
                if (offset + length > int.MaxValue)
                    throw Error(i, spec, $"the stack would have more than {int.MaxValue} parameters");
                parameters[p] = parameters[p] with { Offset = (int)offset };
                offset += length;
            }
            tensors.AddRange(parameters);
            resolved.Add(new ArchitectureLayer(i, spec, shape, output, parameters));
            shape = output;
        }
        if (shape.IsMap || shape.Channels != classes)
        {
            throw new ArchitectureException(string.Create(CultureInfo.InvariantCulture,
                $"architecture: the stack ends in {(shape.IsMap ? $"a {shape} map" : $"a vector of {shape.Channels}")}; it must end in a vector of {classes} class scores (e.g. {(shape.IsMap ? "flatten," : "")}dense{classes})"));
        }
        Layers = resolved;
        Tensors = tensors;
        ParameterCount = (int)offset;
    }

    /// <summary>One MNIST image as a map (the input of stacks with conv, pool2 or flatten).</summary>
    public static ActivationShape MnistImage => ActivationShape.Map(MnistDataset.Shape.Channels, MnistDataset.Shape.Height, MnistDataset.Shape.Width);

    /// <summary>One MNIST image as the vector of its pixels (the input of MLP stacks).</summary>
    public static ActivationShape MnistVector => ActivationShape.Vector(MnistDataset.Shape.Pixels);

    /// <summary>The CNN preset (<see cref="CnnText"/>).</summary>
    public static Architecture Cnn => Parse(CnnText);

    public IReadOnlyList<ArchitectureLayer> Layers { get; }

    /// <summary>Every parameter tensor in buffer order (PyTorch's state_dict order).</summary>
    public IReadOnlyList<ParameterTensor> Tensors { get; }

    public ActivationShape Input { get; }
    public ActivationShape Output => Layers[^1].Output;
    public int Classes { get; }
    public int ParameterCount { get; }

    public IReadOnlyList<LayerSpec> Specs => Layers.Select(l => l.Spec).ToArray();

    /// <summary>True when any layer needs the convolution or pooling kernels.</summary>
    public bool HasConvolution => Layers.Any(l => l.Spec is ConvSpec or MaxPool2Spec);

    /// <summary>The canonical text: Parse(Text) gives this architecture back.</summary>
    public string Text => string.Join(",", Layers.Select(l => l.Spec.Token));

    public override string ToString() => Text;

    public static string WeightName(int index) => string.Create(CultureInfo.InvariantCulture, $"{index}.weight");

    public static string BiasName(int index) => string.Create(CultureInfo.InvariantCulture, $"{index}.bias");

    /// <summary>The MLP of <see cref="NetworkShape"/> as a stack: dense{h},relu,dropout{p} per hidden
    /// layer, then dense10, reading the 784-pixel vector. Same buffer layout and tensor names
    /// (0.weight, 3.weight, ...) as the MLP model files.</summary>
    public static Architecture Mlp(IReadOnlyList<int> hidden, float dropout)
    {
        var layers = new List<LayerSpec>();
        foreach (int width in hidden)
            layers.AddRange([LayerSpec.Dense(width), LayerSpec.Relu, LayerSpec.Dropout(dropout)]);
        layers.Add(LayerSpec.Dense(MnistClasses));
        return new Architecture(layers, MnistVector);
    }

    /// <summary>Parses the text form for MNIST: the input is <see cref="MnistVector"/> for a stack
    /// with no conv, pool2 or flatten and <see cref="MnistImage"/> otherwise; 10 classes.</summary>
    public static Architecture Parse(string text) => NetworkInput.Parse(text, MnistDataset.Schema);

    public static Architecture Parse(string text, ActivationShape input, int classes) => new(ParseLayers(text), input, classes);

    /// <summary>The layers of the text form, without shape checks. Throws ArchitectureException
    /// naming the first token that is not a layer.</summary>
    public static IReadOnlyList<LayerSpec> ParseLayers(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (string.IsNullOrWhiteSpace(text))
            throw new ArchitectureException($"architecture: empty; give comma-separated layers: {LayerForms}");
        string[] tokens = text.Split(',');
        var layers = new LayerSpec[tokens.Length];
        for (int i = 0; i < tokens.Length; i++)
            layers[i] = ParseLayer(tokens[i].Trim(), i, tokens.Length);
        return layers;
    }

    private static LayerSpec ParseLayer(string token, int index, int count)
    {
        string position = string.Create(CultureInfo.InvariantCulture, $"layer {index + 1}");
        if (token.Length == 0)
        {
            throw new ArchitectureException(
                $"architecture: {position} is empty ({(index == count - 1 ? "a trailing comma" : "two commas in a row")})");
        }
        string lower = token.ToLowerInvariant();
        string quoted = $"{position} '{Printable(token)}'";
        Match match;
        if ((match = ConvPattern().Match(lower)).Success)
        {
            int kernelH = Number(match.Groups[1].Value, 1, MaxKernel, quoted, "kernel height");
            int kernelW = Number(match.Groups[2].Value, 1, MaxKernel, quoted, "kernel width");
            int outChannels = Number(match.Groups[3].Value, 1, MaxChannels, quoted, "output channels");
            int padding = match.Groups[4].Success
                ? Number(match.Groups[4].Value, 0, Math.Min(kernelH, kernelW) - 1, quoted, "padding")
                : 0;
            return new ConvSpec(outChannels, kernelH, kernelW, padding);
        }
        if (lower.StartsWith("conv", StringComparison.Ordinal))
            throw new ArchitectureException($"architecture: {quoted}: expected {ConvForm}");
        if ((match = DensePattern().Match(lower)).Success)
            return new DenseSpec(Number(match.Groups[1].Value, 1, MaxDenseOutputs, quoted, "width"));
        if (lower.StartsWith("dense", StringComparison.Ordinal))
            throw new ArchitectureException($"architecture: {quoted}: expected dense<out>, e.g. dense512");
        if ((match = DropoutPattern().Match(lower)).Success)
        {
            float rate = float.Parse(match.Groups[1].Value, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture);
            if (rate >= 1f)
                throw new ArchitectureException($"architecture: {quoted}: the dropout rate must be below 1");
            return new DropoutSpec(rate);
        }
        if (lower.StartsWith("dropout", StringComparison.Ordinal))
            throw new ArchitectureException($"architecture: {quoted}: expected dropout<p> with p in [0, 1), e.g. dropout0.5");
        return lower switch
        {
            "pool2" => LayerSpec.MaxPool2,
            "flatten" => LayerSpec.Flatten,
            "relu" => LayerSpec.Relu,
            _ when lower.StartsWith("pool", StringComparison.Ordinal) =>
                throw new ArchitectureException($"architecture: {quoted}: only 2x2 max-pooling exists, written pool2"),
            _ => throw new ArchitectureException($"architecture: {quoted} is not a layer; layers are {LayerForms}"),
        };
    }

    private static int Number(string digits, int min, int max, string quoted, string what)
    {
        if (!int.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out int value) || value < min || value > max)
        {
            throw new ArchitectureException(string.Create(CultureInfo.InvariantCulture,
                $"architecture: {quoted}: {what} must be {min}..{max}"));
        }
        return value;
    }

    /// <summary>A token as shown in a message: control characters, surrogates and U+FFFD escaped
    /// (\uXXXX), at most 40 characters.</summary>
    private static string Printable(string token)
    {
        var builder = new StringBuilder();
        foreach (char c in token.Length > 40 ? token[..40] : token)
        {
            if (char.IsControl(c) || char.IsSurrogate(c) || c == '\uFFFD')
                builder.Append(CultureInfo.InvariantCulture, $"\\u{(int)c:x4}");
            else
                builder.Append(c);
        }
        return token.Length > 40 ? builder.Append("...").ToString() : builder.ToString();
    }

    private static ArchitectureException Error(int index, LayerSpec spec, string problem) =>
        new(string.Create(CultureInfo.InvariantCulture, $"architecture: layer {index + 1} '{spec.Token}': {problem}"));

    private static ActivationShape OutputOf(LayerSpec spec, ActivationShape input, int index, int count)
    {
        switch (spec)
        {
            case ConvSpec conv:
                if (conv.OutChannels < 1 || conv.KernelH < 1 || conv.KernelW < 1)
                    throw Error(index, spec, "channels and kernel sizes must be positive");
                if (!input.IsMap)
                    throw Error(index, spec, $"a convolution needs a CxHxW map, but its input is a vector of {input.Channels}");
                if (conv.Padding >= conv.KernelH || conv.Padding >= conv.KernelW || conv.Padding < 0)
                    throw Error(index, spec, "the padding must be below the kernel size");
                int outH = input.Height + (2 * conv.Padding) - conv.KernelH + 1;
                int outW = input.Width + (2 * conv.Padding) - conv.KernelW + 1;
                if (outH < 1 || outW < 1)
                {
                    throw Error(index, spec, string.Create(CultureInfo.InvariantCulture,
                        $"a {conv.KernelH}x{conv.KernelW} kernel with padding {conv.Padding} does not fit its {input} input"));
                }
                return CheckedMap(index, spec, conv.OutChannels, outH, outW);
            case MaxPool2Spec:
                if (!input.IsMap)
                    throw Error(index, spec, $"2x2 pooling needs a CxHxW map, but its input is a vector of {input.Channels}");
                if (input.Height < 2 || input.Width < 2)
                    throw Error(index, spec, $"2x2 pooling needs a map of at least 2x2, but its input is {input}");
                return ActivationShape.Map(input.Channels, input.Height / 2, input.Width / 2);
            case FlattenSpec:
                if (!input.IsMap)
                    throw Error(index, spec, $"its input is already a vector ({input.Channels})");
                return ActivationShape.Vector((int)input.Elements);
            case DenseSpec dense:
                if (dense.Outputs < 1)
                    throw Error(index, spec, "the width must be positive");
                if (input.IsMap)
                    throw Error(index, spec, $"a dense layer needs a vector; put flatten before it (its input is {input})");
                if ((long)input.Channels * dense.Outputs > int.MaxValue)
                    throw Error(index, spec, $"the stack would have more than {int.MaxValue} parameters");
                return ActivationShape.Vector(dense.Outputs);
            case ReluSpec:
                return input;
            case DropoutSpec dropout:
                if (!(dropout.Rate >= 0f && dropout.Rate < 1f))
                    throw Error(index, spec, "the dropout rate must be in [0, 1)");
                return input;
            default:
                throw new ArchitectureException($"architecture: layer {index + 1} of {count}: unknown layer type {spec.GetType().Name}");
        }
    }

    private static ActivationShape CheckedMap(int index, LayerSpec spec, int channels, int height, int width)
    {
        if ((long)channels * height * width > int.MaxValue)
            throw Error(index, spec, $"its output {channels}x{height}x{width} exceeds {int.MaxValue} values per sample");
        return ActivationShape.Map(channels, height, width);
    }

    /// <summary>PyTorch's default initialisation of Conv2d and Linear: weights and biases uniform in
    /// ±1/sqrt(fan_in) (kaiming_uniform with a = sqrt(5)), drawn from one seeded generator in buffer
    /// order; for an MLP stack exactly <see cref="NetworkShape.InitialParameters"/>.</summary>
    public float[] InitialParameters(int seed)
    {
        var parameters = new float[ParameterCount];
        var random = new Random(seed);
        foreach (ParameterTensor tensor in Tensors)
        {
            double bound = 1.0 / Math.Sqrt(tensor.FanIn);
            for (int i = tensor.Offset; i < tensor.Offset + tensor.Length; i++)
                parameters[i] = (float)((random.NextDouble() * 2.0 - 1.0) * bound);
        }
        return parameters;
    }

    /// <summary>One line per layer: index, text, output shape, parameter count; then the total.</summary>
    public IReadOnlyList<string> Summary()
    {
        var lines = new List<string> { string.Create(CultureInfo.InvariantCulture, $"{"#",3}  {"layer",-16}{"output",-12}{"parameters",12}") };
        lines.Add(string.Create(CultureInfo.InvariantCulture, $"{"",3}  {"input",-16}{Input,-12}{"",12}"));
        foreach (ArchitectureLayer layer in Layers)
            lines.Add(string.Create(CultureInfo.InvariantCulture, $"{layer.Index,3}  {layer.Spec.Token,-16}{layer.Output,-12}{layer.ParameterCount,12:N0}"));
        lines.Add(string.Create(CultureInfo.InvariantCulture, $"{"",3}  {"total",-16}{"",-12}{ParameterCount,12:N0}"));
        return lines;
    }

    [GeneratedRegex(@"^conv([0-9]+)x([0-9]+)x([0-9]+)(?:p([0-9]+))?$", RegexOptions.CultureInvariant)]
    private static partial Regex ConvPattern();

    [GeneratedRegex(@"^dense([0-9]+)$", RegexOptions.CultureInvariant)]
    private static partial Regex DensePattern();

    [GeneratedRegex(@"^dropout([0-9]+(?:\.[0-9]+)?|\.[0-9]+)$", RegexOptions.CultureInvariant)]
    private static partial Regex DropoutPattern();
}
