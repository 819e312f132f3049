using CsCheck;
using GpuMlp.Training;

namespace GpuMlp.Tests.Fuzz;

/// <summary>Architecture texts built from layer fragments, whole tokens in random order and random
/// strings: Architecture.Parse either returns a stack that ends in 10 class scores, reads back from
/// its own canonical text and tiles the flat buffer exactly, or throws ArchitectureException with a
/// one-line message starting "architecture: ". Anything else fails.</summary>
public sealed class ArchitectureFuzzTests
{
    public const int Cases = 10_000;

    private static readonly string[] Fragments =
    [
        "conv", "pool", "pool2", "flatten", "dense", "relu", "dropout", "x", "p", "P", "CONV", "5", "3", "32", "2", "0", "1",
        "10", "28", "512", "65536", "99999999999", "0.5", ".", "-", "+", ",", ",", ",", " ", "\t", "\u0000", "\n", "\uFFFD", "\ud800",
        "é", "İ", "e5",
    ];

    private static readonly string[] Tokens =
    [
        "conv5x5x32p2", "conv3x3x8", "conv1x1x4", "conv28x28x2", "conv5x3x6p1", "pool2", "pool2", "flatten", "flatten",
        "dense10", "dense10", "dense64", "relu", "dropout0.5", "dropout0",
    ];

    private static readonly Gen<string> Texts = Gen.Frequency(
        (3, Gen.OneOf(Fragments).Array[0, 24].Select(string.Concat)),
        (3, Gen.OneOf(Tokens).Array[1, 10].Select(tokens => string.Join(",", tokens))),
        (1, Gen.String));

    private static void Check(string text)
    {
        Architecture? parsed = null;
        if (Outcome.Of<ArchitectureException>("architecture", () => parsed = MnistNetworks.Parse(text)) is not null)
            return;
        Architecture architecture = parsed!;
        Outcome.Require(architecture.Output == ActivationShape.Vector(MnistNetworks.Classes), $"{architecture.Text} ends in {architecture.Output}");
        Outcome.Require(MnistNetworks.Parse(architecture.Text).Text == architecture.Text, $"{architecture.Text} does not read back");
        int end = 0;
        foreach (ParameterTensor tensor in architecture.Tensors)
        {
            Outcome.Require(tensor.Offset == end, $"{architecture.Text}: {tensor.Name} starts at {tensor.Offset}, not {end}");
            end += tensor.Length;
        }
        Outcome.Require(end == architecture.ParameterCount, $"{architecture.Text}: tensors cover {end} of {architecture.ParameterCount} parameters");
    }

    [Fact]
    public void ArchitectureText_RandomTexts_ParseOrFailWithOneLine() => Texts.Sample(Check, iter: Cases);
}
