// 2-D convolution layer, stride 1, zero padding P: the kernels around the strided GEMM of
// DenseKernels.cs that make a convolution out of it (im2col, layout changes, col2im, bias sums).
//
// Shapes (ConvShape; P = OutH * OutW output pixels, K = C * KH * KW patch length, R = B * P):
//   x        [B, C, H, W]     NCHW input, PyTorch's layout
//   weights  [O, C, KH, KW]   PyTorch's Conv2d.weight layout, i.e. row-major [O, K]
//   bias     [O]
//   y        [B, O, OutH, OutW]  NCHW output; OutH = H + 2P - KH + 1, OutW = W + 2P - KW + 1
//   cols     [R, K]           im2col: row r = (b, oy, ox), column k = (c, ky, kx), both row-major
//   nhwc     [R, O]           the GEMM's output / the pre-activation gradient in the same layout
//   dCols    [R, K]           gradient of cols
//   partials [B, O]           per-image bias-gradient partial sums
//
// One launch sequence (DeviceKernels.ConvForward / ConvBackward) per pass, one GEMM each over the
// whole batch:
//   forward   cols = im2col(x)                          ConvIm2ColKernel
//             nhwc = cols * weights^T  (+ bias, ReLU)   GEMM TransposedB(R, O, K), Bias/BiasRelu epilogue
//             y    = transpose(nhwc) to NCHW            ConvNhwcToNchwKernel
//   backward dz    = transpose(dy) to [R, O], * [y > 0] ConvNchwToNhwcKernel (ReLU' fused)
//             dW   = dz^T * cols                        GEMM TransposedA(O, K, R): K = R sums the batch
//             db   = sum over rows of dz                ConvBiasPartialsKernel, then DenseBiasGradientKernel
//             dCols= dz * weights                       GEMM Plain(R, K, O)
//             dx   = col2im(dCols)                      ConvCol2ImKernel (a gather)
//
// Why the pixel-major GEMM ([R, O], i.e. NHWC) and not one GEMM per image producing NCHW directly
// (out_b[O, P] = W[O, K] x cols_b[K, P]): the GEMM epilogue adds bias[n] per COLUMN, which is the
// output channel only in the [R, O] layout, so bias and ReLU stay fused; one GEMM covers the batch
// (no B launches); and the weight gradient needs dz as a matrix whose K index runs over every
// (image, pixel) pair with one stride, which only the [R, O] layout gives (in NCHW the image and
// pixel strides differ). The price is one transpose each way, a memory pass: on the CPU
// accelerator at batch 128 the forward transpose took ~15% of conv1's forward (1->32 channels, K = 25)
// and a few % of conv2's (32->64, K = 800), and conv2's forward took the same time as 128 per-image
// NCHW GEMMs without their bias/ReLU pass (bench/GpuMlp.Bench ConvBenchmarks).
//
// Every kernel OVERWRITES its whole output; nothing accumulates across launches, no atomics are
// used, and every sum runs in a fixed order (the GEMM's k order; col2im's (ky, kx) descending order; bias
// partials in pixel order, then images in order), so results do not depend on launch shape or
// scheduling and repeat bit for bit. Work is split over elements with grid-stride loops.
using ILGPU;

namespace GpuMlp.Kernels;

/// <summary>One convolution problem: stride 1, zero padding on all four sides (see file header).</summary>
public struct ConvShape
{
    public int Batch;
    public int Channels;
    public int Height;
    public int Width;
    public int OutChannels;
    public int KernelH;
    public int KernelW;
    public int Padding;

    public ConvShape(int batch, int channels, int height, int width, int outChannels, int kernelH, int kernelW, int padding)
    {
        Batch = batch;
        Channels = channels;
        Height = height;
        Width = width;
        OutChannels = outChannels;
        KernelH = kernelH;
        KernelW = kernelW;
        Padding = padding;
    }

    public readonly int OutH => Height + 2 * Padding - KernelH + 1;
    public readonly int OutW => Width + 2 * Padding - KernelW + 1;

    /// <summary>Output pixels per channel and image (OutH * OutW).</summary>
    public readonly int OutPixels => OutH * OutW;

    /// <summary>Patch length C * KH * KW: the GEMM's K in the forward pass, a weight row.</summary>
    public readonly int Patch => Channels * KernelH * KernelW;

    /// <summary>GEMM rows B * OutH * OutW: one per output pixel of the batch.</summary>
    public readonly int Rows => Batch * OutPixels;

    public readonly int InputLength => Batch * Channels * Height * Width;
    public readonly int OutputLength => Batch * OutChannels * OutPixels;
    public readonly int WeightLength => OutChannels * Patch;
    public readonly int ColumnsLength => Rows * Patch;
}

public static class ConvolutionKernels
{
    /// <summary>cols[r, k] = x[b, c, oy + ky - P, ox + kx - P], or 0 where that falls in the padding.
    /// One element per work item (writes are contiguous); overwrites cols [R, K].</summary>
    public static void ConvIm2ColKernel(ConvShape shape, ArrayView<float> x, ArrayView<float> cols)
    {
        int patch = shape.Patch, outW = shape.OutW, outPixels = shape.OutPixels;
        int kernelArea = shape.KernelH * shape.KernelW;
        int count = shape.Rows * patch;
        int stride = Grid.DimX * Group.DimX;
        for (int i = Grid.GlobalIndex.X; i < count; i += stride)
        {
            int row = i / patch;
            int k = i - row * patch;
            int b = row / outPixels;
            int pixel = row - b * outPixels;
            int oy = pixel / outW, ox = pixel - (pixel / outW) * outW;
            int c = k / kernelArea;
            int within = k - c * kernelArea;
            int ky = within / shape.KernelW, kx = within - (within / shape.KernelW) * shape.KernelW;
            int iy = oy + ky - shape.Padding, ix = ox + kx - shape.Padding;
            cols[i] = iy >= 0 && iy < shape.Height && ix >= 0 && ix < shape.Width
                ? x[((b * shape.Channels + c) * shape.Height + iy) * shape.Width + ix]
                : 0f;
        }
    }

