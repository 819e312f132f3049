using GpuMlp.Compute;
using GpuMlp.Kernels;
using ILGPU;
using ILGPU.Runtime;

namespace GpuMlp.Training;

/// <summary>The device-resident MLP: parameters, gradients and activations for up to
/// <see cref="MaxRows"/> rows live on the accelerator for the object's lifetime. A training step
/// is a fixed sequence of kernel launches with no host synchronisation: every GEMM of it is one
/// of <see cref="StepGemms"/>, launched through the layer that owns it. The optimizer state is
/// not here (see <see cref="DeviceOptimizer"/>).</summary>
public sealed class MlpNetwork : IDisposable
{
    private readonly MlpKernels kernels;
    private readonly MemoryBuffer1D<float, Stride1D.Dense> parameters;
    private readonly MemoryBuffer1D<float, Stride1D.Dense> gradients;
    private readonly MemoryBuffer1D<float, Stride1D.Dense> input;
    private readonly MemoryBuffer1D<int, Stride1D.Dense> labels;
    // outputs[l]: layer l's output [rows, out(l)] (post ReLU and dropout for hidden layers,
    // logits for the last); deltas[l]: dLoss/dZ_l, same shape.
    private readonly MemoryBuffer1D<float, Stride1D.Dense>[] outputs;
    private readonly MemoryBuffer1D<float, Stride1D.Dense>[] deltas;
    private readonly List<MemoryBuffer> allocated = [];

    public MlpNetwork(MlpKernels kernels, NetworkShape shape, int maxRows)
    {
        ArgumentNullException.ThrowIfNull(kernels);
        ArgumentNullException.ThrowIfNull(shape);
        if (maxRows < 1)
            throw new ArgumentOutOfRangeException(nameof(maxRows));
        this.kernels = kernels;
        Shape = shape;
        MaxRows = maxRows;
        outputs = new MemoryBuffer1D<float, Stride1D.Dense>[shape.LayerCount];
        deltas = new MemoryBuffer1D<float, Stride1D.Dense>[shape.LayerCount];
        try
        {
            parameters = Allocate<float>(shape.ParameterCount);
            gradients = Allocate<float>(shape.ParameterCount);
            input = Allocate<float>((long)maxRows * shape.Inputs);
            labels = Allocate<int>(maxRows);
            foreach (var layer in shape.Layers)
            {
                outputs[layer.Index] = Allocate<float>((long)maxRows * layer.Outputs);
                deltas[layer.Index] = Allocate<float>((long)maxRows * layer.Outputs);
            }
        }
        catch
        {
            Dispose();
            throw;
        }
        gradients.MemSetToZero();
    }

    /// <summary>Device bytes a network of <paramref name="shape"/> allocates for
    /// <paramref name="maxRows"/> rows: parameters and gradients, the input and labels, and each
    /// layer's output and delta.</summary>
    public static long DeviceBytes(NetworkShape shape, int maxRows)
    {
        ArgumentNullException.ThrowIfNull(shape);
        long perRow = shape.Inputs + 1 + (2L * shape.Layers.Sum(l => (long)l.Outputs));
        return sizeof(float) * ((2L * shape.ParameterCount) + (maxRows * perRow));
    }

    /// <summary>Every GEMM of one training step over <paramref name="rows"/> rows, in launch
    /// order: each layer's forward product, then from the last layer back its weight gradient and
    /// (but for the first layer) its input gradient.</summary>
    public static IReadOnlyList<GemmLaunch> StepGemms(NetworkShape shape, int rows, bool dropout)
    {
        ArgumentNullException.ThrowIfNull(shape);
        var launches = shape.Layers.Select(layer => layer.Forward(rows, dropout)).ToList();
        foreach (var layer in shape.Layers.Reverse())
        {
            launches.Add(layer.WeightGradient(rows));
            if (layer.InputGradient(rows) is GemmLaunch inputGradient)
                launches.Add(inputGradient);
        }
        return launches;
    }

    public NetworkShape Shape { get; }
    public int MaxRows { get; }
    public ArrayView<float> Input => input.View;
    public ArrayView<int> Labels => labels.View;
    public ArrayView<float> Logits => outputs[^1].View;
    public ArrayView<float> LogitGradient => deltas[^1].View;
    public ArrayView<float> Parameters => parameters.View;
    public ArrayView<float> Gradients => gradients.View;

