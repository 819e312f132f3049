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
    /// <param name="shape">The layer widths.</param>
    /// <param name="flatParameters">The parameters in <see cref="NetworkShape"/>'s layout.</param>
    /// <param name="dropout">The training dropout rate (documentation only: dropout is the identity at inference).</param>
    /// <param name="image">The images the MLP reads as vectors (documentation only).</param>
    public static NetworkDescription FromMlp(NetworkShape shape, float[] flatParameters, float dropout = 0f, ImageShape? image = null)
    {
        ArgumentNullException.ThrowIfNull(shape);
        var tensors = ModelFile.ToTensors(shape, flatParameters);
        var layers = new List<LayerDescription>(3 * shape.LayerCount);
        for (int l = 0; l < shape.LayerCount; l++)
        {
            SafeTensor weight = tensors[2 * l], bias = tensors[(2 * l) + 1];
            layers.Add(new LayerDescription.Dense(weight.Name, bias.Name, shape.In(l), shape.Out(l), weight.Data, bias.Data));
            if (l < shape.LayerCount - 1)
            {
                layers.Add(new LayerDescription.Relu());
                layers.Add(new LayerDescription.Dropout(dropout));
            }
        }

        return new NetworkDescription([shape.Inputs], layers, Describe([shape.Inputs], image?.Pixels == shape.Inputs ? image : null));
    }

    /// <summary>Any layer stack as PyTorch's nn.Sequential of its modules, one description per
    /// module, carrying the tensors named and shaped as in model.safetensors.</summary>
    /// <param name="network">The stack.</param>
    /// <param name="flatParameters">The parameters in the stack's flat-buffer layout.</param>
    /// <param name="image">The images the stack was trained on (documentation only).</param>
    public static NetworkDescription FromArchitecture(Architecture network, float[] flatParameters, ImageShape? image = null)
    {
        ArgumentNullException.ThrowIfNull(network);
        var tensors = ModelFile.ToTensors(network, flatParameters).ToDictionary(t => t.Name, StringComparer.Ordinal);
        var layers = new List<LayerDescription>(network.Layers.Count);
        foreach (var layer in network.Layers)
        {
            layers.Add(layer.Spec switch
            {
                ConvSpec conv => new LayerDescription.Conv2d(layer.Parameters[0].Name, layer.Parameters[1].Name, layer.Input.Channels,
                    conv.OutChannels, conv.KernelH, conv.KernelW, conv.Padding, tensors[layer.Parameters[0].Name].Data, tensors[layer.Parameters[1].Name].Data),
                MaxPool2Spec => new LayerDescription.MaxPool2(),
                FlattenSpec => new LayerDescription.Flatten(),
                DenseSpec dense => new LayerDescription.Dense(layer.Parameters[0].Name, layer.Parameters[1].Name, (int)layer.Input.Elements,
                    dense.Outputs, tensors[layer.Parameters[0].Name].Data, tensors[layer.Parameters[1].Name].Data),
                ReluSpec => new LayerDescription.Relu(),
                DropoutSpec dropout => new LayerDescription.Dropout(dropout.Rate),
                _ => throw new ArgumentException($"layer {layer.Index} ({layer.Spec}) has no description", nameof(network)),
            });
        }
        var input = network.Input;
        IReadOnlyList<int> sample = input.IsMap ? [input.Channels, input.Height, input.Width] : [input.Channels];
        return new NetworkDescription(sample, layers, Describe(sample, image?.Pixels == input.Elements ? image : null));
    }
}
