using System.Globalization;
using GpuMlp.Training;

namespace GpuMlp.Models;

/// <summary>
/// The trained MLP as a safetensors file that PyTorch can load into
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
    /// under <see cref="ArchitectureKey"/>. An MLP stack is written exactly as <see cref="Save"/>
    /// writes it, with its widths instead of the text.</summary>
    public static void Save(string path, Architecture network, float[] flatParameters, IReadOnlyDictionary<string, string> metadata)
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
        SafeTensorsFile.Write(path, ToTensors(network, flatParameters), merged);
    }

    /// <summary>The tensors of a layer stack in state_dict order, in PyTorch's layouts.</summary>
    public static IReadOnlyList<SafeTensor> ToTensors(Architecture network, float[] flatParameters)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(flatParameters);
        if (flatParameters.Length != network.ParameterCount)
            throw new ArgumentException($"network {network} has {network.ParameterCount} parameters but {flatParameters.Length} were given", nameof(flatParameters));
        var tensors = new List<SafeTensor>(network.Tensors.Count);
        foreach (ParameterTensor tensor in network.Tensors)
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
            var (shape, parameters, metadata) = FromContent(content, path);
            ModelSchema.RequireFits(shape, schema, path);
            return new LoadedModel(shape.ToArchitecture(0f), shape, parameters, metadata, schema);
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
        var flat = new float[network.ParameterCount];
        var expectedNames = network.Tensors.Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
        foreach (SafeTensor t in content.Tensors)
        {
            if (!expectedNames.Contains(t.Name))
                throw new ModelFormatException($"{path}: unexpected tensor {SafeTensorsFile.Quote(t.Name)} for the architecture {network}");
        }
        foreach (ParameterTensor tensor in network.Tensors)
        {
            SafeTensor t = content.Find(tensor.Name) ?? throw new ModelFormatException($"{path}: missing tensor {tensor.Name}");
            if (!t.Shape.SequenceEqual(tensor.Shape))
                throw new ModelFormatException($"{path}: tensor {t.Name} has shape {Dims(t.Shape)}; the architecture needs {Dims(tensor.Shape)}");
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
        return new LoadedModel(network, null, flat, content.Metadata, schema);
    }

    /// <summary>Atomically writes the model. <paramref name="flatParameters"/> is in
    /// <see cref="NetworkShape"/>'s layout. <c>format</c> and <c>gpumlp.widths</c> are set by this
    /// method and override any value the caller passes under those keys.</summary>
    /// <exception cref="ArgumentException">The parameter count does not match the shape, or a value
    /// is NaN or infinite.</exception>
    public static void Save(string path, NetworkShape shape, float[] flatParameters, IReadOnlyDictionary<string, string> metadata)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        SafeTensorsFile.Write(path, ToTensors(shape, flatParameters), MergeMetadata(shape, metadata));
    }

    /// <summary>Loads a model written by <see cref="Save"/> (or by PyTorch with the same module
    /// layout), returning the shape read from the tensor shapes, the parameters in
    /// <see cref="NetworkShape"/>'s layout, and the metadata.</summary>
    /// <exception cref="FileNotFoundException">There is no such file.</exception>
    /// <exception cref="ModelFormatException">The file is not a valid model.</exception>
    public static (NetworkShape Shape, float[] Parameters, IReadOnlyDictionary<string, string> Metadata) Load(string path)
    {
        SafeTensorsContent content = SafeTensorsFile.Read(path);
        return FromContent(content, path);
    }

    /// <summary>As <see cref="Load(string)"/>, from the bytes of a file; <paramref name="nameForMessages"/>
    /// starts every error message.</summary>
    /// <exception cref="ModelFormatException">The bytes are not a valid model.</exception>
    public static (NetworkShape Shape, float[] Parameters, IReadOnlyDictionary<string, string> Metadata) Parse(ReadOnlySpan<byte> file, string nameForMessages)
    {
        SafeTensorsContent content = SafeTensorsFile.Parse(file, nameForMessages);
        return FromContent(content, nameForMessages);
    }

    /// <summary>As <see cref="Load(string)"/>, and the model's widths must equal <paramref name="expected"/>'s.</summary>
    /// <exception cref="ModelFormatException">The file is not a valid model, or has other widths.</exception>
    public static (NetworkShape Shape, float[] Parameters, IReadOnlyDictionary<string, string> Metadata) Load(string path, NetworkShape expected)
    {
        ArgumentNullException.ThrowIfNull(expected);
        var loaded = Load(path);
        if (!loaded.Shape.Widths.SequenceEqual(expected.Widths))
        {
            throw new ModelFormatException($"{path}: model has widths {loaded.Shape} but the configuration expects {expected}");
        }
        return loaded;
    }

    /// <summary>PyTorch's name of layer <paramref name="layer"/>'s weight in the nn.Sequential.</summary>
    public static string WeightName(int layer) => $"{3 * layer}.weight";

    /// <summary>PyTorch's name of layer <paramref name="layer"/>'s bias in the nn.Sequential.</summary>
    public static string BiasName(int layer) => $"{3 * layer}.bias";

    /// <summary>The widths as written in the metadata: inputs, hidden widths, classes, comma-separated.</summary>
    public static string FormatWidths(NetworkShape shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        return string.Join(",", shape.Widths.Select(w => w.ToString(CultureInfo.InvariantCulture)));
    }

    /// <summary>The tensors <see cref="Save"/> writes, weights transposed to [out, in].</summary>
    public static IReadOnlyList<SafeTensor> ToTensors(NetworkShape shape, float[] flatParameters)
    {
        ArgumentNullException.ThrowIfNull(shape);
        ArgumentNullException.ThrowIfNull(flatParameters);
        if (flatParameters.Length != shape.ParameterCount)
        {
            throw new ArgumentException(
                $"network {shape} has {shape.ParameterCount} parameters but {flatParameters.Length} were given", nameof(flatParameters));
        }

        var tensors = new List<SafeTensor>(2 * shape.LayerCount);
        for (int l = 0; l < shape.LayerCount; l++)
        {
            int inputs = shape.In(l), outputs = shape.Out(l);
            int w = shape.WeightOffsets[l];
            var weight = new float[inputs * outputs];
            for (int i = 0; i < inputs; i++)
            {
                for (int o = 0; o < outputs; o++)
                {
                    weight[(o * inputs) + i] = flatParameters[w + (i * outputs) + o];
                }
            }

            float[] bias = flatParameters.AsSpan(shape.BiasOffsets[l], outputs).ToArray();
            tensors.Add(new SafeTensor(WeightName(l), [outputs, inputs], weight));
            tensors.Add(new SafeTensor(BiasName(l), [outputs], bias));
        }
        return tensors;
    }

    private static Dictionary<string, string> MergeMetadata(NetworkShape shape, IReadOnlyDictionary<string, string> metadata)
    {
        ArgumentNullException.ThrowIfNull(metadata);
        var merged = new Dictionary<string, string>(metadata, StringComparer.Ordinal)
        {
            [FormatKey] = "pt",
            [WidthsKey] = FormatWidths(shape),
        };
        return merged;
    }

    private static (NetworkShape, float[], IReadOnlyDictionary<string, string>) FromContent(SafeTensorsContent content, string path)
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

        NetworkShape shape;
        try
        {
            shape = new NetworkShape(widths[0], widths[1..^1], widths[^1]);
        }
        catch (OverflowException ex)
        {
            throw new ModelFormatException($"{path}: widths {string.Join("-", widths)} need more parameters than one buffer can hold", ex);
        }
        if (content.Metadata.TryGetValue(WidthsKey, out string? declared) && declared != FormatWidths(shape))
        {
            throw new ModelFormatException(
                $"{path}: metadata {WidthsKey} says {SafeTensorsFile.Quote(declared)} but the tensors have widths {FormatWidths(shape)}");
        }

        var parameters = new float[shape.ParameterCount];
        for (int l = 0; l < layers; l++)
        {
            int inputs = shape.In(l), outputs = shape.Out(l);
            float[] weight = content.Find(WeightName(l))!.Data;
            int offset = shape.WeightOffsets[l];
            for (int o = 0; o < outputs; o++)
            {
                for (int i = 0; i < inputs; i++)
                {
                    parameters[offset + (i * outputs) + o] = weight[(o * inputs) + i];
                }
            }

            content.Find(BiasName(l))!.Data.CopyTo(parameters, shape.BiasOffsets[l]);
        }

        return (shape, parameters, content.Metadata);
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

/// <summary>A model file read by <see cref="ModelFile.LoadAny"/>: its layer stack, its MLP widths
/// when it is the report's MLP (no architecture metadata), the parameters in the flat buffer's
/// layout, the metadata and the dataset schema the model was trained on (<see cref="ModelSchema"/>).</summary>
public sealed record LoadedModel(Architecture Network, NetworkShape? MlpShape, float[] Parameters, IReadOnlyDictionary<string, string> Metadata, Data.ImageSchema Schema);
