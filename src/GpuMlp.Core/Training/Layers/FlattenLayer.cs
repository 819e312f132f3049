using GpuMlp.Export;
using GpuMlp.Models;
using ILGPU;

namespace GpuMlp.Training;

/// <summary>nn.Flatten(): a C x H x W map to the vector of its C * H * W values in NCHW order (no
/// kernel: the dense layer reads the map's buffer as [batch, C * H * W]). Text: flatten.</summary>
public sealed record FlattenSpec : LayerSpec
{
    internal static LayerKind Kind { get; } = new("flatten", (lower, _) => lower == "flatten" ? Flatten : null);

    public override string Token => "flatten";

    public override bool TakesMap => true;

    public override ActivationShape OutputShape(ActivationShape input, int index)
    {
        if (!input.IsMap)
            throw Invalid(index, $"its input is already a vector ({input.Channels})");
        return ActivationShape.Vector((int)input.Elements);
    }

    public override IReadOnlyList<ParameterTensor> Parameters(int index, ActivationShape input) => [];

    public override string PyTorchModule(ActivationShape input) => "nn.Flatten()";

    public override LayerDescription Describe(ArchitectureLayer layer, IReadOnlyDictionary<string, SafeTensor> tensors) =>
        new LayerDescription.Flatten();

    /// <summary>None: the output is the previous layer's buffer.</summary>
    public override long DeviceValuesPerRow(ArchitectureLayer layer) => 0;

    internal override DeviceLayer CreateDeviceLayer(LayerNetwork network, LayerNetwork.PlannedLayer step, DeviceLayer? previous, bool needsInputGradient) =>
        new Device(previous);

    /// <summary>flatten: no launch; the NCHW map is already [rows, C*H*W] row-major, so its output
    /// and output gradient are the previous layer's (or the input's) buffers.</summary>
    private sealed class Device : DeviceLayer
    {
        private readonly bool hasPrevious;

        public Device(DeviceLayer? previous)
        {
            hasPrevious = previous is not null;
            if (previous is not null)
            {
                Output = previous.Output;
                OutputGradient = previous.OutputGradient;
                MasksInputGradient = previous.MasksInputGradient;
                KeepScale = previous.KeepScale;
            }
        }

        public override void Forward(int rows, ArrayView<float> x, bool training, uint seed, uint step)
        {
            if (!hasPrevious)
                Output = x;
        }

        public override void Backward(int rows, ArrayView<float> x)
        {
        }
    }
}
