using System.Globalization;
using System.Text.RegularExpressions;
using GpuMlp.Compute;
using GpuMlp.Export;
using GpuMlp.Kernels;
using GpuMlp.Models;
using ILGPU;

namespace GpuMlp.Training;

/// <summary>nn.Conv2d(C, OutChannels, (KernelH, KernelW), stride 1, padding=Padding): zero padding
/// on all four sides. Text: conv{KernelH}x{KernelW}x{OutChannels}[p{Padding}]. Input C x H x W,
/// output OutChannels x (H + 2P - KH + 1) x (W + 2P - KW + 1); weight [O, C, KH, KW], bias [O].</summary>
public sealed partial record ConvSpec(int OutChannels, int KernelH, int KernelW, int Padding) : LayerSpec
{
    private const int MaxChannels = 1 << 16;
    private const int MaxKernel = 64;
    private const string Form = "conv<kh>x<kw>x<out>[p<pad>]";

    internal static LayerKind Kind { get; } = new(Form, TryParse);

    public override string Token => string.Create(CultureInfo.InvariantCulture,
        $"conv{KernelH}x{KernelW}x{OutChannels}{(Padding > 0 ? $"p{Padding}" : "")}");

    public override bool TakesMap => true;

    public override bool UsesConvolutionKernels => true;

    private static ConvSpec? TryParse(string lower, string quoted)
    {
        Match match = Pattern().Match(lower);
        if (match.Success)
        {
            int kernelH = Number(match.Groups[1].Value, 1, MaxKernel, quoted, "kernel height");
            int kernelW = Number(match.Groups[2].Value, 1, MaxKernel, quoted, "kernel width");
            int outChannels = Number(match.Groups[3].Value, 1, MaxChannels, quoted, "output channels");
            int padding = match.Groups[4].Success
                ? Number(match.Groups[4].Value, 0, Math.Min(kernelH, kernelW) - 1, quoted, "padding")
                : 0;
            return new ConvSpec(outChannels, kernelH, kernelW, padding);
        }
        if (lower.StartsWith("conv", StringComparison.Ordinal))
            throw new ArchitectureException($"architecture: {quoted}: expected {Form}, e.g. conv5x5x32p2");
        return null;
    }

    public override ActivationShape OutputShape(ActivationShape input, int index)
    {
        if (OutChannels < 1 || KernelH < 1 || KernelW < 1)
            throw Invalid(index, "channels and kernel sizes must be positive");
        if (!input.IsMap)
            throw Invalid(index, $"a convolution needs a CxHxW map, but its input is a vector of {input.Channels}");
        if (Padding >= KernelH || Padding >= KernelW || Padding < 0)
            throw Invalid(index, "the padding must be below the kernel size");
        int outH = input.Height + (2 * Padding) - KernelH + 1;
        int outW = input.Width + (2 * Padding) - KernelW + 1;
        if (outH < 1 || outW < 1)
        {
            throw Invalid(index, string.Create(CultureInfo.InvariantCulture,
                $"a {KernelH}x{KernelW} kernel with padding {Padding} does not fit its {input} input"));
        }
        if ((long)OutChannels * outH * outW > int.MaxValue)
            throw Invalid(index, $"its output {OutChannels}x{outH}x{outW} exceeds {int.MaxValue} values per sample");
        return ActivationShape.Map(OutChannels, outH, outW);
    }

    public override IReadOnlyList<ParameterTensor> Parameters(int index, ActivationShape input)
    {
        int fanIn = checked(input.Channels * KernelH * KernelW);
        return
        [
            new ParameterTensor(Architecture.WeightName(index), [OutChannels, input.Channels, KernelH, KernelW], 0, false, fanIn),
            new ParameterTensor(Architecture.BiasName(index), [OutChannels], 0, false, fanIn),
        ];
    }

    public override string PyTorchModule(ActivationShape input) => string.Create(CultureInfo.InvariantCulture,
        $"nn.Conv2d({input.Channels}, {OutChannels}, kernel_size=({KernelH}, {KernelW}), padding={Padding})");

    public override LayerDescription Describe(ArchitectureLayer layer, IReadOnlyDictionary<string, SafeTensor> tensors)
    {
        string weight = layer.Parameters[0].Name, bias = layer.Parameters[1].Name;
        return new LayerDescription.Conv2d(weight, bias, layer.Input.Channels, OutChannels, KernelH, KernelW, Padding,
            tensors[weight].Data, tensors[bias].Data);
    }

    /// <summary>The im2col columns: rows x H'W' x C KH KW, the network's largest buffer.</summary>
    public override long LargestBufferPerRow(ArchitectureLayer layer) =>
        Math.Max(layer.Output.Elements, Columns(layer));

