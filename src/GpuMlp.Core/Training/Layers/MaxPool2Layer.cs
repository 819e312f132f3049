using GpuMlp.Export;
using GpuMlp.Kernels;
using GpuMlp.Models;
using ILGPU;

namespace GpuMlp.Training;

/// <summary>nn.MaxPool2d(2): 2x2 windows, stride 2, odd last row/column dropped. Text: pool2.
/// Input C x H x W (H, W >= 2), output C x H/2 x W/2; no parameters.</summary>
public sealed record MaxPool2Spec : LayerSpec
{
    internal static LayerKind Kind { get; } = new("pool2", TryParse);

    public override string Token => "pool2";

    public override bool TakesMap => true;

    public override bool UsesConvolutionKernels => true;

    private static MaxPool2Spec? TryParse(string lower, string quoted)
    {
        if (lower == "pool2")
            return MaxPool2;
        if (lower.StartsWith("pool", StringComparison.Ordinal))
            throw new ArchitectureException($"architecture: {quoted}: only 2x2 max-pooling exists, written pool2");
        return null;
    }

    public override ActivationShape OutputShape(ActivationShape input, int index)
    {
        if (!input.IsMap)
            throw Invalid(index, $"2x2 pooling needs a CxHxW map, but its input is a vector of {input.Channels}");
        if (input.Height < 2 || input.Width < 2)
            throw Invalid(index, $"2x2 pooling needs a map of at least 2x2, but its input is {input}");
        return ActivationShape.Map(input.Channels, input.Height / 2, input.Width / 2);
    }

    public override IReadOnlyList<ParameterTensor> Parameters(int index, ActivationShape input) => [];

    public override string PyTorchModule(ActivationShape input) => "nn.MaxPool2d(2)";

    public override LayerDescription Describe(ArchitectureLayer layer, IReadOnlyDictionary<string, SafeTensor> tensors) =>
        new LayerDescription.MaxPool2();

    /// <summary>y, argmax and the output gradient.</summary>
    public override long DeviceValuesPerRow(ArchitectureLayer layer) => 3 * layer.Output.Elements;

    internal override DeviceLayer CreateDeviceLayer(LayerNetwork network, LayerNetwork.PlannedLayer step, DeviceLayer? previous, bool needsInputGradient) =>
        new Device(network, step, previous, needsInputGradient);

    /// <summary>pool2: 2x2 max-pooling; owns y, argmax and the output gradient. After a convolution
    /// that hands over rows (DeviceLayer.PoolRows) that convolution's forward pools its rows into y and
    /// argmax (the handoff's buffers, which it takes as its own) and this backward writes the
    /// convolution's dz and bias partials.</summary>
    private sealed class Device : DeviceLayer
    {
        private readonly LayerNetwork network;
        private readonly DeviceLayer? previous;
        private readonly bool needsInputGradient;
        private readonly PoolRowsHandoff? handoff;
        private readonly ActivationShape inputShape;
        private readonly ArrayView<int> argmax;

        public Device(LayerNetwork network, LayerNetwork.PlannedLayer step, DeviceLayer? previous, bool needsInputGradient)
        {
            this.network = network;
            this.previous = previous;
            handoff = previous?.PoolRows;
            // The convolution handing over rows has parameters, so its dz is always needed.
            this.needsInputGradient = (needsInputGradient && previous is not null) || handoff is not null;
            inputShape = step.Layer.Input;
            var full = Shape(network.MaxRows);
            // Fed rows, the convolution before it pools them in its own forward, into these buffers.
            Output = handoff?.Pooled ?? network.Buffer<float>(full.OutputLength);
            OutputGradient = network.Buffer<float>(full.OutputLength);
            argmax = handoff?.Argmax ?? network.Buffer<int>(full.OutputLength);
        }

        private PoolShape Shape(int batch) => new(batch, inputShape.Channels, inputShape.Height, inputShape.Width);

        public override void Forward(int rows, ArrayView<float> x, bool training, uint seed, uint step)
        {
            // Fed rows, there is nothing to do: the convolution's ConvPoolForward wrote Output and argmax.
            if (handoff is null)
                network.Kernels.MaxPool2Forward(Shape(rows), x, Output, argmax);
        }

        public override void Backward(int rows, ArrayView<float> x)
        {
            if (!needsInputGradient)
                return;
            if (handoff is null)
                network.Kernels.MaxPool2Backward(Shape(rows), OutputGradient, argmax, previous!.OutputGradient);
            else
                network.Kernels.MaxPool2BackwardNhwc(Shape(rows), handoff.Relu, OutputGradient, argmax, Output,
                    previous!.OutputGradient, handoff.BiasPartials);
        }
    }
}
