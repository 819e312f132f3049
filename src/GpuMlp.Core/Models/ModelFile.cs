using System.Globalization;
using GpuMlp.Training;

namespace GpuMlp.Models;

/// <summary>
/// A trained network as a safetensors file. A layer stack is written with its canonical text
/// (<see cref="ArchitectureKey"/>) and every tensor under PyTorch's state_dict name; the report's
/// MLP keeps the format older readers know (<see cref="SaveMlp"/>). The MLP format: a file that PyTorch can load into
/// <c>nn.Sequential(Linear, ReLU, Dropout, Linear, ReLU, Dropout, Linear)</c> with
/// <c>load_state_dict(safetensors.torch.load_file(path))</c>: layer l's tensors are named
/// <c>"{3l}.weight"</c> (F32, [out, in], PyTorch's layout, i.e. our [in, out] weights transposed) and
/// <c>"{3l}.bias"</c> (F32, [out]). The metadata holds <c>"format": "pt"</c>,
/// <c>"gpumlp.widths"</c> (inputs, hidden widths, classes) and whatever the caller adds (the dataset
/// schema: <see cref="ModelSchema"/>).
/// </summary>
public static class ModelFile
{
    public const string FormatKey = "format";
    public const string WidthsKey = "gpumlp.widths";

    /// <summary>The metadata key of a layer stack's canonical text (absent for the MLP, whose
    /// widths say everything).</summary>
    public const string ArchitectureKey = "gpumlp.architecture";

    /// <summary>Atomically writes any layer stack: every tensor of <paramref name="network"/> under
    /// PyTorch's state_dict name and shape (conv weights [out, in, kh, kw], dense weights [out, in]),
    /// so <c>nn.Sequential</c> of the stack's modules loads it unchanged, and the canonical text
    /// under <see cref="ArchitectureKey"/> (the report's MLP keeps its own format: <see cref="SaveMlp"/>).</summary>
    public static void Save(string path, Architecture network, float[] flatParameters, IReadOnlyDictionary<string, string> metadata) =>
        Save(path, network, flatParameters, [], metadata);

