using System.Globalization;
using GpuMlp.Compute;
using GpuMlp.Kernels;
using ILGPU;
using ILGPU.Runtime;

namespace GpuMlp.Training;

/// <summary>A device-resident network built from an <see cref="Architecture"/>: a sequence of
/// device layers, each owning its kernels' launches, its activation buffers and its slice of the
/// one flat parameter (and gradient) buffer, so the optimiser still updates everything in one
/// launch. Parameters, gradients and activations for up to <see cref="MaxRows"/> rows live on the
/// accelerator for the object's lifetime; a training step is a fixed sequence of launches with no
/// host synchronisation.
///
/// ReLU and dropout have no launches of their own: they are fused into the layer before them
/// (the dense GEMM's epilogue, the convolution's bias/ReLU epilogue). An MLP stack
/// (dense,relu,dropout,...,dense) therefore runs exactly the launches of the report's MLP, with
/// the dropout mask of dense layer d (0-based among dense layers) drawn for layer id d, so its
/// training is bit-identical to the MLP's.</summary>
public sealed class LayerNetwork : IDisposable
{
    private readonly MlpKernels kernels;
    private readonly MemoryBuffer1D<float, Stride1D.Dense> parameters;
    private readonly MemoryBuffer1D<float, Stride1D.Dense> gradients;
    private readonly MemoryBuffer1D<float, Stride1D.Dense> input;
    private readonly MemoryBuffer1D<int, Stride1D.Dense> labels;
    private readonly List<DeviceLayer> layers = [];
    private readonly List<MemoryBuffer> allocated = [];

    /// <exception cref="ArchitectureException">The stack has a layer order the device layers do not
    /// run (see <see cref="Plan"/>).</exception>
    public LayerNetwork(MlpKernels kernels, Architecture architecture, int maxRows)
    {
        ArgumentNullException.ThrowIfNull(kernels);
        ArgumentNullException.ThrowIfNull(architecture);
        if (maxRows < 1)
            throw new ArgumentOutOfRangeException(nameof(maxRows));
        var plan = Plan(architecture);
        CheckRowLimit(architecture, maxRows);
        this.kernels = kernels;
        Architecture = architecture;
        MaxRows = maxRows;
        try
        {
            parameters = Allocate<float>(architecture.ParameterCount);
            gradients = Allocate<float>(architecture.ParameterCount);
            input = Allocate<float>((long)maxRows * architecture.Input.Elements);
            labels = Allocate<int>(maxRows);
            DeviceLayer? previous = null;
            bool parametersBefore = false;
            foreach (var step in plan)
            {
                DeviceLayer layer = step.Layer.Spec switch
                {
                    ConvSpec => new ConvLayer(this, step, previous, parametersBefore),
                    MaxPool2Spec => new PoolLayer(this, step, previous, parametersBefore),
                    FlattenSpec => new FlattenLayer(step, previous),
                    _ => new DenseLayer(this, step, previous, parametersBefore),
                };
                layers.Add(layer);
                parametersBefore |= step.Layer.Parameters.Count > 0;
                previous = layer;
            }
            if (architecture.HasConvolution)
                kernels.LoadConvolution();
        }
        catch
        {
            Dispose();
            throw;
        }
        gradients.MemSetToZero();
    }

    public Architecture Architecture { get; }
    public int MaxRows { get; }

    /// <summary>Values per sample of the input (784 for MNIST, as a vector or a 1x28x28 map).</summary>
    public int Inputs => (int)Architecture.Input.Elements;
    public int Classes => Architecture.Classes;
    public int ParameterCount => Architecture.ParameterCount;
    public ArrayView<float> Input => input.View;
    public ArrayView<int> Labels => labels.View;
    public ArrayView<float> Logits => layers[^1].Output;
    public ArrayView<float> LogitGradient => layers[^1].OutputGradient;
    public ArrayView<float> Parameters => parameters.View;
    public ArrayView<float> Gradients => gradients.View;

    /// <summary>One layer of the device sequence: an architecture layer with parameters or a shape
    /// change (conv, pool2, flatten, dense), and what is fused into it (the relu and dropout that
    /// follow it in the text).</summary>
    public sealed record PlannedLayer(ArchitectureLayer Layer, bool Relu, float DropoutRate, int DenseOrdinal)
    {
        /// <summary>The shape of what the fused layer hands on (its last fused module's output).</summary>
        public ActivationShape Output => Layer.Output;
    }

