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
        bool isMlp = !layers.Any(l => l.TakesMap);
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
    /// <paramref name="hidden"/> widths (each with relu and dropout <paramref name="dropout"/>), one
    /// output per class.</summary>
    /// <exception cref="ArchitectureException">The MLP would have more than 2^31 - 1 parameters.</exception>
    public static Architecture Mlp(IReadOnlyList<int> hidden, ImageSchema schema, float dropout)
    {
        ArgumentNullException.ThrowIfNull(hidden);
        ArgumentNullException.ThrowIfNull(schema);
        return Architecture.Mlp(schema.Shape.Pixels, hidden, schema.Classes, dropout);
    }
}
