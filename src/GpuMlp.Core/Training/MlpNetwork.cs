using GpuMlp.Compute;
using GpuMlp.Kernels;
using ILGPU;
using ILGPU.Runtime;

namespace GpuMlp.Training;

/// <summary>The device-resident MLP: parameters, gradients, Adam moments and activations for up
/// to <see cref="MaxRows"/> rows live on the accelerator for the object's lifetime. A training
/// step is a fixed sequence of kernel launches with no host synchronisation.</summary>
public sealed class MlpNetwork : IDisposable
{
    private readonly MlpKernels kernels;
    private readonly MemoryBuffer1D<float, Stride1D.Dense> parameters;
    private readonly MemoryBuffer1D<float, Stride1D.Dense> gradients;
    private readonly MemoryBuffer1D<float, Stride1D.Dense> firstMoment;
    private readonly MemoryBuffer1D<float, Stride1D.Dense> secondMoment;
    private readonly MemoryBuffer1D<float, Stride1D.Dense> input;
    private readonly MemoryBuffer1D<int, Stride1D.Dense> labels;
    // outputs[l]: layer l's output [rows, out(l)] (post ReLU and dropout for hidden layers,
    // logits for the last); deltas[l]: dLoss/dZ_l, same shape.
    private readonly MemoryBuffer1D<float, Stride1D.Dense>[] outputs;
    private readonly MemoryBuffer1D<float, Stride1D.Dense>[] deltas;

    public MlpNetwork(MlpKernels kernels, NetworkShape shape, int maxRows)
    {
        if (maxRows < 1)
            throw new ArgumentOutOfRangeException(nameof(maxRows));
        this.kernels = kernels;
        Shape = shape;
        MaxRows = maxRows;
        var accelerator = kernels.Accelerator;
        parameters = accelerator.Allocate1D<float>(shape.ParameterCount);
        gradients = accelerator.Allocate1D<float>(shape.ParameterCount);
        firstMoment = accelerator.Allocate1D<float>(shape.ParameterCount);
        secondMoment = accelerator.Allocate1D<float>(shape.ParameterCount);
        input = accelerator.Allocate1D<float>((long)maxRows * shape.Inputs);
        labels = accelerator.Allocate1D<int>(maxRows);
        outputs = new MemoryBuffer1D<float, Stride1D.Dense>[shape.LayerCount];
        deltas = new MemoryBuffer1D<float, Stride1D.Dense>[shape.LayerCount];
        for (int l = 0; l < shape.LayerCount; l++)
        {
            outputs[l] = accelerator.Allocate1D<float>((long)maxRows * shape.Out(l));
            deltas[l] = accelerator.Allocate1D<float>((long)maxRows * shape.Out(l));
        }
        firstMoment.MemSetToZero();
        secondMoment.MemSetToZero();
        gradients.MemSetToZero();
    }

    public NetworkShape Shape { get; }
    public int MaxRows { get; }
    public ArrayView<float> Input => input.View;
    public ArrayView<int> Labels => labels.View;
    public ArrayView<float> Logits => outputs[^1].View;
    public ArrayView<float> LogitGradient => deltas[^1].View;
    public ArrayView<float> Parameters => parameters.View;
    public ArrayView<float> Gradients => gradients.View;

    /// <summary>Adam steps taken so far (the t of the bias corrections).</summary>
    public long AdamSteps { get; private set; }

    public void SetParameters(float[] values)
    {
        if (values.Length != Shape.ParameterCount)
            throw new ArgumentException($"expected {Shape.ParameterCount} parameters, got {values.Length}");
        parameters.CopyFromCPU(values);
    }

    public float[] GetParameters() => parameters.GetAsArray1D();
    public float[] GetGradients() => gradients.GetAsArray1D();
    public (float[] First, float[] Second) GetMoments() => (firstMoment.GetAsArray1D(), secondMoment.GetAsArray1D());

    public void SetOptimizerState(float[] first, float[] second, long steps)
    {
        firstMoment.CopyFromCPU(first);
        secondMoment.CopyFromCPU(second);
        AdamSteps = steps;
    }