    /// <summary>The device sequence of a stack: each conv, pool2, flatten and dense layer with the
    /// relu and dropout after it fused in. relu may follow conv, dense, or pool2 (relu after
    /// max-pooling equals max-pooling after relu, so it moves into the convolution feeding the
    /// pool); dropout may follow a dense layer's relu; the stack must end in a dense layer.</summary>
    /// <exception cref="ArchitectureException">Any other order.</exception>
    public static IReadOnlyList<PlannedLayer> Plan(Architecture architecture)
    {
        ArgumentNullException.ThrowIfNull(architecture);
        var plan = new List<PlannedLayer>();
        int dense = 0;
        foreach (var layer in architecture.Layers)
        {
            switch (layer.Spec)
            {
                case ConvSpec or MaxPool2Spec or FlattenSpec:
                    plan.Add(new PlannedLayer(layer, false, 0f, -1));
                    break;
                case DenseSpec:
                    plan.Add(new PlannedLayer(layer, false, 0f, dense++));
                    break;
                case ReluSpec:
                    if (plan.Count == 0 || plan[^1].Relu || plan[^1].Layer.Spec is FlattenSpec)
                        throw Unsupported(architecture, layer, "relu must follow conv, pool2 or dense (once)");
                    if (plan[^1].Layer.Spec is MaxPool2Spec)
                    {
                        // relu(maxpool(x)) = maxpool(relu(x)): fuse into the convolution before the pool.
                        int conv = plan.Count - 2;
                        if (conv < 0 || plan[conv].Layer.Spec is not ConvSpec)
                            throw Unsupported(architecture, layer, "relu after pool2 needs a conv right before the pool");
                        if (!plan[conv].Relu)
                            plan[conv] = plan[conv] with { Relu = true };
                        plan[^1] = plan[^1] with { Relu = true };
                    }
                    else
                    {
                        plan[^1] = plan[^1] with { Relu = true };
                    }
                    break;
                case DropoutSpec dropout:
                    if (plan.Count == 0 || plan[^1].Layer.Spec is not DenseSpec || !plan[^1].Relu || plan[^1].DropoutRate > 0f)
                        throw Unsupported(architecture, layer, "dropout must follow a dense layer's relu (dense<n>,relu,dropout<p>)");
                    plan[^1] = plan[^1] with { DropoutRate = dropout.Rate };
                    break;
                default:
                    throw Unsupported(architecture, layer, "unknown layer");
            }
        }
        if (plan[^1].Layer.Spec is not DenseSpec || plan[^1].Relu)
            throw new ArchitectureException("architecture: the stack must end in a dense layer without relu (the class scores, e.g. dense10)");
        return plan;
    }

    private static ArchitectureException Unsupported(Architecture architecture, ArchitectureLayer layer, string rule) =>
        new(string.Create(CultureInfo.InvariantCulture,
            $"architecture: layer {layer.Index + 1} of {architecture.Layers.Count} ({layer.Spec.Token}): {rule}"));

    /// <summary>The largest batch whose every buffer stays within int indexing (the convolution's
    /// im2col columns are the largest: rows x H'W' x C KH KW).</summary>
    public static int MaxRowsFor(Architecture architecture)
    {
        ArgumentNullException.ThrowIfNull(architecture);
        long perRow = architecture.Input.Elements;
        foreach (var layer in architecture.Layers)
        {
            perRow = Math.Max(perRow, layer.Output.Elements);
            if (layer.Spec is ConvSpec conv)
                perRow = Math.Max(perRow, (long)layer.Output.Height * layer.Output.Width * layer.Input.Channels * conv.KernelH * conv.KernelW);
        }
        return (int)Math.Min(int.MaxValue, int.MaxValue / perRow);
    }