    /// <summary>As <see cref="Save(string, Architecture, float[], IReadOnlyDictionary{string, string})"/>,
    /// with the layers' non-trained state (flat, in <see cref="Architecture.StateTensors"/> order)
    /// written beside each layer's parameters under its buffer names, as torch's state_dict holds
    /// them; a stack without state is written byte for byte as without this argument.</summary>
    public static void Save(string path, Architecture network, float[] flatParameters, float[] flatState, IReadOnlyDictionary<string, string> metadata)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(metadata);
        var merged = new Dictionary<string, string>(metadata, StringComparer.Ordinal)
        {
            [FormatKey] = "pt",
            [ArchitectureKey] = network.Text,
        };
        merged.Remove(WidthsKey);
        SafeTensorsFile.Write(path, ToTensors(network, flatParameters, flatState), merged);
    }

    /// <summary>The tensors of a layer stack in state_dict order, in PyTorch's layouts.</summary>
    public static IReadOnlyList<SafeTensor> ToTensors(Architecture network, float[] flatParameters) =>
        ToTensors(network, flatParameters, []);

    /// <summary>The tensors of a layer stack and its state in state_dict order (layer by layer: its
    /// parameters, then its state tensors), in PyTorch's layouts.</summary>
    public static IReadOnlyList<SafeTensor> ToTensors(Architecture network, float[] flatParameters, float[] flatState)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(flatParameters);
        ArgumentNullException.ThrowIfNull(flatState);
        if (flatParameters.Length != network.ParameterCount)
            throw new ArgumentException($"network {network} has {network.ParameterCount} parameters but {flatParameters.Length} were given", nameof(flatParameters));
        if (flatState.Length != network.StateCount)
            throw new ArgumentException($"network {network} has {network.StateCount} state values but {flatState.Length} were given", nameof(flatState));
        var tensors = new List<SafeTensor>(network.Tensors.Count + network.StateTensors.Count);
        foreach (ArchitectureLayer layer in network.Layers)
        {
            foreach (ParameterTensor tensor in layer.Parameters)
            {
                var data = new float[tensor.Length];
                if (tensor.StoredTransposed)
                {
                    int outputs = tensor.Shape[0], inputs = tensor.Shape[1];
                    for (int i = 0; i < inputs; i++)
                        for (int o = 0; o < outputs; o++)
                            data[(o * inputs) + i] = flatParameters[tensor.Offset + (i * outputs) + o];
                }
                else
                {
                    flatParameters.AsSpan(tensor.Offset, tensor.Length).CopyTo(data);
                }
                tensors.Add(new SafeTensor(tensor.Name, [.. tensor.Shape], data));
            }
            foreach (StateTensor tensor in layer.State)
                tensors.Add(new SafeTensor(tensor.Name, [.. tensor.Shape], flatState.AsSpan(tensor.Offset, tensor.Length).ToArray()));
        }
        return tensors;
    }

    /// <summary>Loads any model: a file with <see cref="ArchitectureKey"/> is read as that stack
    /// (every tensor by its PyTorch name and shape), any other as the MLP its tensors describe.</summary>
    /// <exception cref="FileNotFoundException">There is no such file.</exception>
    /// <exception cref="ModelFormatException">The file is not a valid model.</exception>
    public static LoadedModel LoadAny(string path)
    {
        SafeTensorsContent content = SafeTensorsFile.Read(path);
        var schema = ModelSchema.Read(content.Metadata, path);
        if (!content.Metadata.TryGetValue(ArchitectureKey, out string? text))
        {
            LoadedModel mlp = FromMlpContent(content, path);
            ModelSchema.RequireFits(mlp.Network, schema, path);
            return mlp;
        }
        Architecture network;
        try
        {
            network = NetworkInput.Parse(text, schema);
        }
        catch (ArchitectureException error)
        {
            throw new ModelFormatException($"{path}: metadata {ArchitectureKey}: {error.Message}", error);
        }
        return FromContent(content, network, path);
    }

    /// <summary>Loads a model of a known stack: every parameter and state tensor of
    /// <paramref name="network"/> by its PyTorch name and shape, nothing else.
    /// <exception cref="FileNotFoundException">There is no such file.</exception>
    /// <exception cref="ModelFormatException">The file is not a valid model of this stack.</exception>
    /// An MLP file (no <see cref="ArchitectureKey"/>) read for an MLP stack must have its widths.</summary>
    public static LoadedModel Load(string path, Architecture network)
    {
        ArgumentNullException.ThrowIfNull(network);
        SafeTensorsContent content = SafeTensorsFile.Read(path);
        if (network.MlpName is not { } expected || content.Metadata.ContainsKey(ArchitectureKey))
            return FromContent(content, network, path);
        LoadedModel loaded = FromMlpContent(content, path);
        if (loaded.Network.MlpName != expected)
            throw new ModelFormatException($"{path}: model has widths {loaded.Network.MlpName} but the configuration expects {expected}");
        return loaded;
    }

    private static LoadedModel FromContent(SafeTensorsContent content, Architecture network, string path)
    {
        var flat = new float[network.ParameterCount];
        var state = new float[network.StateCount];
        var expectedNames = network.Tensors.Select(t => t.Name).Concat(network.StateTensors.Select(t => t.Name)).ToHashSet(StringComparer.Ordinal);
        foreach (SafeTensor t in content.Tensors)
        {
            if (!expectedNames.Contains(t.Name))
                throw new ModelFormatException($"{path}: unexpected tensor {SafeTensorsFile.Quote(t.Name)} for the architecture {network}");
        }
        foreach (ParameterTensor tensor in network.Tensors)
        {
            SafeTensor t = Require(content, tensor.Name, tensor.Shape, path);
            if (tensor.StoredTransposed)
            {
                int outputs = tensor.Shape[0], inputs = tensor.Shape[1];
                for (int o = 0; o < outputs; o++)
                    for (int i = 0; i < inputs; i++)
                        flat[tensor.Offset + (i * outputs) + o] = t.Data[(o * inputs) + i];
            }
            else
            {
                t.Data.CopyTo(flat, tensor.Offset);
            }
        }
        foreach (StateTensor tensor in network.StateTensors)
            Require(content, tensor.Name, tensor.Shape, path).Data.CopyTo(state, tensor.Offset);
        return new LoadedModel(network, flat, content.Metadata) { State = state, Schema = ModelSchema.Read(content.Metadata, path) };
    }

    private static SafeTensor Require(SafeTensorsContent content, string name, IReadOnlyList<int> shape, string path)
    {
        SafeTensor t = content.Find(name) ?? throw new ModelFormatException($"{path}: missing tensor {name}");
        if (!t.Shape.SequenceEqual(shape))
            throw new ModelFormatException($"{path}: tensor {t.Name} has shape {Dims(t.Shape)}; the architecture needs {Dims(shape)}");
        return t;
    }

    /// <summary>Atomically writes an MLP (<see cref="Architecture.MlpWidths"/>) as the MLP model
    /// files have always been written, for the readers that know only them: its tensors (as
    /// <see cref="ToTensors(Architecture, float[])"/>), <c>format</c> and <c>gpumlp.widths</c>, set
    /// by this method and overriding any value the caller passes under those keys, and no
    /// architecture text.</summary>
    /// <exception cref="ArgumentException">The stack is not an MLP, the parameter count does not
    /// match it, or a value is NaN or infinite.</exception>
    public static void SaveMlp(string path, Architecture mlp, float[] flatParameters, IReadOnlyDictionary<string, string> metadata)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(mlp);
        ArgumentNullException.ThrowIfNull(metadata);
        IReadOnlyList<int> widths = mlp.MlpWidths ?? throw new ArgumentException($"{mlp} is not an MLP; save it with its architecture text", nameof(mlp));
        var merged = new Dictionary<string, string>(metadata, StringComparer.Ordinal)
        {
            [FormatKey] = "pt",
            [WidthsKey] = FormatWidths(widths),
        };
        SafeTensorsFile.Write(path, ToTensors(mlp, flatParameters), merged);
    }

    /// <summary>Loads an MLP model file (one <see cref="SaveMlp"/> wrote, or PyTorch with the same
    /// module layout): its stack, read from the tensor shapes (dropout 0: the rate is metadata),
    /// the parameters in the stack's flat layout, and the metadata.</summary>
    /// <exception cref="FileNotFoundException">There is no such file.</exception>
    /// <exception cref="ModelFormatException">The file is not a valid MLP model.</exception>
    public static LoadedModel Load(string path) => FromMlpContent(SafeTensorsFile.Read(path), path);

    /// <summary>As <see cref="Load(string)"/>, from the bytes of a file; <paramref name="nameForMessages"/>
    /// starts every error message.</summary>
    /// <exception cref="ModelFormatException">The bytes are not a valid MLP model.</exception>
    public static LoadedModel Parse(ReadOnlySpan<byte> file, string nameForMessages) =>
        FromMlpContent(SafeTensorsFile.Parse(file, nameForMessages), nameForMessages);

    /// <summary>PyTorch's name of layer <paramref name="layer"/>'s weight in the nn.Sequential.</summary>
    public static string WeightName(int layer) => $"{3 * layer}.weight";

    /// <summary>PyTorch's name of layer <paramref name="layer"/>'s bias in the nn.Sequential.</summary>
    public static string BiasName(int layer) => $"{3 * layer}.bias";

    /// <summary>The widths as written in the metadata: inputs, hidden widths, classes, comma-separated.</summary>
    public static string FormatWidths(IReadOnlyList<int> widths)
    {
        ArgumentNullException.ThrowIfNull(widths);
        return string.Join(",", widths.Select(w => w.ToString(CultureInfo.InvariantCulture)));
    }

    /// <summary>An MLP file: the widths come from the tensors "{3l}.weight" [out, in] and "{3l}.bias"
    /// [out] (and must agree with gpumlp.widths when present); the stack is the MLP of those widths.</summary>
    private static LoadedModel FromMlpContent(SafeTensorsContent content, string path)
    {
        int count = content.Tensors.Count;
        if (count == 0)
        {
            throw new ModelFormatException($"{path}: the file holds no tensors");
        }

        // Every tensor must be "{3l}.weight" or "{3l}.bias"; the highest index gives the layer count.
        int layers = 0;
        foreach (SafeTensor t in content.Tensors)
        {
            int layer = ParseLayer(t.Name);
            if (layer < 0)
            {
                throw new ModelFormatException(
                    $"{path}: unexpected tensor {SafeTensorsFile.Quote(t.Name)}; a model holds only 0.weight, 0.bias, 3.weight, 3.bias, ... (nn.Sequential Linear layers at indices 0, 3, 6, ...)");
            }
            layers = Math.Max(layers, layer + 1);
        }

        for (int l = 0; l < layers; l++)
        {
            foreach (string name in (string[])[WeightName(l), BiasName(l)])
            {
                if (content.Find(name) is null)
                {
                    throw new ModelFormatException($"{path}: missing tensor {name}");
                }
            }
        }

        var widths = new int[layers + 1];
        for (int l = 0; l < layers; l++)
        {
            SafeTensor w = content.Find(WeightName(l))!;
            SafeTensor b = content.Find(BiasName(l))!;
            if (w.Shape.Count != 2)
            {
                throw new ModelFormatException($"{path}: tensor {w.Name} has shape {Dims(w.Shape)}; a weight must be [out, in]");
            }

            if (b.Shape.Count != 1)
            {
                throw new ModelFormatException($"{path}: tensor {b.Name} has shape {Dims(b.Shape)}; a bias must be [out]");
            }

            int outputs = w.Shape[0], inputs = w.Shape[1];
            if (outputs < 1 || inputs < 1)
            {
                throw new ModelFormatException($"{path}: tensor {w.Name} has shape {Dims(w.Shape)}; layers need at least one input and one output");
            }

            if (b.Shape[0] != outputs)
            {
                throw new ModelFormatException(
                    $"{path}: tensor {b.Name} has shape {Dims(b.Shape)} but {w.Name} has {outputs} outputs");
            }

            if (l == 0)
            {
                widths[0] = inputs;
            }
            else if (inputs != widths[l])
            {
                throw new ModelFormatException(
                    $"{path}: tensor {w.Name} has {inputs} inputs but the previous layer ({WeightName(l - 1)}) has {widths[l]} outputs");
            }
            widths[l + 1] = outputs;
        }

        if (widths[^1] < 2)
        {
            throw new ModelFormatException($"{path}: the last layer has {widths[^1]} output; a classifier needs at least two classes");
        }

        if (content.Metadata.TryGetValue(WidthsKey, out string? declared) && declared != FormatWidths(widths))
        {
            throw new ModelFormatException(
                $"{path}: metadata {WidthsKey} says {SafeTensorsFile.Quote(declared)} but the tensors have widths {FormatWidths(widths)}");
        }

        Architecture network;
        try
        {
            network = Architecture.Mlp(widths[0], widths[1..^1], widths[^1], 0f);
        }
        catch (ArchitectureException ex)
        {
            throw new ModelFormatException($"{path}: widths {string.Join("-", widths)} need more parameters than one buffer can hold", ex);
        }
        // Every tensor is known and shaped now: read them as any stack's.
        return FromContent(content, network, path) with { IsMlp = true };
    }

    /// <summary>The layer of a tensor named "{3l}.weight" or "{3l}.bias" (canonical decimal), else -1.</summary>
    private static int ParseLayer(string name)
    {
        int dot = name.IndexOf('.', StringComparison.Ordinal);
        if (dot < 1 || dot > 9)
        {
            return -1;
        }

        string suffix = name[(dot + 1)..];
        if (suffix is not ("weight" or "bias")
            || !int.TryParse(name.AsSpan(0, dot), NumberStyles.None, CultureInfo.InvariantCulture, out int index)
            || index.ToString(CultureInfo.InvariantCulture) != name[..dot]
            || index % 3 != 0)
        {
            return -1;
        }
        return index / 3;
    }

    internal static string Dims(IReadOnlyList<int> shape) => "[" + string.Join(", ", shape) + "]";
}

/// <summary>A model file read by <see cref="ModelFile"/>: its layer stack, the parameters in the
/// flat buffer's layout and the metadata.</summary>
public sealed record LoadedModel(Architecture Network, float[] Parameters, IReadOnlyDictionary<string, string> Metadata)
{
    /// <summary>True for a file in the MLP format (gpumlp.widths, no architecture text): the report's
    /// MLP, saved and exported under its widths.</summary>
    public bool IsMlp { get; init; }

    /// <summary>The layers' non-trained state, flat, in <see cref="Architecture.StateTensors"/>
    /// order (empty for stacks without state).</summary>
    public float[] State { get; init; } = [];

    /// <summary>The dataset schema the model was trained on (<see cref="ModelSchema"/>).</summary>
    public required Data.ImageSchema Schema { get; init; }
}