    private ArrayView<float> Weights(int layer) =>
        parameters.View.SubView(Shape.WeightOffsets[layer], (long)Shape.In(layer) * Shape.Out(layer));
    private ArrayView<float> Bias(int layer) => parameters.View.SubView(Shape.BiasOffsets[layer], Shape.Out(layer));
    private ArrayView<float> WeightGradient(int layer) =>
        gradients.View.SubView(Shape.WeightOffsets[layer], (long)Shape.In(layer) * Shape.Out(layer));
    private ArrayView<float> BiasGradient(int layer) => gradients.View.SubView(Shape.BiasOffsets[layer], Shape.Out(layer));
    private ArrayView<float> LayerInput(int layer) => layer == 0 ? input.View : outputs[layer - 1].View;

    /// <summary>Forward pass over the first `rows` rows of <see cref="Input"/>. With a dropout
    /// rate above 0, hidden outputs are masked with the (seed, step, layer) mask.</summary>
    public void Forward(int rows, float dropout, uint seed, uint step)
    {
        CheckRows(rows);
        for (int l = 0; l < Shape.LayerCount; l++)
        {
            bool last = l == Shape.LayerCount - 1;
            var epilogue = last
                ? DenseEpilogue.Of(EpilogueMode.Bias)
                : dropout > 0f
                    ? DropoutMask.For(dropout, seed, step, (uint)l).Epilogue(EpilogueMode.BiasReluDropout)
                    : DenseEpilogue.Of(EpilogueMode.BiasRelu);
            kernels.Gemm(GemmShape.Plain(rows, Shape.Out(l), Shape.In(l)), epilogue,
                LayerInput(l), Weights(l), outputs[l].View, Bias(l), kernels.Unused);
        }
    }

    /// <summary>Backward pass from <see cref="LogitGradient"/> (already divided by the batch
    /// size); OVERWRITES every parameter gradient. The first layer's input gradient is never
    /// needed and is not computed.</summary>
    public void Backward(int rows, float dropout)
    {
        CheckRows(rows);
        float keepScale = dropout > 0f ? DropoutMask.For(dropout, 0, 0, 0).KeepScale : 1f;
        for (int l = Shape.LayerCount - 1; l >= 0; l--)
        {
            int fanIn = Shape.In(l), fanOut = Shape.Out(l);
            kernels.Gemm(GemmShape.TransposedA(fanIn, fanOut, rows), DenseEpilogue.Of(EpilogueMode.Store),
                LayerInput(l), deltas[l].View, WeightGradient(l), kernels.Unused, kernels.Unused);
            kernels.BiasGradient(deltas[l].View, rows, fanOut, BiasGradient(l));
            if (l > 0)
            {
                var mask = DenseEpilogue.Of(EpilogueMode.ActiveMask);
                mask.KeepScale = keepScale;
                kernels.Gemm(GemmShape.TransposedB(rows, fanIn, fanOut), mask,
                    deltas[l].View, Weights(l), deltas[l - 1].View, kernels.Unused, outputs[l - 1].View);
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

    /// <summary>One bias-corrected Adam update of every parameter (torch.optim.Adam defaults for
    /// the betas and epsilon).</summary>
    public void AdamUpdate(float learningRate, float beta1 = 0.9f, float beta2 = 0.999f, float epsilon = 1e-8f)
    {
        AdamSteps++;
        var step = new AdamStep
        {
            LearningRate = learningRate,
            Beta1 = beta1,
            Beta2 = beta2,
            Epsilon = epsilon,
            BiasCorrection1 = (float)(1.0 - Math.Pow(beta1, AdamSteps)),
            BiasCorrection2 = (float)(1.0 - Math.Pow(beta2, AdamSteps)),
        };
        kernels.Adam(parameters.View, gradients.View, firstMoment.View, secondMoment.View, Shape.ParameterCount, step);
    }

    private void CheckRows(int rows)
    {
        if (rows < 1 || rows > MaxRows)
            throw new ArgumentOutOfRangeException(nameof(rows), rows, $"rows must be in 1..{MaxRows}");
    }

    public void Dispose()
    {
        parameters.Dispose();
        gradients.Dispose();
        firstMoment.Dispose();
        secondMoment.Dispose();
        input.Dispose();
        labels.Dispose();
        foreach (var buffer in outputs.Concat(deltas))
            buffer.Dispose();
    }
}