    private static void CheckRowLimit(Architecture architecture, int maxRows)
    {
        int limit = MaxRowsFor(architecture);
        if (maxRows > limit)
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture,
                $"{maxRows} rows per launch exceed this architecture's limit of {limit} (a buffer would pass {int.MaxValue} values)"));
    }

    /// <summary>Device bytes a network of <paramref name="architecture"/> allocates for
    /// <paramref name="maxRows"/> rows: parameters and gradients, the input and labels, and each
    /// layer's buffers.</summary>
    public static long DeviceBytes(Architecture architecture, int maxRows)
    {
        ArgumentNullException.ThrowIfNull(architecture);
        long perRow = architecture.Input.Elements + 1;
        foreach (var step in Plan(architecture))
        {
            long output = step.Output.Elements;
            perRow += step.Layer.Spec switch
            {
                // cols, nhwc (also the output gradient), y, dz, bias partials
                ConvSpec conv => ((long)step.Output.Height * step.Output.Width * step.Layer.Input.Channels * conv.KernelH * conv.KernelW)
                    + (3 * output) + step.Output.Channels,
                MaxPool2Spec => 3 * output,
                FlattenSpec => 0,
                _ => 2 * output,
            };
        }
        return sizeof(float) * ((2L * architecture.ParameterCount) + (maxRows * perRow));
    }

    public void SetParameters(float[] values)
    {
        ArgumentNullException.ThrowIfNull(values);
        if (values.Length != ParameterCount)
            throw new ArgumentException($"expected {ParameterCount} parameters, got {values.Length}");
        parameters.CopyFromCPU(values);
    }

    public float[] GetParameters() => parameters.GetAsArray1D();
    public float[] GetGradients() => gradients.GetAsArray1D();

    /// <summary>Forward pass over the first `rows` rows of <see cref="Input"/>. When training, each
    /// dropout layer masks with the (seed, step, dense layer) mask; otherwise no dropout.</summary>
    public void Forward(int rows, bool training, uint seed, uint step)
    {
        CheckRows(rows);
        var x = input.View;
        foreach (var layer in layers)
        {
            layer.Forward(rows, x, training, seed, step);
            x = layer.Output;
        }
    }

    /// <summary>Backward pass of a training forward pass from <see cref="LogitGradient"/> (already
    /// divided by the batch size); OVERWRITES every parameter gradient. Gradients of the input and
    /// of layers before the first layer with parameters are never needed and are not computed.</summary>
    public void Backward(int rows)
    {
        CheckRows(rows);
        for (int i = layers.Count - 1; i >= 0; i--)
            layers[i].Backward(rows, i == 0 ? input.View : layers[i - 1].Output);
    }

    /// <summary>Per-row loss and prediction into loss[first..] / prediction[first..], and the
    /// logit gradient when training.</summary>
    public void Loss(int rows, bool writeGradient, int first, ArrayView<float> loss, ArrayView<int> prediction)
    {
        CheckRows(rows);
        kernels.SoftmaxCrossEntropy(Logits, Labels, rows, Classes, writeGradient, LogitGradient, first, loss, prediction);
    }

    private MemoryBuffer1D<T, Stride1D.Dense> Allocate<T>(long length) where T : unmanaged
    {
        var buffer = kernels.Accelerator.Allocate1D<T>(Math.Max(1, length));
        allocated.Add(buffer);
        return buffer;
    }

    private ArrayView<float> ParameterSlice(ParameterTensor tensor) => parameters.View.SubView(tensor.Offset, tensor.Length);
    private ArrayView<float> GradientSlice(ParameterTensor tensor) => gradients.View.SubView(tensor.Offset, tensor.Length);

    private void CheckRows(int rows)
    {
        if (rows < 1 || rows > MaxRows)
            throw new ArgumentOutOfRangeException(nameof(rows), rows, $"rows must be in 1..{MaxRows}");
    }

    public void Dispose()
    {
        foreach (var buffer in allocated)
            buffer.Dispose();
        allocated.Clear();
    }

    /// <summary>One device layer. Output: [rows, output elements] (NCHW for maps). OutputGradient:
    /// where the next layer's backward writes dLoss/d(Output) — for a dense layer with relu,
    /// dLoss/dZ (its writer applies the ReLU'/dropout mask, as the MLP always has).</summary>
    private abstract class DeviceLayer
    {
        public ArrayView<float> Output { get; protected set; }
        public ArrayView<float> OutputGradient { get; protected set; }

        /// <summary>True when the output is a dense layer's masked activation (relu, maybe dropout),
        /// so the next dense layer's input gradient applies the mask in its epilogue.</summary>
        public bool MasksInputGradient { get; protected init; }

        /// <summary>1/(1-p) of the dropout fused into this layer (1 without).</summary>
        public float KeepScale { get; protected init; } = 1f;

        public abstract void Forward(int rows, ArrayView<float> x, bool training, uint seed, uint step);

        /// <summary>Parameter gradients (overwritten) and, when needed, the previous layer's
        /// OutputGradient; x is this layer's forward input.</summary>
        public abstract void Backward(int rows, ArrayView<float> x);
    }

    /// <summary>dense{out}[,relu[,dropout{p}]]: Z = X W + b through the GEMM epilogue (W stored
    /// [in, out] at the weight tensor's offset).</summary>
    private sealed class DenseLayer : DeviceLayer
    {
        private readonly LayerNetwork network;
        private readonly DeviceLayer? previous;
        private readonly bool needsInputGradient;
        private readonly int inputs, outputs, ordinal;
        private readonly bool relu;
        private readonly float dropout;
        private readonly ParameterTensor weight, bias;

        public DenseLayer(LayerNetwork network, PlannedLayer step, DeviceLayer? previous, bool needsInputGradient)
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
            Output = network.Allocate<float>((long)network.MaxRows * outputs).View;
            OutputGradient = network.Allocate<float>((long)network.MaxRows * outputs).View;
        }

        public override void Forward(int rows, ArrayView<float> x, bool training, uint seed, uint step)
        {
            var shape = GemmShape.Plain(rows, outputs, inputs);
            DenseEpilogue epilogue = !relu ? DenseEpilogue.Of(EpilogueMode.Bias)
                : training && dropout > 0f ? DropoutMask.For(dropout, seed, step, (uint)ordinal).Epilogue(EpilogueMode.BiasReluDropout)
                : DenseEpilogue.Of(EpilogueMode.BiasRelu);
            network.kernels.Gemm(shape, epilogue, x, network.ParameterSlice(weight), Output, network.ParameterSlice(bias), network.kernels.Unused);
        }

        public override void Backward(int rows, ArrayView<float> x)
        {
            var kernels = network.kernels;
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

    /// <summary>conv{kh}x{kw}x{out}[p{pad}][,relu]: im2col + one GEMM (MlpKernels.ConvForward).
    /// Owns cols (the forward's im2col, reused as the input gradient's scratch), nhwc (forward
    /// scratch, then the output gradient dy: both are [rows, O] values), y, dz and bias partials.</summary>
    private sealed class ConvLayer : DeviceLayer
    {
        private readonly LayerNetwork network;
        private readonly DeviceLayer? previous;
        private readonly bool needsInputGradient, relu;
        private readonly ConvSpec spec;
        private readonly ActivationShape inputShape;
        private readonly ParameterTensor weight, bias;
        private readonly ArrayView<float> cols, dz, biasPartials;

        public ConvLayer(LayerNetwork network, PlannedLayer step, DeviceLayer? previous, bool needsInputGradient)
        {
            this.network = network;
            this.previous = previous;
            this.needsInputGradient = needsInputGradient && previous is not null;
            relu = step.Relu;
            spec = (ConvSpec)step.Layer.Spec;
            inputShape = step.Layer.Input;
            weight = step.Layer.Parameters[0];
            bias = step.Layer.Parameters[1];
            var full = Shape(network.MaxRows);
            cols = network.Allocate<float>(full.ColumnsLength).View;
            OutputGradient = network.Allocate<float>(full.OutputLength).View;
            Output = network.Allocate<float>(full.OutputLength).View;
            dz = network.Allocate<float>(full.OutputLength).View;
            biasPartials = network.Allocate<float>((long)full.Batch * full.OutChannels).View;
        }

        private ConvShape Shape(int rows) => new(rows, inputShape.Channels, inputShape.Height, inputShape.Width,
            spec.OutChannels, spec.KernelH, spec.KernelW, spec.Padding);

        public override void Forward(int rows, ArrayView<float> x, bool training, uint seed, uint step) =>
            network.kernels.ConvForward(Shape(rows), relu, x, network.ParameterSlice(weight), network.ParameterSlice(bias),
                cols, OutputGradient, Output);

        public override void Backward(int rows, ArrayView<float> x)
        {
            var shape = Shape(rows);
            network.kernels.ConvParameterGradients(shape, relu, OutputGradient, Output, cols, dz, biasPartials,
                network.GradientSlice(weight), network.GradientSlice(bias));
            if (needsInputGradient)
                network.kernels.ConvInputGradient(shape, dz, network.ParameterSlice(weight), cols, previous!.OutputGradient);
        }
    }

    /// <summary>pool2: 2x2 max-pooling; owns y, argmax and the output gradient.</summary>
    private sealed class PoolLayer : DeviceLayer
    {
        private readonly LayerNetwork network;
        private readonly DeviceLayer? previous;
        private readonly bool needsInputGradient;
        private readonly ActivationShape inputShape;
        private readonly ArrayView<int> argmax;

        public PoolLayer(LayerNetwork network, PlannedLayer step, DeviceLayer? previous, bool needsInputGradient)
        {
            this.network = network;
            this.previous = previous;
            this.needsInputGradient = needsInputGradient && previous is not null;
            inputShape = step.Layer.Input;
            var full = Shape(network.MaxRows);
            Output = network.Allocate<float>(full.OutputLength).View;
            OutputGradient = network.Allocate<float>(full.OutputLength).View;
            argmax = network.Allocate<int>(full.OutputLength).View;
        }

        private PoolShape Shape(int rows) => new(rows, inputShape.Channels, inputShape.Height, inputShape.Width);

        public override void Forward(int rows, ArrayView<float> x, bool training, uint seed, uint step) =>
            network.kernels.MaxPool2Forward(Shape(rows), x, Output, argmax);

        public override void Backward(int rows, ArrayView<float> x)
        {
            if (needsInputGradient)
                network.kernels.MaxPool2Backward(Shape(rows), OutputGradient, argmax, previous!.OutputGradient);
        }
    }

    /// <summary>flatten: no launch; the NCHW map is already [rows, C*H*W] row-major, so its output
    /// and output gradient are the previous layer's (or the input's) buffers.</summary>
    private sealed class FlattenLayer : DeviceLayer
    {
        private readonly bool hasPrevious;

        public FlattenLayer(PlannedLayer step, DeviceLayer? previous)
        {
            _ = step;
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
