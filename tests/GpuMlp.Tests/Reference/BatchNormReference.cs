using GpuMlp.Kernels;

namespace GpuMlp.Tests.Reference;

/// <summary>Batch normalisation in double precision, as PyTorch defines it (eps 1e-5, momentum 0.1):
/// x [Batch, Channels, Spatial]; per channel c over its M = Batch * Spatial values. Tests only.</summary>
internal static class BatchNormReference
{
    public const double Epsilon = 1e-5;
    public const double Momentum = 0.1;

    /// <summary>The batch mean and BIASED variance (/M) of each channel.</summary>
    public static (double[] Mean, double[] Variance) Statistics(BatchNormShape s, double[] x)
    {
        var mean = new double[s.Channels];
        var variance = new double[s.Channels];
        for (int c = 0; c < s.Channels; c++)
        {
            double sum = 0;
            foreach (int i in Indices(s, c))
                sum += x[i];
            mean[c] = sum / s.PerChannel;
            double squares = 0;
            foreach (int i in Indices(s, c))
                squares += (x[i] - mean[c]) * (x[i] - mean[c]);
            variance[c] = squares / s.PerChannel;
        }
        return (mean, variance);
    }

    /// <summary>y = relu?((x - mean) / sqrt(variance + eps) * weight + bias).</summary>
    public static double[] Normalise(BatchNormShape s, double[] x, double[] mean, double[] variance, double[] weight, double[] bias, bool relu)
    {
        var y = new double[s.Length];
        for (int i = 0; i < y.Length; i++)
        {
            int c = i / s.Spatial % s.Channels;
            double value = ((x[i] - mean[c]) / Math.Sqrt(variance[c] + Epsilon) * weight[c]) + bias[c];
            y[i] = relu ? Math.Max(value, 0) : value;
        }
        return y;
    }

    /// <summary>Training mode: normalised with the batch's own statistics.</summary>
    public static double[] TrainingForward(BatchNormShape s, double[] x, double[] weight, double[] bias, bool relu)
    {
        var (mean, variance) = Statistics(s, x);
        return Normalise(s, x, mean, variance, weight, bias, relu);
    }

    /// <summary>torch's running update: (1 - momentum) * running + momentum * batch, the UNBIASED
    /// variance (M / (M - 1)) for the running variance.</summary>
    public static (double[] Mean, double[] Variance) RunningUpdate(BatchNormShape s, double[] runningMean, double[] runningVariance,
        double[] mean, double[] variance)
    {
        int m = s.PerChannel;
        return (
            runningMean.Select((r, c) => ((1 - Momentum) * r) + (Momentum * mean[c])).ToArray(),
            runningVariance.Select((r, c) => ((1 - Momentum) * r) + (Momentum * variance[c] * m / (m - 1))).ToArray());
    }

    /// <summary>The gradients of L = sum(dy ⊙ y) for a training forward (g = dy, through [y > 0] with
    /// relu): dWeight = sum g x^, dBias = sum g, dx = weight / sqrt(var + eps) * (g - mean g - x^ mean(g x^)).</summary>
    public static (double[] DWeight, double[] DBias, double[] Dx) Backward(BatchNormShape s, double[] x, double[] weight, double[] bias,
        double[] dy, bool relu)
    {
        var (mean, variance) = Statistics(s, x);
        double[] y = Normalise(s, x, mean, variance, weight, bias, relu);
        var dWeight = new double[s.Channels];
        var dBias = new double[s.Channels];
        var dx = new double[s.Length];
        for (int c = 0; c < s.Channels; c++)
        {
            double inverseStd = 1 / Math.Sqrt(variance[c] + Epsilon);
            foreach (int i in Indices(s, c))
            {
                double g = relu && !(y[i] > 0) ? 0 : dy[i];
                dBias[c] += g;
                dWeight[c] += g * (x[i] - mean[c]) * inverseStd;
            }
            foreach (int i in Indices(s, c))
            {
                double g = relu && !(y[i] > 0) ? 0 : dy[i];
                double normalised = (x[i] - mean[c]) * inverseStd;
                dx[i] = weight[c] * inverseStd * (g - (dBias[c] / s.PerChannel) - (normalised * dWeight[c] / s.PerChannel));
            }
        }
        return (dWeight, dBias, dx);
    }

    /// <summary>The flat indices of channel c's values, image by image.</summary>
    public static IEnumerable<int> Indices(BatchNormShape s, int c)
    {
        for (int n = 0; n < s.Batch; n++)
        {
            for (int p = 0; p < s.Spatial; p++)
                yield return (((n * s.Channels) + c) * s.Spatial) + p;
        }
    }
}
