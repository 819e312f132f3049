namespace GpuMlp.Training;

/// <summary>Layer widths of the MLP, input first, classes last: 784, 512, 256, 10 by default.
/// Parameters live in one flat buffer, layer by layer: W_l [in, out] row-major, then b_l [out].</summary>
public sealed class NetworkShape
{
    public NetworkShape(int inputs, IReadOnlyList<int> hidden, int classes)
    {
        if (inputs < 1 || classes < 2)
            throw new ArgumentException("a network needs at least one input and two classes");
        if (hidden.Any(h => h < 1))
            throw new ArgumentException("hidden layer widths must be positive");
        Widths = [inputs, .. hidden, classes];
        var weightOffsets = new int[LayerCount];
        var biasOffsets = new int[LayerCount];
        long offset = 0;
        for (int l = 0; l < LayerCount; l++)
        {
            weightOffsets[l] = checked((int)offset);
            offset += (long)Widths[l] * Widths[l + 1];
            biasOffsets[l] = checked((int)offset);
            offset += Widths[l + 1];
        }
        WeightOffsets = weightOffsets;
        BiasOffsets = biasOffsets;
        ParameterCount = checked((int)offset);
    }

    public IReadOnlyList<int> Widths { get; }
    public int LayerCount => Widths.Count - 1;
    public int Inputs => Widths[0];
    public int Classes => Widths[^1];
    public IReadOnlyList<int> Hidden => Widths.Skip(1).Take(Widths.Count - 2).ToArray();
    public IReadOnlyList<int> WeightOffsets { get; }
    public IReadOnlyList<int> BiasOffsets { get; }
    public int ParameterCount { get; }

    public int In(int layer) => Widths[layer];
    public int Out(int layer) => Widths[layer + 1];

    public static NetworkShape Mnist(IReadOnlyList<int> hidden) => new(28 * 28, hidden, 10);

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