    /// <summary>y[b, o, p] = nhwc[b * P + p, o]: the GEMM output to NCHW. One output element per
    /// work item (coalesced writes); overwrites y [B, O, OutH, OutW].</summary>
    public static void ConvNhwcToNchwKernel(ConvShape shape, ArrayView<float> nhwc, ArrayView<float> y)
    {
        int outChannels = shape.OutChannels, outPixels = shape.OutPixels;
        int count = shape.Batch * outChannels * outPixels;
        int stride = Grid.DimX * Group.DimX;
        for (int i = Grid.GlobalIndex.X; i < count; i += stride)
        {
            int plane = i / outPixels;
            int pixel = i - plane * outPixels;
            int b = plane / outChannels;
            int o = plane - b * outChannels;
            y[i] = nhwc[(b * outPixels + pixel) * outChannels + o];
        }
    }

    /// <summary>dz[b * P + p, o] = dy[b, o, p], times [y[b, o, p] &gt; 0] when reluMask != 0 (the
    /// backward of a fused ReLU: y is the layer's forward output, positive exactly where the ReLU
    /// passed). One output element per work item; overwrites dz [R, O].</summary>
    public static void ConvNchwToNhwcKernel(
        ConvShape shape, ArrayView<float> dy, ArrayView<float> y, int reluMask, ArrayView<float> dz)
    {
        int outChannels = shape.OutChannels, outPixels = shape.OutPixels;
        int count = shape.Rows * outChannels;
        int stride = Grid.DimX * Group.DimX;
        for (int i = Grid.GlobalIndex.X; i < count; i += stride)
        {
            int row = i / outChannels;
            int o = i - row * outChannels;
            int b = row / outPixels;
            int pixel = row - b * outPixels;
            int source = (b * outChannels + o) * outPixels + pixel;
            dz[i] = reluMask == 0 || y[source] > 0f ? dy[source] : 0f;
        }
    }

    /// <summary>partials[b, o] = sum over p of dz[b * P + p, o], p ascending. One partial per work
    /// item; overwrites partials [B, O]. DenseBiasGradientKernel then sums the B rows in order.</summary>
    public static void ConvBiasPartialsKernel(ConvShape shape, ArrayView<float> dz, ArrayView<float> partials)
    {
        int outChannels = shape.OutChannels, outPixels = shape.OutPixels;
        int count = shape.Batch * outChannels;
        int stride = Grid.DimX * Group.DimX;
        for (int i = Grid.GlobalIndex.X; i < count; i += stride)
        {
            int b = i / outChannels;
            int o = i - b * outChannels;
            int index = b * outPixels * outChannels + o;
            float sum = 0f;
            for (int p = 0; p < outPixels; p++)
            {
                sum += dz[index];
                index += outChannels;
            }
            partials[i] = sum;
        }
    }

    /// <summary>dx[b, c, iy, ix] = sum over (ky, kx), ky then kx DEscending, of
    /// dCols[b * P + oy * OutW + ox, (c * KH + ky) * KW + kx] with oy = iy + P - ky, ox = ix + P - kx
    /// inside the output. A gather: each input element sums its own contributions (no atomics);
    /// overwrites dx [B, C, H, W]. The descending order is the order of the contributing rows
    /// (oy, ox) ascending, which the CPU variant's row-by-row scatter (kernels/Cpu) produces, so the
    /// two give the same bits.</summary>
    public static void ConvCol2ImKernel(ConvShape shape, ArrayView<float> dCols, ArrayView<float> dx)
    {
        int height = shape.Height, width = shape.Width, planeSize = height * width;
        int outH = shape.OutH, outW = shape.OutW, patch = shape.Patch;
        int count = shape.Batch * shape.Channels * planeSize;
        int stride = Grid.DimX * Group.DimX;
        for (int i = Grid.GlobalIndex.X; i < count; i += stride)
        {
            int plane = i / planeSize;
            int within = i - plane * planeSize;
            int iy = within / width, ix = within - (within / width) * width;
            int b = plane / shape.Channels;
            int c = plane - b * shape.Channels;
            int rowBase = b * outH * outW;
            float sum = 0f;
            for (int ky = shape.KernelH - 1; ky >= 0; ky--)
            {
                int oy = iy + shape.Padding - ky;
                if (oy < 0 || oy >= outH)
                    continue;
                int columnBase = (c * shape.KernelH + ky) * shape.KernelW;
                for (int kx = shape.KernelW - 1; kx >= 0; kx--)
                {
                    int ox = ix + shape.Padding - kx;
                    if (ox >= 0 && ox < outW)
                        sum += dCols[(rowBase + oy * outW + ox) * patch + columnBase + kx];
                }
            }
            dx[i] = sum;
        }
    }
}
