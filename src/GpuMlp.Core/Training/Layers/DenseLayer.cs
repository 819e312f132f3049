using System.Globalization;
using System.Text.RegularExpressions;
using GpuMlp.Compute;
using GpuMlp.Export;
using GpuMlp.Kernels;
using GpuMlp.Models;
using ILGPU;

namespace GpuMlp.Training;

/// <summary>nn.Linear(in, Outputs). Text: dense{Outputs}. Input a vector of in values, output a
/// vector of Outputs; weight [Outputs, in] (stored transposed, [in, Outputs], in the flat
/// buffer), bias [Outputs].</summary>
public sealed partial record DenseSpec(int Outputs) : LayerSpec
{
    private const int MaxOutputs = 1 << 20;

    internal static LayerKind Kind { get; } = new("dense<out>", TryParse);

    public override string Token => string.Create(CultureInfo.InvariantCulture, $"dense{Outputs}");

    private static DenseSpec? TryParse(string lower, string quoted)
    {
        Match match = Pattern().Match(lower);
        if (match.Success)
            return new DenseSpec(Number(match.Groups[1].Value, 1, MaxOutputs, quoted, "width"));
        if (lower.StartsWith("dense", StringComparison.Ordinal))
            throw new ArchitectureException($"architecture: {quoted}: expected dense<out>, e.g. dense512");
        return null;
    }

    public override ActivationShape OutputShape(ActivationShape input, int index)
    {
        if (Outputs < 1)
            throw Invalid(index, "the width must be positive");
        if (input.IsMap)
            throw Invalid(index, $"a dense layer needs a vector; put flatten before it (its input is {input})");
        if ((long)input.Channels * Outputs > int.MaxValue)
            throw Invalid(index, $"the stack would have more than {int.MaxValue} parameters");
        return ActivationShape.Vector(Outputs);
    }

    public override IReadOnlyList<ParameterTensor> Parameters(int index, ActivationShape input)
    {
        int inputs = (int)input.Elements;
        return
        [
            new ParameterTensor(Architecture.WeightName(index), [Outputs, inputs], 0, true, inputs),
            new ParameterTensor(Architecture.BiasName(index), [Outputs], 0, false, inputs),
        ];
    }

    public override string PyTorchModule(ActivationShape input) =>
        string.Create(CultureInfo.InvariantCulture, $"nn.Linear({input.Elements}, {Outputs})");

    public override LayerDescription Describe(ArchitectureLayer layer, IReadOnlyDictionary<string, SafeTensor> tensors)
    {
        string weight = layer.Parameters[0].Name, bias = layer.Parameters[1].Name;
        return new LayerDescription.Dense(weight, bias, (int)layer.Input.Elements, Outputs, tensors[weight].Data, tensors[bias].Data);
    }

    /// <summary>The output and its gradient.</summary>
    public override long DeviceValuesPerRow(ArchitectureLayer layer) => 2 * layer.Output.Elements;

    internal override DeviceLayer CreateDeviceLayer(LayerNetwork network, LayerNetwork.PlannedLayer step, DeviceLayer? previous, bool needsInputGradient) =>
        new Device(network, step, previous, needsInputGradient);

    [GeneratedRegex(@"^dense([0-9]+)$", RegexOptions.CultureInvariant)]
    private static partial Regex Pattern();

    /// <summary>dense{out}[,relu[,dropout{p}]]: Z = X W + b through the GEMM epilogue (W stored
    /// [in, out] at the weight tensor's offset).</summary>
    private sealed class Device : DeviceLayer
    {
        private readonly LayerNetwork network;
        private readonly DeviceLayer? previous;
        private readonly bool needsInputGradient;
        private readonly int inputs, outputs, ordinal;
        private readonly bool relu;
        private readonly float dropout;
        private readonly ParameterTensor weight, bias;

        public Device(LayerNetwork network, LayerNetwork.PlannedLayer step, DeviceLayer? previous, bool needsInputGradient)
        {
            this.network = network;
            this.previous = previous;
            this.needsInputGradient = needsInputGradient && previous is not null;
            inputs = (int)step.Layer.Input.Elements;
            outputs = step.Output.Channels;
            ordinal = step.DenseOrdinal;
            relu = step.Relu;
            dropout = step.DropoutRate;
            weight = step.Layer.Parameters[0];
            bias = step.Layer.Parameters[1];
            MasksInputGradient = relu;
            KeepScale = dropout > 0f ? DropoutMask.For(dropout, 0, 0, 0).KeepScale : 1f;
            Output = network.Buffer<float>((long)network.MaxRows * outputs);
            OutputGradient = network.Buffer<float>((long)network.MaxRows * outputs);
        }

        public override void Forward(int rows, ArrayView<float> x, bool training, uint seed, uint step)
        {
            var shape = GemmShape.Plain(rows, outputs, inputs);
            DenseEpilogue epilogue = !relu ? DenseEpilogue.Of(EpilogueMode.Bias)
                : training && dropout > 0f ? DropoutMask.For(dropout, seed, step, (uint)ordinal).Epilogue(EpilogueMode.BiasReluDropout)
                : DenseEpilogue.Of(EpilogueMode.BiasRelu);
            network.Kernels.Gemm(shape, epilogue, x, network.ParameterSlice(weight), Output, network.ParameterSlice(bias), network.Kernels.Unused);
        }

        public override void Backward(int rows, ArrayView<float> x)
        {
            var kernels = network.Kernels;
            // The weight gradient's GEMM and the bias gradient (column sums of the same deltas): one
            // launch on the CPU SIMD kernels, two elsewhere.
            kernels.WeightGradient(GemmShape.TransposedA(inputs, outputs, rows), x, OutputGradient,
                network.GradientSlice(weight), network.GradientSlice(bias));
            if (!needsInputGradient)
                return;
            var shape = GemmShape.TransposedB(rows, inputs, outputs);
            if (previous!.MasksInputGradient)
            {
                var mask = DenseEpilogue.Of(EpilogueMode.ActiveMask);
                mask.KeepScale = previous.KeepScale;
                kernels.Gemm(shape, mask, OutputGradient, network.ParameterSlice(weight), previous.OutputGradient, kernels.Unused, previous.Output);
            }
            else
            {
                kernels.Gemm(shape, DenseEpilogue.Of(EpilogueMode.Store), OutputGradient, network.ParameterSlice(weight),
                    previous.OutputGradient, kernels.Unused, kernels.Unused);
            }
        }
    }
}
