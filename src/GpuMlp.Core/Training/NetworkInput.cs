using GpuMlp.Data;

namespace GpuMlp.Training;

/// <summary>How a network reads the images of a dataset: a stack with no conv, pool2 or flatten is
/// an MLP and reads each image as the vector of its C*H*W values (NCHW order, as x.view(-1, C*H*W)
/// does); any other stack reads it as a CxHxW map. The stack must end in one score per class.</summary>
public static class NetworkInput
{
    /// <summary>The input of <paramref name="layers"/> for images of <paramref name="image"/>.</summary>
    public static ActivationShape For(IReadOnlyList<LayerSpec> layers, ImageShape image)
    {
        ArgumentNullException.ThrowIfNull(layers);
        bool isMlp = !layers.Any(l => l is ConvSpec or MaxPool2Spec or FlattenSpec);
        return isMlp ? ActivationShape.Vector(image.Pixels) : ActivationShape.Map(image.Channels, image.Height, image.Width);
    }

    /// <summary>Parses the architecture text for a dataset of <paramref name="schema"/>.</summary>
    /// <exception cref="ArchitectureException">The text does not parse or its shapes do not chain.</exception>
    public static Architecture Parse(string text, ImageSchema schema)
    {
        ArgumentNullException.ThrowIfNull(schema);
        IReadOnlyList<LayerSpec> layers = Architecture.ParseLayers(text);
        return new Architecture(layers, For(layers, schema.Shape), schema.Classes);
    }

    /// <summary>The report's MLP for a dataset of <paramref name="schema"/>: C*H*W inputs, the
    /// <paramref name="hidden"/> widths, one output per class.</summary>
    public static NetworkShape MlpShape(IReadOnlyList<int> hidden, ImageSchema schema)
    {
        ArgumentNullException.ThrowIfNull(hidden);
        ArgumentNullException.ThrowIfNull(schema);
        return new NetworkShape(schema.Shape.Pixels, hidden, schema.Classes);
    }
}
