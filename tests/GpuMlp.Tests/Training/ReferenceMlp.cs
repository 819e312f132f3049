using GpuMlp.Kernels;
using GpuMlp.Training;

namespace GpuMlp.Tests.Training;

/// <summary>The whole network in double precision with naive loops: forward (with the same
/// counter-hash dropout masks as the kernels), mean softmax cross-entropy, analytic backward and
/// Adam. Tests only.</summary>
internal sealed class ReferenceMlp
{
    /// <param name="mlp">An MLP stack (<see cref="Architecture.MlpWidths"/>).</param>
    public ReferenceMlp(Architecture mlp, double[] parameters)
    {
        widths = mlp.MlpWidths ?? throw new ArgumentException($"{mlp} is not an MLP", nameof(mlp));
        weightOffsets = [.. mlp.Tensors.Where(t => t.Name.EndsWith(".weight", StringComparison.Ordinal)).Select(t => t.Offset)];
        biasOffsets = [.. mlp.Tensors.Where(t => t.Name.EndsWith(".bias", StringComparison.Ordinal)).Select(t => t.Offset)];
        Parameters = parameters;
        First = new double[parameters.Length];
        Second = new double[parameters.Length];
    }

    private readonly IReadOnlyList<int> widths;
    private readonly int[] weightOffsets, biasOffsets;

    private int LayerCount => widths.Count - 1;
    private int Classes => widths[^1];
    private int In(int layer) => widths[layer];
    private int Out(int layer) => widths[layer + 1];
    public double[] Parameters { get; }
    public double[] First { get; }
    public double[] Second { get; }
    public int Steps { get; private set; }

    private double W(int layer, int i, int o) => Parameters[weightOffsets[layer] + i * Out(layer) + o];
    private double B(int layer, int o) => Parameters[biasOffsets[layer] + o];

    /// <summary>Layer outputs: [0] is the input, [l + 1] layer l's output (post ReLU/dropout, logits last).</summary>
    public double[][] Forward(double[] x, int rows, double dropout, uint seed, uint step)
    {
        var activations = new double[LayerCount + 1][];
        activations[0] = x;
        double keepScale = 1.0 / (1.0 - dropout);
        uint threshold = dropout > 0 ? GpuMlp.Compute.DropoutMask.Threshold((float)dropout) : 0;
        for (int l = 0; l < LayerCount; l++)
        {
            int fanIn = In(l), fanOut = Out(l);
            bool last = l == LayerCount - 1;
            var output = new double[rows * fanOut];
            for (int r = 0; r < rows; r++)
            {
                for (int o = 0; o < fanOut; o++)
                {
                    double z = B(l, o);
                    for (int i = 0; i < fanIn; i++)
                        z += activations[l][r * fanIn + i] * W(l, i, o);
                    if (!last)
                    {
                        z = Math.Max(z, 0.0);
                        if (dropout > 0)
                            z = DropoutKernels.Keep(seed, step, (uint)l, (uint)(r * fanOut + o), threshold) ? z * keepScale : 0.0;
                    }
                    output[r * fanOut + o] = z;
                }
            }
            activations[l + 1] = output;
        }
        return activations;
    }

    /// <summary>Mean cross-entropy of the logits and its gradient with respect to them.</summary>
    public double Loss(double[] logits, int[] labels, int rows, out double[] dLogits)
    {
        int classes = Classes;
        dLogits = new double[rows * classes];
        double total = 0;
        for (int r = 0; r < rows; r++)
        {
            double max = double.NegativeInfinity;
            for (int c = 0; c < classes; c++)
                max = Math.Max(max, logits[r * classes + c]);
            double sum = 0;
            for (int c = 0; c < classes; c++)
                sum += Math.Exp(logits[r * classes + c] - max);
            total += Math.Log(sum) - (logits[r * classes + labels[r]] - max);
            for (int c = 0; c < classes; c++)
            {
                double p = Math.Exp(logits[r * classes + c] - max) / sum;
                dLogits[r * classes + c] = (p - (c == labels[r] ? 1 : 0)) / rows;
            }
        }
        return total / rows;
    }

    public double MeanLoss(double[] x, int[] labels, int rows, double dropout, uint seed, uint step)
    {
        var activations = Forward(x, rows, dropout, seed, step);
        return Loss(activations[^1], labels, rows, out _);
    }

    /// <summary>Analytic gradient of the mean loss with respect to every parameter.</summary>
    public double[] Gradient(double[] x, int[] labels, int rows, double dropout, uint seed, uint step)
    {
        var activations = Forward(x, rows, dropout, seed, step);
        Loss(activations[^1], labels, rows, out var delta);
        var gradient = new double[Parameters.Length];
        double keepScale = 1.0 / (1.0 - dropout);
        for (int l = LayerCount - 1; l >= 0; l--)
        {
            int fanIn = In(l), fanOut = Out(l);
            for (int i = 0; i < fanIn; i++)
                for (int o = 0; o < fanOut; o++)
                {
                    double sum = 0;
                    for (int r = 0; r < rows; r++)
                        sum += activations[l][r * fanIn + i] * delta[r * fanOut + o];
                    gradient[weightOffsets[l] + i * fanOut + o] = sum;
                }
            for (int o = 0; o < fanOut; o++)
            {
                double sum = 0;
                for (int r = 0; r < rows; r++)
                    sum += delta[r * fanOut + o];
                gradient[biasOffsets[l] + o] = sum;
            }
            if (l == 0)
                break;
            var previous = new double[rows * fanIn];
            for (int r = 0; r < rows; r++)
                for (int i = 0; i < fanIn; i++)
                {
                    double h = activations[l][r * fanIn + i];
                    if (h <= 0)
                        continue;
                    double sum = 0;
                    for (int o = 0; o < fanOut; o++)
                        sum += delta[r * fanOut + o] * W(l, i, o);
                    previous[r * fanIn + i] = sum * (dropout > 0 ? keepScale : 1.0);
                }
            delta = previous;
        }
        return gradient;
    }

    /// <summary>torch.optim.Adam, no weight decay.</summary>
    public void Adam(double[] gradient, double learningRate, double beta1 = 0.9, double beta2 = 0.999, double epsilon = 1e-8)
    {
        Steps++;
        double correction1 = 1 - Math.Pow(beta1, Steps), correction2 = 1 - Math.Pow(beta2, Steps);
        for (int i = 0; i < Parameters.Length; i++)
        {
            First[i] = beta1 * First[i] + (1 - beta1) * gradient[i];
            Second[i] = beta2 * Second[i] + (1 - beta2) * gradient[i] * gradient[i];
            Parameters[i] -= learningRate * (First[i] / correction1) / (Math.Sqrt(Second[i] / correction2) + epsilon);
        }
    }
}
