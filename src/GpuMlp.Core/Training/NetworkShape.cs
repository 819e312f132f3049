using GpuMlp.Data;
using GpuMlp.Kernels;

namespace GpuMlp.Training;

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

/// <summary>One GEMM launch of a training step: the layer, which product, its problem size and
/// strides, and its epilogue (dropout parameters are filled in per step).</summary>
public readonly record struct GemmLaunch(int Layer, GemmPass Pass, GemmShape Shape, EpilogueMode Mode);

/// <summary>One dense layer: its slice of the flat parameter buffer (W [in, out] row-major at
/// WeightOffset, then b [out] at BiasOffset) and the GEMMs it launches. Hidden layers apply ReLU
/// and dropout; the output layer gives logits.</summary>
public sealed record DenseLayerSpec(int Index, int Inputs, int Outputs, int WeightOffset, int BiasOffset, bool IsOutput)
{
    public int ParameterCount => (Inputs * Outputs) + Outputs;

    public GemmLaunch Forward(int rows, bool dropout) => new(Index, GemmPass.Forward, GemmShape.Plain(rows, Outputs, Inputs),
        IsOutput ? EpilogueMode.Bias : dropout ? EpilogueMode.BiasReluDropout : EpilogueMode.BiasRelu);

    public GemmLaunch WeightGradient(int rows) =>
        new(Index, GemmPass.WeightGradient, GemmShape.TransposedA(Inputs, Outputs, rows), EpilogueMode.Store);

    /// <summary>Null for the first layer: the gradient of the network's input is never needed.</summary>
    public GemmLaunch? InputGradient(int rows) => Index == 0
        ? null
        : new(Index, GemmPass.InputGradient, GemmShape.TransposedB(rows, Inputs, Outputs), EpilogueMode.ActiveMask);
}

/// <summary>Layer widths of the MLP, input first, classes last: 784, 512, 256, 10 by default, as a
/// list of dense layers. Parameters live in one flat buffer, layer by layer: W_l [in, out]
/// row-major, then b_l [out].</summary>
public sealed class NetworkShape
{
    public NetworkShape(int inputs, IReadOnlyList<int> hidden, int classes)
    {
        if (inputs < 1 || classes < 2)
            throw new ArgumentException("a network needs at least one input and two classes");
        if (hidden.Any(h => h < 1))
            throw new ArgumentException("hidden layer widths must be positive");
        Widths = [inputs, .. hidden, classes];
        var layers = new DenseLayerSpec[LayerCount];
        long offset = 0;
        for (int l = 0; l < LayerCount; l++)
        {
            int weightOffset = checked((int)offset);
            offset += (long)Widths[l] * Widths[l + 1];
            int biasOffset = checked((int)offset);
            offset += Widths[l + 1];
            layers[l] = new DenseLayerSpec(l, Widths[l], Widths[l + 1], weightOffset, biasOffset, IsOutput: l == LayerCount - 1);
        }
        Layers = layers;
        WeightOffsets = layers.Select(l => l.WeightOffset).ToArray();
        BiasOffsets = layers.Select(l => l.BiasOffset).ToArray();
        ParameterCount = checked((int)offset);
    }

    public IReadOnlyList<int> Widths { get; }
    public IReadOnlyList<DenseLayerSpec> Layers { get; }
    public int LayerCount => Widths.Count - 1;
    public int Inputs => Widths[0];
    public int Classes => Widths[^1];
    public IReadOnlyList<int> Hidden => Widths.Skip(1).Take(Widths.Count - 2).ToArray();
    public IReadOnlyList<int> WeightOffsets { get; }
    public IReadOnlyList<int> BiasOffsets { get; }
    public int ParameterCount { get; }

    public int In(int layer) => Widths[layer];
    public int Out(int layer) => Widths[layer + 1];

    public static NetworkShape Mnist(IReadOnlyList<int> hidden) => new(MnistDataset.Shape.Pixels, hidden, MnistDataset.ClassCount);

    /// <summary>This MLP as a layer stack (dense{h},relu,dropout{p} per hidden layer, then the
    /// output layer), the form <see cref="LayerNetwork"/> runs.</summary>
    public Architecture ToArchitecture(float dropout) =>
        new([.. Hidden.SelectMany(h => new LayerSpec[] { LayerSpec.Dense(h), LayerSpec.Relu, LayerSpec.Dropout(dropout) }), LayerSpec.Dense(Classes)],
            ActivationShape.Vector(Inputs), Classes);

    /// <summary>Every GEMM of one training step of this MLP over <paramref name="rows"/> rows, in
    /// the order <see cref="LayerNetwork"/> launches them: each layer's forward product, then from
    /// the last layer back its weight gradient and (but for the first layer) its input gradient.</summary>
    public IReadOnlyList<GemmLaunch> StepGemms(int rows, bool dropout)
    {
        var launches = Layers.Select(layer => layer.Forward(rows, dropout)).ToList();
        foreach (var layer in Layers.Reverse())
        {
            launches.Add(layer.WeightGradient(rows));
            if (layer.InputGradient(rows) is GemmLaunch inputGradient)
                launches.Add(inputGradient);
        }
        return launches;
    }

    public override string ToString() => string.Join("-", Widths);

    /// <summary>PyTorch nn.Linear's default initialisation: W and b uniform in
    /// ±1/sqrt(fan_in) (kaiming_uniform with a = sqrt(5)), drawn from a seeded generator.</summary>
    public float[] InitialParameters(int seed)
    {
        var parameters = new float[ParameterCount];
        var random = new Random(seed);
        for (int l = 0; l < LayerCount; l++)
        {
            double bound = 1.0 / Math.Sqrt(In(l));
            int end = BiasOffsets[l] + Out(l);
            for (int i = WeightOffsets[l]; i < end; i++)
                parameters[i] = (float)((random.NextDouble() * 2.0 - 1.0) * bound);
        }
        return parameters;
    }
}
