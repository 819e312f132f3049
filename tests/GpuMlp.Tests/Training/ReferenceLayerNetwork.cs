using GpuMlp.Kernels;
using GpuMlp.Tests.Reference;
using GpuMlp.Training;

namespace GpuMlp.Tests.Training;

/// <summary>Any layer stack at inference (dropout is the identity) in double precision, module by module as PyTorch's
/// nn.Sequential runs it (conv, relu, max-pool, flatten, linear, batch norm; no fusion), from the flat buffer
/// the device uses (dense weights [in, out], conv weights [O, C, KH, KW]), with the mean softmax
/// cross-entropy. Its gradient is taken by central finite differences. Batch norm normalises with the
/// running statistics of <see cref="State"/> (eval mode), or with <see cref="BatchStatistics"/> with the
/// batch's own (train mode, what a training step's loss and gradient are of). Tests only.</summary>
internal sealed class ReferenceLayerNetwork(Architecture architecture, double[] parameters)
{
    public double[] Parameters { get; } = parameters;

    /// <summary>The layers' state (the flat state buffer); initially the architecture's initial state.</summary>
    public double[] State { get; init; } = architecture.InitialState().Select(v => (double)v).ToArray();

    /// <summary>True: batch norm uses the batch's statistics (train mode), without updating <see cref="State"/>.</summary>
    public bool BatchStatistics { get; init; }

    /// <summary>The logits [rows, classes] of x [rows, input elements].</summary>
    public double[] Forward(double[] x, int rows) => ForwardTo(x, rows, architecture.Layers.Count);

    /// <summary>The input of layer <paramref name="index"/> (the output of the layers before it).</summary>
    public double[] ForwardTo(double[] x, int rows, int index)
    {
        double[] a = x;
        foreach (var layer in architecture.Layers.Take(index))
        {
            var input = layer.Input;
            switch (layer.Spec)
            {
                case ConvSpec conv:
                    var shape = new ConvShape(rows, input.Channels, input.Height, input.Width, conv.OutChannels, conv.KernelH, conv.KernelW, conv.Padding);
                    a = ConvolutionReference.Conv2d(shape, a, Slice(layer.Parameters[0]), Slice(layer.Parameters[1]), relu: false);
                    break;
                case MaxPool2Spec:
                    a = ConvolutionReference.MaxPool2(new PoolShape(rows, input.Channels, input.Height, input.Width), a).Y;
                    break;
                case ReluSpec:
                    a = a.Select(v => Math.Max(v, 0)).ToArray();
                    break;
                case DenseSpec dense:
                    int inputs = (int)input.Elements;
                    var w = Slice(layer.Parameters[0]);
                    var b = Slice(layer.Parameters[1]);
                    var y = new double[rows * dense.Outputs];
                    for (int r = 0; r < rows; r++)
                    {
                        for (int o = 0; o < dense.Outputs; o++)
                        {
                            double acc = b[o];
                            for (int i = 0; i < inputs; i++)
                                acc += a[(r * inputs) + i] * w[(i * dense.Outputs) + o];
                            y[(r * dense.Outputs) + o] = acc;
                        }
                    }
                    a = y;
                    break;
                case BatchNormSpec:
                    var norm = new BatchNormShape(rows, input.Channels, input.IsMap ? input.Height * input.Width : 1);
                    double[] weight = Slice(layer.Parameters[0]), shift = Slice(layer.Parameters[1]);
                    a = BatchStatistics
                        ? BatchNormReference.TrainingForward(norm, a, weight, shift, relu: false)
                        : BatchNormReference.Normalise(norm, a, State.AsSpan(layer.State[0].Offset, layer.State[0].Length).ToArray(),
                            State.AsSpan(layer.State[1].Offset, layer.State[1].Length).ToArray(), weight, shift, relu: false);
                    break;
                case FlattenSpec or DropoutSpec:
                    // Flatten keeps the NCHW values in order; dropout is the identity at inference.
                    break;
                default:
                    throw new NotSupportedException($"the reference has no {layer.Spec}");
            }
        }
        return a;
    }

    public double MeanLoss(double[] x, int[] labels, int rows)
    {
        double[] logits = Forward(x, rows);
        int classes = architecture.Classes;
        double total = 0;
        for (int r = 0; r < rows; r++)
        {
            var row = logits.AsSpan(r * classes, classes);
            double max = double.NegativeInfinity;
            foreach (double v in row)
                max = Math.Max(max, v);
            double sum = 0;
            foreach (double v in row)
                sum += Math.Exp(v - max);
            total += Math.Log(sum) - (row[labels[r]] - max);
        }
        return total / rows;
    }

    /// <summary>d(mean loss)/d(parameter i) by central differences with step h.</summary>
    public double[] FiniteDifferenceGradient(double[] x, int[] labels, int rows, double h = 1e-6)
    {
        var gradient = new double[Parameters.Length];
        for (int i = 0; i < gradient.Length; i++)
        {
            double saved = Parameters[i];
            Parameters[i] = saved + h;
            double plus = MeanLoss(x, labels, rows);
            Parameters[i] = saved - h;
            double minus = MeanLoss(x, labels, rows);
            Parameters[i] = saved;
            gradient[i] = (plus - minus) / (2 * h);
        }
        return gradient;
    }

    private double[] Slice(ParameterTensor tensor) => Parameters.AsSpan(tensor.Offset, tensor.Length).ToArray();
}
