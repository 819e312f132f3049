// Plain float64 definitions of the convolution and pooling layers, written from PyTorch's
// documented semantics (Conv2d with stride 1 and zero padding, weights [O, C, KH, KW]; MaxPool2d(2)
// with floor output size and return_indices), not from the kernels or their im2col formulation.
using GpuMlp.Kernels;

namespace GpuMlp.Tests.Reference;

public static class ConvolutionReference
{
    /// <summary>y[b, o, oy, ox] = bias[o] + sum over c, ky, kx of w[o, c, ky, kx] * x[b, c, oy + ky - P, ox + kx - P]
    /// (0 outside the input), then max(., 0) when relu. The direct seven-loop definition.</summary>
    public static double[] Conv2d(ConvShape s, ReadOnlySpan<double> x, ReadOnlySpan<double> w, ReadOnlySpan<double> bias, bool relu)
    {
        var y = new double[s.Batch * s.OutChannels * s.OutH * s.OutW];
        for (int b = 0; b < s.Batch; b++)
        {
            for (int o = 0; o < s.OutChannels; o++)
            {
                for (int oy = 0; oy < s.OutH; oy++)
                {
                    for (int ox = 0; ox < s.OutW; ox++)
                    {
                        double acc = bias[o];
                        for (int c = 0; c < s.Channels; c++)
                        {
                            for (int ky = 0; ky < s.KernelH; ky++)
                            {
                                for (int kx = 0; kx < s.KernelW; kx++)
                                {
                                    int iy = oy + ky - s.Padding, ix = ox + kx - s.Padding;
                                    if (iy < 0 || iy >= s.Height || ix < 0 || ix >= s.Width)
                                        continue;
                                    acc += w[(((o * s.Channels) + c) * s.KernelH + ky) * s.KernelW + kx]
                                        * x[(((b * s.Channels) + c) * s.Height + iy) * s.Width + ix];
                                }
                            }
                        }
                        y[(((b * s.OutChannels) + o) * s.OutH + oy) * s.OutW + ox] = relu ? Math.Max(acc, 0) : acc;
                    }
                }
            }
        }
        return y;
    }

    /// <summary>2x2/stride-2 max-pooling with PyTorch's rule: start from -infinity and the first
    /// window element's index, scan the window row by row, take an element when it is greater or
    /// NaN. Indices are positions in the H x W plane (iy * W + ix).</summary>
    public static (double[] Y, int[] Argmax) MaxPool2(PoolShape s, ReadOnlySpan<double> x)
    {
        int outH = s.Height / 2, outW = s.Width / 2;
        var y = new double[s.Batch * s.Channels * outH * outW];
        var argmax = new int[y.Length];
        for (int plane = 0; plane < s.Batch * s.Channels; plane++)
        {
            for (int oy = 0; oy < outH; oy++)
            {
                for (int ox = 0; ox < outW; ox++)
                {
                    double best = double.NegativeInfinity;
                    int bestIndex = (2 * oy * s.Width) + (2 * ox);
                    for (int iy = 2 * oy; iy < (2 * oy) + 2; iy++)
                    {
                        for (int ix = 2 * ox; ix < (2 * ox) + 2; ix++)
                        {
                            double value = x[(plane * s.Height * s.Width) + (iy * s.Width) + ix];
                            if (value > best || double.IsNaN(value))
                            {
                                best = value;
                                bestIndex = (iy * s.Width) + ix;
                            }
                        }
                    }
                    int output = (plane * outH * outW) + (oy * outW) + ox;
                    y[output] = best;
                    argmax[output] = bestIndex;
                }
            }
        }
        return (y, argmax);
    }
}
