using System.Globalization;
using System.Text;

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

    /// <summary>Every element's value before training, for tensors PyTorch initialises to a constant
    /// (BatchNorm's weight 1 and bias 0); null for the uniform ±1/sqrt(FanIn) draw.</summary>
    public float? InitialValue { get; init; }
}

/// <summary>One tensor of a layer's non-trained state (what BatchNorm's running statistics are): held
/// in the network's flat state buffer, never touched by the optimiser, saved in checkpoints and
/// model files beside the parameters.</summary>
/// <param name="Name">PyTorch's state_dict key, e.g. "{index}.running_mean".</param>
/// <param name="Shape">PyTorch's shape; stored in its row-major layout.</param>
/// <param name="Offset">First element in the flat state buffer.</param>
/// <param name="InitialValue">Every element's value before training (torch's buffer initialisation).</param>
public sealed record StateTensor(string Name, IReadOnlyList<int> Shape, int Offset, float InitialValue)
{
    public int Length => Shape.Aggregate(1, (product, d) => product * d);
}

/// <summary>A layer of a resolved stack: its shapes, parameters and state.</summary>
/// <param name="Index">Position in the stack, 0-based: the module's index in PyTorch's nn.Sequential.</param>
public sealed record ArchitectureLayer(
    int Index, LayerSpec Spec, ActivationShape Input, ActivationShape Output, IReadOnlyList<ParameterTensor> Parameters)
{
    public int ParameterCount => Parameters.Sum(p => p.Length);

    /// <summary>The layer's non-trained state tensors, with their places in the flat state buffer.</summary>
    public IReadOnlyList<StateTensor> State { get; init; } = [];

    /// <summary>The equivalent PyTorch module, e.g. "nn.Conv2d(1, 32, kernel_size=(5, 5), padding=2)".</summary>
    public string PyTorchModule => Spec.PyTorchModule(Input);
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
///   bn                            batch normalisation: BatchNorm2d after a map, BatchNorm1d after a vector
/// </code>
/// e.g. the CNN preset: conv5x5x32p2,relu,pool2,conv5x5x64p2,relu,pool2,flatten,dense512,relu,dropout0.5,dense10.
/// A stack with no conv, pool2 or flatten is an MLP and reads each image as the vector of its C*H*W
/// values (as x.view(-1, C*H*W) does; 784 pixels for MNIST); any other stack reads it as a CxHxW map
/// (1x28x28 for MNIST) and needs flatten before its first dense layer. The stack must end in a
/// vector of one score per class of the dataset (see <see cref="NetworkInput"/>).</summary>
public sealed class Architecture
{
    /// <summary>The CNN preset, calibrated in PyTorch (conv 5x5x32, pool, conv 5x5x64, pool, dense 512,
    /// dropout 0.5, 10 classes); padding 2 keeps the maps at 28x28 and 14x14 before pooling.</summary>
    public const string CnnText = "conv5x5x32p2,relu,pool2,conv5x5x64p2,relu,pool2,flatten,dense512,relu,dropout0.5,dense10";

    /// <summary>Every kind's text form, for the parser's messages.</summary>
    private static string LayerForms => string.Join(", ", LayerSpec.Kinds.Select(k => k.Form));

    /// <param name="layers">The stack, input first.</param>
    /// <param name="input">What one sample is: a dataset's image as a map or a vector (see
    /// <see cref="NetworkInput"/>), or any other shape (tests use tiny ones).</param>
    /// <param name="classes">The length of the vector the stack must end in.</param>
    public Architecture(IReadOnlyList<LayerSpec> layers, ActivationShape input, int classes)
    {
        if (layers.Count == 0)
            throw new ArchitectureException("architecture: no layers");
        Input = input;
        Classes = classes;
        var resolved = new List<ArchitectureLayer>(layers.Count);
        var tensors = new List<ParameterTensor>();
        var stateTensors = new List<StateTensor>();
        ActivationShape shape = input;
        long offset = 0, stateOffset = 0;
        for (int i = 0; i < layers.Count; i++)
        {
            LayerSpec spec = layers[i];
            ArgumentNullException.ThrowIfNull(spec);
            ActivationShape output = spec.OutputShape(shape, i);
            var parameters = spec.Parameters(i, shape).ToList();
            for (int p = 0; p < parameters.Count; p++)
            {
                long length = parameters[p].Shape.Aggregate(1L, (product, d) => product * d);
                if (offset + length > int.MaxValue)
                    throw Error(i, spec, $"the stack would have more than {int.MaxValue} parameters");
                parameters[p] = parameters[p] with { Offset = (int)offset };
                offset += length;
            }
            tensors.AddRange(parameters);
            var state = spec.State(i, shape).ToList();
            for (int t = 0; t < state.Count; t++)
            {
                long length = state[t].Shape.Aggregate(1L, (product, d) => product * d);
                if (stateOffset + length > int.MaxValue)
                    throw Error(i, spec, $"the stack would have more than {int.MaxValue} state values");
                state[t] = state[t] with { Offset = (int)stateOffset };
                stateOffset += length;
            }
            stateTensors.AddRange(state);
            resolved.Add(new ArchitectureLayer(i, spec, shape, output, parameters) { State = state });
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
        StateTensors = stateTensors;
        StateCount = (int)stateOffset;
    }

    public IReadOnlyList<ArchitectureLayer> Layers { get; }

    /// <summary>Every parameter tensor in buffer order (PyTorch's state_dict order).</summary>
    public IReadOnlyList<ParameterTensor> Tensors { get; }

    public ActivationShape Input { get; }
    public ActivationShape Output => Layers[^1].Output;
    public int Classes { get; }
    public int ParameterCount { get; }

    /// <summary>Every layer's non-trained state tensor in buffer order (layer by layer): bn's running
    /// statistics and batch count; none for stacks without bn.</summary>
    public IReadOnlyList<StateTensor> StateTensors { get; }

    /// <summary>Values in the flat state buffer.</summary>
    public int StateCount { get; }

    /// <summary>The state before training: each tensor filled with its initial value.</summary>
    public float[] InitialState()
    {
        var state = new float[StateCount];
        foreach (StateTensor tensor in StateTensors)
            state.AsSpan(tensor.Offset, tensor.Length).Fill(tensor.InitialValue);
        return state;
    }

    public IReadOnlyList<LayerSpec> Specs => Layers.Select(l => l.Spec).ToArray();

    /// <summary>True when any layer needs the convolution or pooling kernels.</summary>
    public bool HasConvolution => Layers.Any(l => l.Spec.UsesConvolutionKernels);

    /// <summary>The canonical text: Parse(Text) gives this architecture back.</summary>
    public string Text => string.Join(",", Layers.Select(l => l.Spec.Token));

    public override string ToString() => Text;

    public static string WeightName(int index) => string.Create(CultureInfo.InvariantCulture, $"{index}.weight");

    public static string BiasName(int index) => string.Create(CultureInfo.InvariantCulture, $"{index}.bias");

    /// <summary>An MLP of any widths: a vector of <paramref name="inputs"/>, dense{h},relu,dropout{p}
    /// per hidden layer, then dense{classes} (the report's MLP of a dataset is
    /// <see cref="NetworkInput.Mlp"/>). Its tensors are named 0.weight, 0.bias, 3.weight, ... and its
    /// dense weights stored [in, out], the layout of the MLP model files and checkpoints.</summary>
    public static Architecture Mlp(int inputs, IReadOnlyList<int> hidden, int classes, float dropout)
    {
        ArgumentNullException.ThrowIfNull(hidden);
        var layers = new List<LayerSpec>();
        foreach (int width in hidden)
            layers.AddRange([LayerSpec.Dense(width), LayerSpec.Relu, LayerSpec.Dropout(dropout)]);
        layers.Add(LayerSpec.Dense(classes));
        return new Architecture(layers, ActivationShape.Vector(inputs), classes);
    }

    /// <summary>The widths, input first and classes last (784, 512, 256, 10), when the stack is an
    /// MLP of <see cref="Mlp(int, IReadOnlyList{int}, int, float)"/>'s form (any dropout rate);
    /// null for any other stack.</summary>
    public IReadOnlyList<int>? MlpWidths
    {
        get
        {
            if (Input.IsMap || Layers.Count % 3 != 1)
                return null;
            var widths = new List<int> { Input.Channels };
            for (int i = 0; i < Layers.Count; i++)
            {
                bool expected = (i % 3) switch
                {
                    0 => Layers[i].Spec is DenseSpec,
                    1 => Layers[i].Spec is ReluSpec,
                    _ => Layers[i].Spec is DropoutSpec,
                };
                if (!expected)
                    return null;
                if (i % 3 == 0)
                    widths.Add(Layers[i].Output.Channels);
            }
            return widths;
        }
    }

    /// <summary>An MLP's widths as the report writes them, "784-512-256-10"; null for any other stack.</summary>
    public string? MlpName => MlpWidths is { } widths ? string.Join("-", widths) : null;

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
        foreach (LayerKind kind in LayerSpec.Kinds)
        {
            if (kind.TryParse(lower, quoted) is LayerSpec spec)
                return spec;
        }
        throw new ArchitectureException($"architecture: {quoted} is not a layer; layers are {LayerForms}");
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

    /// <summary>PyTorch's default initialisation of Conv2d and Linear: weights and biases uniform in
    /// ±1/sqrt(fan_in) (kaiming_uniform with a = sqrt(5)), drawn from one seeded generator in buffer
    /// order; for an MLP stack the draws the MLP has always made (W then b, layer by layer). Tensors
    /// with a constant <see cref="ParameterTensor.InitialValue"/> (BatchNorm's) are filled and draw nothing.</summary>
    public float[] InitialParameters(int seed)
    {
        var parameters = new float[ParameterCount];
        var random = new Random(seed);
        foreach (ParameterTensor tensor in Tensors)
        {
            if (tensor.InitialValue is float constant)
            {
                // Filled, not drawn: the tensors after it draw what they would draw without it.
                parameters.AsSpan(tensor.Offset, tensor.Length).Fill(constant);
                continue;
            }
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
}
