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
/// host synchronisation. Each kind's device layer lives in its spec's file (Training/Layers).
///
/// ReLU and dropout have no launches of their own: they are fused into the layer before them
/// (the dense GEMM's epilogue, the convolution's bias/ReLU epilogue). An MLP stack
/// (dense,relu,dropout,...,dense) therefore runs exactly the launches of the report's MLP, with
/// the dropout mask of dense layer d (0-based among dense layers) drawn for layer id d, so its
/// training is bit-identical to the MLP's.</summary>
public sealed class LayerNetwork : IDisposable
{
    private readonly DeviceKernels kernels;
    private readonly MemoryBuffer1D<float, Stride1D.Dense> parameters;
    private readonly MemoryBuffer1D<float, Stride1D.Dense> gradients;
    private readonly MemoryBuffer1D<float, Stride1D.Dense> state;
    private readonly MemoryBuffer1D<float, Stride1D.Dense> input;
    private readonly MemoryBuffer1D<int, Stride1D.Dense> labels;
    private readonly List<DeviceLayer> layers = [];
    private readonly List<MemoryBuffer> allocated = [];

    /// <exception cref="ArchitectureException">The stack has a layer order the device layers do not
    /// run (see <see cref="Plan"/>).</exception>
    public LayerNetwork(DeviceKernels kernels, Architecture architecture, int maxRows)
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
            state = Allocate<float>(architecture.StateCount);
            input = Allocate<float>((long)maxRows * architecture.Input.Elements);
            labels = Allocate<int>(maxRows);
            DeviceLayer? previous = null;
            bool parametersBefore = false;
            foreach (var step in plan)
            {
                DeviceLayer layer = step.Layer.Spec.CreateDeviceLayer(this, step, previous, parametersBefore);
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
        if (architecture.StateCount > 0)
            state.CopyFromCPU(architecture.InitialState());
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

    /// <summary>The layers' non-trained state (<see cref="Architecture.StateTensors"/>), one flat
    /// buffer beside the parameters that the optimiser never sees.</summary>
    public ArrayView<float> State => state.View.SubView(0, Architecture.StateCount);

    /// <summary>One layer of the device sequence: an architecture layer with parameters or a shape
    /// change (conv, pool2, flatten, dense), and what is fused into it (the relu and dropout that
    /// follow it in the text).</summary>
    public sealed record PlannedLayer(ArchitectureLayer Layer, bool Relu, float DropoutRate, int DenseOrdinal)
    {
        /// <summary>A convolution right before a pool2: its output stays in the GEMM's [B * H * W, C]
        /// rows, which the pool reads, and the pool's backward writes the convolution's dz in the
        /// same rows (DeviceKernels.MaxPool2ForwardNhwc/MaxPool2BackwardNhwc): no layout passes.</summary>
        public bool FeedsPoolAsRows { get; init; }

        /// <summary>The shape of what the fused layer hands on (its last fused module's output).</summary>
        public ActivationShape Output => Layer.Output;
    }

    /// <summary>The device sequence of a stack: each layer with launches of its own (conv, pool2,
    /// flatten, dense, bn) with the relu and dropout after it fused in. These are the only rules that
    /// name layer kinds: relu may follow conv, dense, bn or pool2 (relu after max-pooling equals
    /// max-pooling after relu, so it moves into the convolution feeding the pool); dropout may
    /// follow a dense layer's relu, and draws its mask for the dense layer's ordinal; the stack must
    /// end in a dense layer. A conv right before a pool2 hands it its output as rows
    /// (PlannedLayer.FeedsPoolAsRows).</summary>
    /// <exception cref="ArchitectureException">Any other order.</exception>
    public static IReadOnlyList<PlannedLayer> Plan(Architecture architecture)
    {
        ArgumentNullException.ThrowIfNull(architecture);
        var plan = new List<PlannedLayer>();
        int dense = 0;
        foreach (var layer in architecture.Layers)
        {
            if (!layer.Spec.FusesIntoPrevious)
            {
                plan.Add(new PlannedLayer(layer, false, 0f, layer.Spec is DenseSpec ? dense++ : -1));
                continue;
            }
            switch (layer.Spec)
            {
                case ReluSpec:
                    if (plan.Count == 0 || plan[^1].Relu || plan[^1].Layer.Spec is FlattenSpec)
                        throw Unsupported(architecture, layer, "relu must follow conv, pool2 or dense, or bn (once)");
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
                    // A kind that says it fuses but has no rule here: a programming error, never a fallback.
                    throw Unsupported(architecture, layer, "no fusion rule for this layer kind");
            }
        }
        if (plan[^1].Layer.Spec is not DenseSpec || plan[^1].Relu)
            throw new ArchitectureException("architecture: the stack must end in a dense layer without relu (the class scores, e.g. dense10)");
        for (int i = 0; i + 1 < plan.Count; i++)
        {
            if (plan[i].Layer.Spec is ConvSpec && plan[i + 1].Layer.Spec is MaxPool2Spec)
                plan[i] = plan[i] with { FeedsPoolAsRows = true };
        }
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
            perRow = Math.Max(perRow, layer.Spec.LargestBufferPerRow(layer));
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
            perRow += step.Layer.Spec.DeviceValuesPerRow(step.Layer);
        return sizeof(float) * ((2L * architecture.ParameterCount) + architecture.StateCount + (maxRows * perRow));
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

    /// <summary>Replaces the layers' state (flat, in <see cref="Architecture.StateTensors"/> order).</summary>
    public void SetState(float[] values)
    {
        ArgumentNullException.ThrowIfNull(values);
        if (values.Length != Architecture.StateCount)
            throw new ArgumentException($"expected {Architecture.StateCount} state values, got {values.Length}");
        if (values.Length > 0)
            state.CopyFromCPU(values);
    }

    /// <summary>The layers' state, flat, in <see cref="Architecture.StateTensors"/> order.</summary>
    public float[] GetState() => Architecture.StateCount == 0 ? [] : state.GetAsArray1D();

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
    /// logit gradient when training; <paramref name="labelSmoothing"/> smooths the targets of both
    /// (0: plain cross-entropy).</summary>
    public void Loss(int rows, bool writeGradient, int first, ArrayView<float> loss, ArrayView<int> prediction, float labelSmoothing = 0f)
    {
        CheckRows(rows);
        kernels.SoftmaxCrossEntropy(Logits, Labels, rows, Classes, writeGradient, LogitGradient, first, loss, prediction, labelSmoothing);
    }

    private MemoryBuffer1D<T, Stride1D.Dense> Allocate<T>(long length) where T : unmanaged
    {
        var buffer = kernels.Accelerator.Allocate1D<T>(Math.Max(1, length));
        allocated.Add(buffer);
        // Every buffer starts at zero (the gradients too, before the first backward pass), and every
        // page is touched now: on the CPU accelerator a buffer's pages are otherwise faulted in by
        // the first training steps (the CNN preset's im2col columns alone are 80 MB at batch 128),
        // which made those steps a third slower than the rest.
        buffer.MemSetToZero();
        return buffer;
    }

    /// <summary>A buffer a device layer owns for the network's lifetime.</summary>
    internal ArrayView<T> Buffer<T>(long length) where T : unmanaged => Allocate<T>(length).View;

    /// <summary>The kernels every device layer launches through.</summary>
    internal DeviceKernels Kernels => kernels;

    internal ArrayView<float> ParameterSlice(ParameterTensor tensor) => parameters.View.SubView(tensor.Offset, tensor.Length);
    internal ArrayView<float> GradientSlice(ParameterTensor tensor) => gradients.View.SubView(tensor.Offset, tensor.Length);
    internal ArrayView<float> StateSlice(StateTensor tensor) => state.View.SubView(tensor.Offset, tensor.Length);

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
}

/// <summary>Which product of a dense layer a GEMM computes.</summary>
public enum GemmPass
{
    /// <summary>Z[rows, out] = X[rows, in] * W[in, out], bias/ReLU/dropout in the epilogue.</summary>
    Forward,
    /// <summary>dW[in, out] = X^T * dZ (K = rows).</summary>
    WeightGradient,
    /// <summary>dZ_prev[rows, in] = dZ[rows, out] * W^T, the ReLU'/dropout mask in the epilogue.</summary>
    InputGradient,
}

/// <summary>One GEMM launch of a training step: the dense layer (0-based among dense layers), which
/// product, its problem size and strides, and its epilogue (dropout parameters are filled in per step).</summary>
public readonly record struct GemmLaunch(int Layer, GemmPass Pass, GemmShape Shape, EpilogueMode Mode)
{
    /// <summary>Every GEMM of one training step of an MLP (<see cref="Architecture.MlpWidths"/>) over
    /// <paramref name="rows"/> rows, in the order <see cref="LayerNetwork"/> launches them: each
    /// layer's forward product, then from the last layer back its weight gradient and (but for the
    /// first layer, whose input gradient is never needed) its input gradient.</summary>
    /// <exception cref="ArgumentException">The stack is not an MLP.</exception>
    public static IReadOnlyList<GemmLaunch> StepOf(Architecture mlp, int rows, bool dropout)
    {
        ArgumentNullException.ThrowIfNull(mlp);
        IReadOnlyList<int> widths = mlp.MlpWidths ?? throw new ArgumentException($"{mlp} is not an MLP", nameof(mlp));
        int layers = widths.Count - 1;
        var launches = new List<GemmLaunch>(3 * layers);
        for (int l = 0; l < layers; l++)
        {
            EpilogueMode mode = l == layers - 1 ? EpilogueMode.Bias : dropout ? EpilogueMode.BiasReluDropout : EpilogueMode.BiasRelu;
            launches.Add(new(l, GemmPass.Forward, GemmShape.Plain(rows, widths[l + 1], widths[l]), mode));
        }
        for (int l = layers - 1; l >= 0; l--)
        {
            launches.Add(new(l, GemmPass.WeightGradient, GemmShape.TransposedA(widths[l], widths[l + 1], rows), EpilogueMode.Store));
            if (l > 0)
                launches.Add(new(l, GemmPass.InputGradient, GemmShape.TransposedB(rows, widths[l], widths[l + 1]), EpilogueMode.ActiveMask));
        }
        return launches;
    }
}
