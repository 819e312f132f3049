using GpuMlp.Export;
using GpuMlp.Models;

namespace GpuMlp.Training;

/// <summary>nn.ReLU(). Text: relu. Shape unchanged, no parameters, no launches of its own: it is
/// fused into the layer before it (the dense GEMM's epilogue, the convolution's bias/ReLU
/// epilogue; see <see cref="LayerNetwork.Plan"/>).</summary>
public sealed record ReluSpec : LayerSpec
{
    internal static LayerKind Kind { get; } = new("relu", (lower, _) => lower == "relu" ? Relu : null);

    public override string Token => "relu";

    public override bool FusesIntoPrevious => true;

    public override ActivationShape OutputShape(ActivationShape input, int index) => input;

    public override IReadOnlyList<ParameterTensor> Parameters(int index, ActivationShape input) => [];

    public override string PyTorchModule(ActivationShape input) => "nn.ReLU()";

    public override LayerDescription Describe(ArchitectureLayer layer, IReadOnlyDictionary<string, SafeTensor> tensors) =>
        new LayerDescription.Relu();

    public override long DeviceValuesPerRow(ArchitectureLayer layer) => 0;

    internal override DeviceLayer CreateDeviceLayer(LayerNetwork network, LayerNetwork.PlannedLayer step, DeviceLayer? previous, bool needsInputGradient) =>
        throw Fused();
}
