// 2x2 max-pooling, stride 2, no padding (PyTorch's nn.MaxPool2d(2)), forward and backward.
//
// Shapes (PoolShape): x and dx [B, C, H, W] NCHW; y, dy and argmax [B, C, OutH, OutW] with
// OutH = floor(H / 2), OutW = floor(W / 2): an odd last row or column belongs to no window and
// is dropped, as by PyTorch's default (ceil_mode=False).
//
// Forward OVERWRITES y and argmax: argmax holds the index of the chosen input inside its H x W
// plane (iy * W + ix, int32), which is what PyTorch's max_pool2d(return_indices=True) returns.
// The window is scanned in row-major order starting from -infinity and an element replaces the
// current maximum when it is greater, or NaN (PyTorch's CPU and CUDA kernels use the same rule):
//   * ties go to the FIRST maximum in row-major window order;
//   * a NaN propagates (the last NaN of the window is chosen);
//   * a window of -infinity keeps its first element.
// Backward OVERWRITES dx: each input element gathers dy of its window if it is that window's
// argmax, else 0 (elements of a dropped odd row/column get 0). Windows do not overlap, so this is
// exactly PyTorch's scatter of dy to the argmax, without atomics.
//
// The NHWC variants serve a pool right after a convolution, whose GEMM writes its output as rows
// [B * H * W, C] (ConvolutionKernels.cs's nhwc, after the bias/ReLU epilogue):
//   * MaxPool2ForwardNhwcKernel reads x from those rows and OVERWRITES y and argmax exactly as
//     MaxPool2ForwardKernel does from the NCHW x (same windows, same rule, same plane indices), so
//     the convolution's NHWC-to-NCHW pass is never needed;
//   * MaxPool2BackwardNhwcKernel OVERWRITES dx [B * H * W, C] (the convolution's dz rows): dy of the
//     window at its argmax, else 0, and with reluMask != 0 also 0 where the pooled y is not positive.
//     That is the convolution's ReLU' at the argmax (y there IS the chosen input, and elsewhere the
//     gradient is 0 anyway), so it equals MaxPool2BackwardKernel followed by ConvNchwToNhwcKernel with
//     the ReLU mask, bit for bit: both only select and move values.
//
// Flatten needs no kernel: an NCHW tensor [B, C, H, W] is already the row-major matrix
// [B, C * H * W] in nn.Flatten's order (c, then y, then x), which the dense layer after it reads.
using ILGPU;

namespace GpuMlp.Kernels;

/// <summary>One 2x2/stride-2 max-pooling problem (see file header).</summary>
public struct PoolShape
{
    public int Batch;
    public int Channels;
    public int Height;
    public int Width;

    public PoolShape(int batch, int channels, int height, int width)
    {
        Batch = batch;
        Channels = channels;
        Height = height;
        Width = width;
    }

    public readonly int OutH => Height / 2;
    public readonly int OutW => Width / 2;
    public readonly int InputLength => Batch * Channels * Height * Width;
    public readonly int OutputLength => Batch * Channels * OutH * OutW;
}

public static class PoolingKernels
{
    public static void MaxPool2ForwardKernel(
        PoolShape shape, ArrayView<float> x, ArrayView<float> y, ArrayView<int> argmax)
    {
        int outH = shape.OutH, outW = shape.OutW, width = shape.Width;
        int outPlane = outH * outW, plane = shape.Height * width;
        int count = shape.Batch * shape.Channels * outPlane;
        int stride = Grid.DimX * Group.DimX;
        for (int i = Grid.GlobalIndex.X; i < count; i += stride)
        {
            int planeIndex = i / outPlane;
            int within = i - planeIndex * outPlane;
            int oy = within / outW, ox = within - (within / outW) * outW;
            int first = 2 * oy * width + 2 * ox;
            int planeBase = planeIndex * plane;
            float best = float.NegativeInfinity;
            int bestIndex = first;
            for (int dy = 0; dy < 2; dy++)
            {
                for (int dx = 0; dx < 2; dx++)
                {
                    int index = first + dy * width + dx;
                    float value = x[planeBase + index];
                    if (value > best || float.IsNaN(value))
                    {
                        best = value;
                        bestIndex = index;
                    }
                }
            }
            y[i] = best;
            argmax[i] = bestIndex;
        }
    }

    public static void MaxPool2BackwardKernel(
        PoolShape shape, ArrayView<float> dy, ArrayView<int> argmax, ArrayView<float> dx)
    {
        int outH = shape.OutH, outW = shape.OutW, width = shape.Width;
        int outPlane = outH * outW, plane = shape.Height * width;
        int count = shape.Batch * shape.Channels * plane;
        int stride = Grid.DimX * Group.DimX;
        for (int i = Grid.GlobalIndex.X; i < count; i += stride)
        {
            int planeIndex = i / plane;
            int within = i - planeIndex * plane;
            int oy = within / width / 2, ox = (within - (within / width) * width) / 2;
            float gradient = 0f;
            if (oy < outH && ox < outW)
            {
                int output = planeIndex * outPlane + oy * outW + ox;
                if (argmax[output] == within)
                    gradient = dy[output];
            }
            dx[i] = gradient;
        }
    }

    public static void MaxPool2ForwardNhwcKernel(
        PoolShape shape, ArrayView<float> x, ArrayView<float> y, ArrayView<int> argmax)
    {
        int outH = shape.OutH, outW = shape.OutW, width = shape.Width, channels = shape.Channels;
        int outPlane = outH * outW, plane = shape.Height * width;
        int count = shape.Batch * channels * outPlane;
        int stride = Grid.DimX * Group.DimX;
        for (int i = Grid.GlobalIndex.X; i < count; i += stride)
        {
            int planeIndex = i / outPlane;
            int within = i - planeIndex * outPlane;
            int b = planeIndex / channels, c = planeIndex - b * channels;
            int oy = within / outW, ox = within - (within / outW) * outW;
            int first = 2 * oy * width + 2 * ox;
            int imageRow = b * plane;
            float best = float.NegativeInfinity;
            int bestIndex = first;
            for (int dy = 0; dy < 2; dy++)
            {
                for (int dx = 0; dx < 2; dx++)
                {
                    int index = first + dy * width + dx;
                    float value = x[(imageRow + index) * channels + c];
                    if (value > best || float.IsNaN(value))
                    {
                        best = value;
                        bestIndex = index;
                    }
                }
            }
            y[i] = best;
            argmax[i] = bestIndex;
        }
    }

    public static void MaxPool2BackwardNhwcKernel(
        PoolShape shape, int reluMask, ArrayView<float> dy, ArrayView<int> argmax, ArrayView<float> y, ArrayView<float> dx)
    {
        int outH = shape.OutH, outW = shape.OutW, width = shape.Width, channels = shape.Channels;
        int outPlane = outH * outW, plane = shape.Height * width;
        int count = shape.Batch * channels * plane;
        int stride = Grid.DimX * Group.DimX;
        for (int i = Grid.GlobalIndex.X; i < count; i += stride)
        {
            int row = i / channels, c = i - (i / channels) * channels;
            int b = row / plane, within = row - (row / plane) * plane;
            int oy = within / width / 2, ox = (within - (within / width) * width) / 2;
            float gradient = 0f;
            if (oy < outH && ox < outW)
            {
                int output = (b * channels + c) * outPlane + oy * outW + ox;
                if (argmax[output] == within && (reluMask == 0 || y[output] > 0f))
                    gradient = dy[output];
            }
            dx[i] = gradient;
        }
    }
}
