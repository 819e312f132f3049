using GpuMlp.Data;
using GpuMlp.Models;
using GpuMlp.Training;

namespace GpuMlp.Export;

/// <summary>A trained network for export: the shape of one input sample (the batch dimension is
/// left out), the layers in order, and what the input means.</summary>
/// <param name="SampleShape">One sample's shape: [C*H*W] for the MLP, [C, H, W] for a network with
/// convolutions.</param>
/// <param name="Layers">Applied in order; the last layer's output are the logits.</param>
/// <param name="InputDescription">What the input holds and how it was prepared, written into the
/// exported file's input documentation.</param>
public sealed record NetworkDescription(IReadOnlyList<int> SampleShape, IReadOnlyList<LayerDescription> Layers, string InputDescription)
{
    /// <summary>What an input of <paramref name="sample"/> holds: images of <paramref name="image"/>
    /// as the input gather kernel feeds them (pixel / 255), or, with no image shape known, the bare
    /// tensor shape.</summary>
    private static string Describe(IReadOnlyList<int> sample, ImageShape? image) =>
        $"float32 [batch, {string.Join(", ", sample)}]: " + (image is { } shape ? ModelSchema.Describe(shape) : "the values the network was trained on");

    /// <summary>The MLP as PyTorch's <c>nn.Sequential(Linear, ReLU, Dropout, ..., Linear)</c>:
    /// Dense layer l carries the tensors named as in model.safetensors (<c>"{3l}.weight"</c> [out, in],
    /// <c>"{3l}.bias"</c> [out]), each hidden Dense layer is followed by ReLU and Dropout.</summary>
    /// <param name="mlp">An MLP (<see cref="Architecture.MlpWidths"/>).</param>
    /// <param name="flatParameters">The parameters in the stack's flat layout.</param>
    /// <param name="dropout">The training dropout rate (documentation only: dropout is the identity at
    /// inference), in place of the stack's own (an MLP file's stack has 0).</param>
    /// <param name="image">The images the MLP reads as vectors (documentation only).</param>
    public static NetworkDescription FromMlp(Architecture mlp, float[] flatParameters, float dropout = 0f, ImageShape? image = null)
    {
        ArgumentNullException.ThrowIfNull(mlp);
        IReadOnlyList<int> widths = mlp.MlpWidths ?? throw new ArgumentException($"{mlp} is not an MLP", nameof(mlp));
        return FromArchitecture(Architecture.Mlp(widths[0], [.. widths.Skip(1).SkipLast(1)], widths[^1], dropout), flatParameters, image);
    }

    /// <summary>Any layer stack as PyTorch's nn.Sequential of its modules, one description per
    /// module, carrying the tensors named and shaped as in model.safetensors.</summary>
    /// <param name="network">The stack.</param>
    /// <param name="flatParameters">The parameters in the stack's flat-buffer layout.</param>
    /// <param name="image">The images the stack was trained on (documentation only).</param>
    public static NetworkDescription FromArchitecture(Architecture network, float[] flatParameters, ImageShape? image = null) =>
        FromArchitecture(network, flatParameters, [], image);

    /// <summary>As <see cref="FromArchitecture(Architecture, float[], ImageShape?)"/>, with the layers'
    /// non-trained state (flat, in <see cref="Architecture.StateTensors"/> order), which a stack with
    /// state (bn's running statistics) needs.</summary>
    public static NetworkDescription FromArchitecture(Architecture network, float[] flatParameters, float[] flatState, ImageShape? image = null)
    {
        ArgumentNullException.ThrowIfNull(network);
        var tensors = ModelFile.ToTensors(network, flatParameters, flatState).ToDictionary(t => t.Name, StringComparer.Ordinal);
        var layers = new List<LayerDescription>(network.Layers.Count);
        foreach (var layer in network.Layers)
        {
            layers.Add(layer.Spec.Describe(layer, tensors));
        }
        var input = network.Input;
        IReadOnlyList<int> sample = input.IsMap ? [input.Channels, input.Height, input.Width] : [input.Channels];
        return new NetworkDescription(sample, layers, Describe(sample, image?.Pixels == input.Elements ? image : null));
    }
}