    public void SetParameters(float[] values)
    {
        ArgumentNullException.ThrowIfNull(values);
        if (values.Length != Shape.ParameterCount)
            throw new ArgumentException($"expected {Shape.ParameterCount} parameters, got {values.Length}");
        parameters.CopyFromCPU(values);
    }

    public float[] GetParameters() => parameters.GetAsArray1D();
    public float[] GetGradients() => gradients.GetAsArray1D();

    /// <summary>Forward pass over the first `rows` rows of <see cref="Input"/>. With a dropout
    /// rate above 0, hidden outputs are masked with the (seed, step, layer) mask.</summary>
    public void Forward(int rows, float dropout, uint seed, uint step)
    {
        CheckRows(rows);
        foreach (var layer in Shape.Layers)
        {
            var launch = layer.Forward(rows, dropout > 0f);
            var epilogue = launch.Mode == EpilogueMode.BiasReluDropout
                ? DropoutMask.For(dropout, seed, step, (uint)layer.Index).Epilogue(launch.Mode)
                : DenseEpilogue.Of(launch.Mode);
            Launch(launch, epilogue);
        }
    }

    /// <summary>Backward pass from <see cref="LogitGradient"/> (already divided by the batch
    /// size); OVERWRITES every parameter gradient. The first layer's input gradient is never
    /// needed and is not computed.</summary>
    public void Backward(int rows, float dropout)
    {
        CheckRows(rows);
        float keepScale = dropout > 0f ? DropoutMask.For(dropout, 0, 0, 0).KeepScale : 1f;
        foreach (var layer in Shape.Layers.Reverse())
        {
            // The weight gradient's GEMM and the bias gradient (column sums of the same deltas): one
            // launch on the CPU SIMD kernels, two elsewhere.
            var weightGradient = layer.WeightGradient(rows);
            kernels.WeightGradient(weightGradient.Shape, LayerInput(layer.Index), deltas[layer.Index].View,
                WeightGradient(layer), BiasGradient(layer));
            if (layer.InputGradient(rows) is GemmLaunch inputGradient)
            {
                var mask = DenseEpilogue.Of(inputGradient.Mode);
                mask.KeepScale = keepScale;
                Launch(inputGradient, mask);
            }
        }
    }

    /// <summary>Per-row loss and prediction into loss[first..] / prediction[first..], and the
    /// logit gradient when training.</summary>
    public void Loss(int rows, bool writeGradient, int first, ArrayView<float> loss, ArrayView<int> prediction)
    {
        CheckRows(rows);
        kernels.SoftmaxCrossEntropy(Logits, Labels, rows, Shape.Classes, writeGradient, LogitGradient,
            first, loss, prediction);
    }

    /// <summary>Binds a launch's operands to this network's buffers (see GemmPass for the products).</summary>
    private void Launch(GemmLaunch launch, DenseEpilogue epilogue)
    {
        var layer = Shape.Layers[launch.Layer];
        int l = layer.Index;
        switch (launch.Pass)
        {
            case GemmPass.Forward:
                kernels.Gemm(launch.Shape, epilogue, LayerInput(l), Weights(layer), outputs[l].View, Bias(layer), kernels.Unused);
                break;
            case GemmPass.WeightGradient:
                kernels.Gemm(launch.Shape, epilogue, LayerInput(l), deltas[l].View, WeightGradient(layer), kernels.Unused, kernels.Unused);
                break;
            default:
                kernels.Gemm(launch.Shape, epilogue, deltas[l].View, Weights(layer), deltas[l - 1].View, kernels.Unused, outputs[l - 1].View);
                break;
        }
    }

    private ArrayView<float> Weights(DenseLayerSpec layer) =>
        parameters.View.SubView(layer.WeightOffset, (long)layer.Inputs * layer.Outputs);
    private ArrayView<float> Bias(DenseLayerSpec layer) => parameters.View.SubView(layer.BiasOffset, layer.Outputs);
    private ArrayView<float> WeightGradient(DenseLayerSpec layer) =>
        gradients.View.SubView(layer.WeightOffset, (long)layer.Inputs * layer.Outputs);
    private ArrayView<float> BiasGradient(DenseLayerSpec layer) => gradients.View.SubView(layer.BiasOffset, layer.Outputs);
    private ArrayView<float> LayerInput(int layer) => layer == 0 ? input.View : outputs[layer - 1].View;

    private MemoryBuffer1D<T, Stride1D.Dense> Allocate<T>(long length) where T : unmanaged
    {
        var buffer = kernels.Accelerator.Allocate1D<T>(length);
        allocated.Add(buffer);
        return buffer;
    }

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
