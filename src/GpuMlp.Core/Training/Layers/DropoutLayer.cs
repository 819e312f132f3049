using System.Globalization;
using System.Text.RegularExpressions;
using GpuMlp.Export;
using GpuMlp.Models;

namespace GpuMlp.Training;

/// <summary>nn.Dropout(Rate), 0 &lt;= Rate &lt; 1. Text: dropout{Rate}, e.g. dropout0.5. Shape
/// unchanged, no parameters, no launches of its own: it is fused into the dense layer (and its
/// relu) before it, whose GEMM epilogue draws the mask (see <see cref="LayerNetwork.Plan"/>).</summary>
public sealed partial record DropoutSpec(float Rate) : LayerSpec
{
    internal static LayerKind Kind { get; } = new("dropout<p>", TryParse);

    public override string Token => "dropout" + FormatRate(Rate);

    public override bool FusesIntoPrevious => true;

    private static DropoutSpec? TryParse(string lower, string quoted)
    {
        Match match = Pattern().Match(lower);
        if (match.Success)
        {
            float rate = float.Parse(match.Groups[1].Value, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture);
            if (rate >= 1f)
                throw new ArchitectureException($"architecture: {quoted}: the dropout rate must be below 1");
            return new DropoutSpec(rate);
        }
        if (lower.StartsWith("dropout", StringComparison.Ordinal))
            throw new ArchitectureException($"architecture: {quoted}: expected dropout<p> with p in [0, 1), e.g. dropout0.5");
        return null;
    }

    public override ActivationShape OutputShape(ActivationShape input, int index)
    {
        if (!(Rate >= 0f && Rate < 1f))
            throw Invalid(index, "the dropout rate must be in [0, 1)");
        return input;
    }

    public override IReadOnlyList<ParameterTensor> Parameters(int index, ActivationShape input) => [];

    public override string PyTorchModule(ActivationShape input) => "nn.Dropout(" + FormatRate(Rate) + ")";

    public override LayerDescription Describe(ArchitectureLayer layer, IReadOnlyDictionary<string, SafeTensor> tensors) =>
        new LayerDescription.Dropout(Rate);

    public override long DeviceValuesPerRow(ArchitectureLayer layer) => 0;

    internal override DeviceLayer CreateDeviceLayer(LayerNetwork network, LayerNetwork.PlannedLayer step, DeviceLayer? previous, bool needsInputGradient) =>
        throw Fused();

    /// <summary>The shortest decimal that reads back as the same float, never in exponent form.</summary>
    internal static string FormatRate(float rate)
    {
        string shortest = rate.ToString("R", CultureInfo.InvariantCulture);
        return shortest.Contains('E', StringComparison.Ordinal)
            ? rate.ToString("0.##############################", CultureInfo.InvariantCulture)
            : shortest;
    }

    [GeneratedRegex(@"^dropout([0-9]+(?:\.[0-9]+)?|\.[0-9]+)$", RegexOptions.CultureInvariant)]
    private static partial Regex Pattern();
}
