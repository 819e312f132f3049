using GpuMlp.Models;
using GpuMlp.Training;

namespace GpuMlp.Export;

/// <summary>A trained network for export: the shape of one input sample (the batch dimension is
/// left out), the layers in order, and what the input means.</summary>
/// <param name="SampleShape">One sample's shape, e.g. [784] for the MLP (a convolutional network
/// would take [1, 28, 28]).</param>
/// <param name="Layers">Applied in order; the last layer's output are the logits.</param>
/// <param name="InputDescription">What the input holds and how it was prepared, written into the
/// exported file's input documentation.</param>
public sealed record NetworkDescription(IReadOnlyList<int> SampleShape, IReadOnlyList<LayerDescription> Layers, string InputDescription)
{
    /// <summary>What <c>gpumlp predict</c> and <c>gpumlp eval</c> feed an MNIST network (see
    /// <see cref="Imaging.DigitImage"/> and the input gather kernel).</summary>
    public const string MnistInputDescription =
        "float32 [batch, 784]: 28x28 grayscale digits, row-major (784 = 28 rows of 28 pixels), each value pixel / 255 in [0, 1], " +
        "white ink on black as in MNIST; gpumlp predict also crops the ink, fits it in a 20x20 box and centres its centre of mass in 28x28, as MNIST was made";

    /// <summary>The MLP as PyTorch's <c>nn.Sequential(Linear, ReLU, Dropout, ..., Linear)</c>:
    /// Dense layer l carries the tensors named as in model.safetensors (<c>"{3l}.weight"</c> [out, in],
    /// <c>"{3l}.bias"</c> [out]), each hidden Dense layer is followed by ReLU and Dropout.</summary>
    /// <param name="mlp">An MLP (<see cref="Architecture.MlpWidths"/>).</param>
    /// <param name="flatParameters">The parameters in the stack's flat layout.</param>
    /// <param name="dropout">The training dropout rate (documentation only: dropout is the identity at
    /// inference), in place of the stack's own (an MLP file's stack has 0).</param>
    public static NetworkDescription FromMlp(Architecture mlp, float[] flatParameters, float dropout = 0f)
    {
        ArgumentNullException.ThrowIfNull(mlp);
        IReadOnlyList<int> widths = mlp.MlpWidths ?? throw new ArgumentException($"{mlp} is not an MLP", nameof(mlp));
        return FromArchitecture(Architecture.Mlp(widths[0], [.. widths.Skip(1).SkipLast(1)], widths[^1], dropout), flatParameters);
    }

    /// <summary>What an exported network with convolutions takes: the same pixels as a map.</summary>
    public const string MnistImageInputDescription =
        "float32 [batch, 1, 28, 28]: 28x28 grayscale digits (NCHW, one channel), each value pixel / 255 in [0, 1], " +
        "white ink on black as in MNIST; gpumlp predict also crops the ink, fits it in a 20x20 box and centres its centre of mass in 28x28, as MNIST was made";

    /// <summary>Any layer stack as PyTorch's nn.Sequential of its modules, one description per
    /// module, carrying the tensors named and shaped as in model.safetensors.</summary>
    /// <param name="network">The stack.</param>
    /// <param name="flatParameters">The parameters in the stack's flat-buffer layout.</param>
    public static NetworkDescription FromArchitecture(Architecture network, float[] flatParameters)
    {
        ArgumentNullException.ThrowIfNull(network);
        var tensors = ModelFile.ToTensors(network, flatParameters).ToDictionary(t => t.Name, StringComparer.Ordinal);
        var layers = new List<LayerDescription>(network.Layers.Count);
        foreach (var layer in network.Layers)
        {
            layers.Add(layer.Spec.Describe(layer, tensors));
        }
        var input = network.Input;
        IReadOnlyList<int> sample = input.IsMap ? [input.Channels, input.Height, input.Width] : [input.Channels];
        string description = input == Architecture.MnistImage ? MnistImageInputDescription
            : input == Architecture.MnistVector ? MnistInputDescription
            : $"float32 [batch, {string.Join(", ", sample)}]: the values the network was trained on";
        return new NetworkDescription(sample, layers, description);
    }
}
