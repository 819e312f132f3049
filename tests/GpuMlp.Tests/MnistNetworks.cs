using GpuMlp.Data;
using GpuMlp.Training;

namespace GpuMlp.Tests;

/// <summary>Networks for MNIST's schema (1x28x28 images, 10 classes): the tests' shorthand for
/// what the library builds from a dataset's schema (<see cref="NetworkInput"/>).</summary>
internal static class MnistNetworks
{
    /// <summary>One MNIST image as a map (the input of stacks with conv, pool2 or flatten).</summary>
    public static ActivationShape Image => ActivationShape.Map(MnistDataset.Shape.Channels, MnistDataset.Shape.Height, MnistDataset.Shape.Width);

    /// <summary>One MNIST image as the vector of its 784 pixels (the input of MLP stacks).</summary>
    public static ActivationShape Vector => ActivationShape.Vector(MnistDataset.Shape.Pixels);

    public const int Classes = MnistDataset.ClassCount;

    /// <summary>The text form parsed for MNIST.</summary>
    public static Architecture Parse(string text) => NetworkInput.Parse(text, MnistDataset.Schema);

    /// <summary>The CNN preset (<see cref="Architecture.CnnText"/>) for MNIST.</summary>
    public static Architecture Cnn => Parse(Architecture.CnnText);

    /// <summary>The report's MLP for MNIST: 784 inputs, the hidden widths, 10 classes.</summary>
    public static Architecture Mlp(IReadOnlyList<int> hidden, float dropout) => NetworkInput.Mlp(hidden, MnistDataset.Schema, dropout);
}