    /// <summary>cols, nhwc (also the output gradient), y, dz, bias partials (feeding a pool2 as rows it
    /// needs one output-sized buffer less: this is the larger count).</summary>
    public override long DeviceValuesPerRow(ArchitectureLayer layer) =>
        Columns(layer) + (3 * layer.Output.Elements) + layer.Output.Channels;

    private long Columns(ArchitectureLayer layer) =>
        (long)layer.Output.Height * layer.Output.Width * layer.Input.Channels * KernelH * KernelW;

    internal override DeviceLayer CreateDeviceLayer(LayerNetwork network, LayerNetwork.PlannedLayer step, DeviceLayer? previous, bool needsInputGradient) =>
        new Device(network, step, previous, needsInputGradient);

    [GeneratedRegex(@"^conv([0-9]+)x([0-9]+)x([0-9]+)(?:p([0-9]+))?$", RegexOptions.CultureInvariant)]
    private static partial Regex Pattern();

    /// <summary>conv{kh}x{kw}x{out}[p{pad}][,relu]: im2col + one GEMM (DeviceKernels.ConvForward).
    /// Owns cols (the forward's im2col, reused as the input gradient's scratch), dz, bias partials
    /// and the weight gradient's scratch, and either nhwc (forward scratch, then the output gradient dy: both are [rows, O]
    /// values) and y, or, feeding a pool2 as rows, the rows (its output) with dz as its output
    /// gradient, which the pool's backward writes with the bias partials.</summary>
    private sealed class Device : DeviceLayer
    {
        private readonly LayerNetwork network;
        private readonly DeviceLayer? previous;
        private readonly bool needsInputGradient, relu, feedsPoolAsRows;
        private readonly ConvSpec spec;
        private readonly ActivationShape inputShape;
        private readonly ParameterTensor weight, bias;
        private readonly ArrayView<float> cols, dz, biasPartials;

        public Device(LayerNetwork network, LayerNetwork.PlannedLayer step, DeviceLayer? previous, bool needsInputGradient)
        {
            this.network = network;
            this.previous = previous;
            this.needsInputGradient = needsInputGradient && previous is not null;
            relu = step.Relu;
            feedsPoolAsRows = step.FeedsPoolAsRows;
            spec = (ConvSpec)step.Layer.Spec;
            inputShape = step.Layer.Input;
            weight = step.Layer.Parameters[0];
            bias = step.Layer.Parameters[1];
            var full = Shape(network.MaxRows);
            cols = network.Buffer<float>(full.ColumnsLength);
            dz = network.Buffer<float>(full.OutputLength);
            biasPartials = network.Buffer<float>((long)full.Batch * full.OutChannels);
            Output = network.Buffer<float>(full.OutputLength);
            if (feedsPoolAsRows)
            {
                OutputGradient = dz;
                var pooled = PoolShape(network.MaxRows);
                PoolRows = new PoolRowsHandoff(relu, biasPartials, network.Buffer<float>(pooled.OutputLength),
                    network.Buffer<int>(pooled.OutputLength));
            }
            else
            {
                OutputGradient = network.Buffer<float>(full.OutputLength);
            }
        }

        private ConvShape Shape(int rows) => new(rows, inputShape.Channels, inputShape.Height, inputShape.Width,
            spec.OutChannels, spec.KernelH, spec.KernelW, spec.Padding);

        /// <summary>The pool2 after this convolution: its output as the pool's input.</summary>
        private PoolShape PoolShape(int rows)
        {
            var shape = Shape(rows);
            return new PoolShape(rows, shape.OutChannels, shape.OutH, shape.OutW);
        }

        public override void Forward(int rows, ArrayView<float> x, bool training, uint seed, uint step)
        {
            DeviceKernels kernels = network.Kernels;
            ArrayView<float> weights = network.ParameterSlice(weight), biases = network.ParameterSlice(bias);
            if (feedsPoolAsRows)
                kernels.ConvPoolForward(Shape(rows), relu, x, weights, biases, cols, Output, PoolRows!.Pooled, PoolRows.Argmax);
            else
                kernels.ConvForward(Shape(rows), relu, x, weights, biases, cols, OutputGradient, Output);
        }

        public override void Backward(int rows, ArrayView<float> x)
        {
            var shape = Shape(rows);
            DeviceKernels kernels = network.Kernels;
            if (feedsPoolAsRows)
            {
                kernels.ConvParameterGradientsFromDz(shape, dz, biasPartials, x, cols,
                    network.GradientSlice(weight), network.GradientSlice(bias));
            }
            else
            {
                kernels.ConvParameterGradients(shape, relu, OutputGradient, Output, x, cols, dz, biasPartials,
                    network.GradientSlice(weight), network.GradientSlice(bias));
            }
            if (needsInputGradient)
                kernels.ConvInputGradient(shape, dz, network.ParameterSlice(weight), cols, previous!.OutputGradient);
        }
    }
}
