// Convolution layer on the CPU accelerator: the five non-GEMM kernels of ConvolutionKernels.cs
// (im2col, the two layout changes, bias partials, col2im) as plain .NET loops in [External]
// helpers, split over the worker threads of one persistent launch. The GEMMs between them are
// CpuDenseKernels's.
//
// Shapes and what each kernel OVERWRITES are those of ConvolutionKernels.cs (ConvShape; P = OutH *
// OutW, K = C * KH * KW, R = B * P): cols [R, K] = im2col(x [B, C, H, W]); y [B, O, P] from nhwc
// [R, O]; dz [R, O] from dy [B, O, P] (times [y > 0] with the fused ReLU); partials [B, O] =
// per-image sums of dz; dx [B, C, H, W] = col2im(dCols [R, K]). Nothing accumulates across
// launches and no atomics are used.
//
// Why they exist: the portable kernels decode every element's indices with 6-8 integer divisions
// and run one grid-stride element per loop iteration; on the CPU accelerator that made im2col,
// col2im and the transposes cost ~3x conv2's GEMMs (bench/GpuMlp.Bench ConvBenchmarks). Here each
// worker walks rows, planes or images in order and decodes nothing per element.
//
// Every result is bit-identical to the portable kernel's, on every CpuSimdWidth: im2col, the layout
// changes and the ReLU mask move values without arithmetic; the bias partials sum each (image,
// channel) over p ascending from 0 (vector lanes add exactly like scalars); col2im adds each input
// element's contributions starting from 0 in the order of their rows (oy, ox) ascending, i.e.
// (ky, kx) descending, the portable gather's order: it zeroes an image's dx, then scatters the
// image's rows of dCols one after the other (each row read once, in memory order, into a
// [C, H, W] block that stays in L1/L2; a gather per input element reads dCols at a stride of K
// floats instead and took ~3x longer).
//
// ConvInputGradientCpuKernel fuses the input gradient's two launches (the GEMM dCols = dz x W, then
// col2im) per image. Where the padding is at most the kernel's size less one (every network here) it
// is one GEMM over zero-bordered dz with no dCols at all (CpuConvolutionGemm.cs). Otherwise each
// worker computes one image's [P, K] block of dCols with CpuDenseKernels's GEMM into a private buffer
// that stays in L2, then adds it into dx exactly as Col2Im does. Every element of that GEMM is the
// same k-ordered sum whichever rows a call covers (rows past M repeat row M - 1 and are never
// stored), so dx has the bits of the two launches either way. ConvForwardRowsCpuKernel and
// ConvWeightGradientCpuKernel are the forward and weight-gradient GEMMs reading x through offset
// tables, with no im2col (CpuConvolutionGemm.cs).
//
// Work split: im2col over rows of cols; the layout changes, bias partials, col2im and the fused input
// gradient over images.
// Contiguous ranges per worker (Simd.RangeStart): every output element has one writer, whatever
// the worker count.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using ILGPU;

namespace GpuMlp.Kernels.Cpu;

public static class CpuConvolutionKernels
{
    /// <summary>The longest patch (C x KH x KW) ConvForwardRowsCpuKernel takes: its packed weights are
    /// one chunk of the GEMM's K (CpuDenseSimd's MaxPackedRows).</summary>
    public const int MaxFusedPatch = 2048;

    [CpuOnlyKernel]
    public static void ConvIm2ColCpuKernel(ConvShape shape, ArrayView<float> x, ArrayView<float> cols) =>
        CpuConvolution.Im2Col(Grid.GlobalIndex.X, Grid.DimX * Group.DimX, shape, x, cols);

    [CpuOnlyKernel]
    public static void ConvNhwcToNchwCpuKernel(ConvShape shape, ArrayView<float> nhwc, ArrayView<float> y) =>
        CpuConvolution.NhwcToNchw(Grid.GlobalIndex.X, Grid.DimX * Group.DimX, shape, nhwc, y);

    [CpuOnlyKernel]
    public static void ConvNchwToNhwcCpuKernel(
        ConvShape shape, ArrayView<float> dy, ArrayView<float> y, int reluMask, ArrayView<float> dz) =>
        CpuConvolution.NchwToNhwc(Grid.GlobalIndex.X, Grid.DimX * Group.DimX, shape, dy, y, reluMask, dz);

    [CpuOnlyKernel]
    public static void ConvBiasPartialsSimdKernel(
        ConvShape shape, CpuSimdWidth width, ArrayView<float> dz, ArrayView<float> partials) =>
        CpuConvolution.BiasPartials(Grid.GlobalIndex.X, Grid.DimX * Group.DimX, shape, width, dz, partials);

    [CpuOnlyKernel]
    public static void ConvInputGradientCpuKernel(
        ConvShape shape, CpuSimdWidth width, ArrayView<float> dz, ArrayView<float> weights, ArrayView<float> dx) =>
        CpuConvolution.InputGradient(Grid.GlobalIndex.X, Grid.DimX * Group.DimX, shape, width, dz, weights, dx);

    /// <summary>nhwc [Rows, O] = relu?(im2col(x) x weights^T + bias) with no cols stored, or (pooled
    /// != 0) the 2x2 pool of those rows into y and argmax with nhwc untouched
    /// (CpuDenseSimd.ConvForwardRows).</summary>
    [CpuOnlyKernel]
    public static void ConvForwardRowsCpuKernel(ConvShape shape, int relu, CpuSimdWidth width, ArrayView<float> x, ArrayView<float> weights,
        ArrayView<float> bias, ArrayView<float> nhwc, int pooled, PoolShape pool, ArrayView<float> y, ArrayView<int> argmax) =>
        CpuConvolution.ForwardRows(Grid.GlobalIndex.X, Grid.DimX * Group.DimX, shape, relu, width, x, weights, bias, nhwc, pooled, pool, y,
            argmax);

    /// <summary>dWeights [O, Patch] from dz [Rows, O] and the convolution's input x, with no cols
    /// (CpuDenseSimd.ConvWeightGradient).</summary>
    [CpuOnlyKernel]
    public static void ConvWeightGradientCpuKernel(
        ConvShape shape, CpuSimdWidth width, ArrayView<float> dz, ArrayView<float> x, ArrayView<float> dWeights) =>
        CpuConvolution.WeightGradient(Grid.GlobalIndex.X, Grid.DimX * Group.DimX, shape, width, dz, x, dWeights);

    [CpuOnlyKernel]
    public static void ConvCol2ImCpuKernel(ConvShape shape, ArrayView<float> dCols, ArrayView<float> dx) =>
        CpuConvolution.Col2Im(Grid.GlobalIndex.X, Grid.DimX * Group.DimX, shape, dCols, dx);
}

/// <summary>The [External] bodies of the CpuConvolutionKernels kernels (plain .NET, run by RyuJIT).</summary>
internal static class CpuConvolution
{
    /// <summary>Pixels per tile of the layout changes: a tile of 16 pixel rows x O channels
    /// (4 KB at O = 64) stays in L1 while it is read across and written down.</summary>
    private const int TransposeTile = 16;

    [ILGPU.Frontend.External("gpumlp_cpu_conv_im2col")]
    public static void Im2Col(int worker, int workers, ConvShape shape, ArrayView<float> x, ArrayView<float> cols) =>
        Im2Col(worker, workers, shape, ref Simd.Ref(x), ref Simd.Ref(cols));

    [ILGPU.Frontend.External("gpumlp_cpu_conv_nhwc_to_nchw")]
    public static void NhwcToNchw(int worker, int workers, ConvShape shape, ArrayView<float> nhwc, ArrayView<float> y) =>
        NhwcToNchw(worker, workers, shape, ref Simd.Ref(nhwc), ref Simd.Ref(y));

    [ILGPU.Frontend.External("gpumlp_cpu_conv_nchw_to_nhwc")]
    public static void NchwToNhwc(int worker, int workers, ConvShape shape, ArrayView<float> dy, ArrayView<float> y,
        int reluMask, ArrayView<float> dz) =>
        NchwToNhwc(worker, workers, shape, ref Simd.Ref(dy), ref Simd.Ref(y), reluMask != 0, ref Simd.Ref(dz));

    [ILGPU.Frontend.External("gpumlp_cpu_conv_bias_partials")]
    public static void BiasPartials(int worker, int workers, ConvShape shape, CpuSimdWidth width,
        ArrayView<float> dz, ArrayView<float> partials) =>
        BiasPartials(worker, workers, shape, width, ref Simd.Ref(dz), ref Simd.Ref(partials));

    [ILGPU.Frontend.External("gpumlp_cpu_conv_input_gradient")]
    public static void InputGradient(int worker, int workers, ConvShape shape, CpuSimdWidth width, ArrayView<float> dz,
        ArrayView<float> weights, ArrayView<float> dx) =>
        InputGradient(worker, workers, shape, width, ref Simd.Ref(dz), ref Simd.Ref(weights), ref Simd.Ref(dx));

    /// <summary>Each worker thread's block of dCols for one image ([P, K]), grown on demand.</summary>
    [ThreadStatic]
    private static float[]? imageColumns;

    [ILGPU.Frontend.External("gpumlp_cpu_conv_forward_rows")]
    public static void ForwardRows(int worker, int workers, ConvShape shape, int relu, CpuSimdWidth width, ArrayView<float> x,
        ArrayView<float> weights, ArrayView<float> bias, ArrayView<float> nhwc, int pooled, PoolShape pool, ArrayView<float> y,
        ArrayView<int> argmax) =>
        CpuDenseSimd.ConvForwardRows(worker, workers, shape, relu != 0, width, ref Simd.Ref(x), ref Simd.Ref(weights), ref Simd.Ref(bias),
            ref Simd.Ref(nhwc), new CpuDenseSimd.PooledRows(pooled != 0, pool, ref Simd.Ref(y), ref Simd.Ref(argmax)));

    [ILGPU.Frontend.External("gpumlp_cpu_conv_weight_gradient")]
    public static void WeightGradient(int worker, int workers, ConvShape shape, CpuSimdWidth width, ArrayView<float> dz,
        ArrayView<float> x, ArrayView<float> dWeights) =>
        CpuDenseSimd.ConvWeightGradient(worker, workers, shape, width, ref Simd.Ref(dz), ref Simd.Ref(x), ref Simd.Ref(dWeights));

    [ILGPU.Frontend.External("gpumlp_cpu_conv_col2im")]
    public static void Col2Im(int worker, int workers, ConvShape shape, ArrayView<float> dCols, ArrayView<float> dx) =>
        Col2Im(worker, workers, shape, ref Simd.Ref(dCols), ref Simd.Ref(dx));

    /// <summary>cols[r, (c, ky, kx)] = x[b, c, oy + ky - P, ox + kx - P] or 0 in the padding; rows
    /// of cols split over workers.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Im2Col(int worker, int workers, in ConvShape shape, ref float x, ref float cols)
    {
        int channels = shape.Channels, height = shape.Height, width = shape.Width, padding = shape.Padding;
        int kernelH = shape.KernelH, kernelW = shape.KernelW, outW = shape.OutW, outPixels = shape.OutPixels;
        int patch = shape.Patch, plane = height * width;
        int end = Simd.RangeStart(shape.Rows, worker + 1, workers);
        for (int row = Simd.RangeStart(shape.Rows, worker, workers); row < end; row++)
        {
            int b = row / outPixels, pixel = row - b * outPixels;
            int oy = pixel / outW, ox = pixel - oy * outW;
            // The taps kx in [kxFirst, kxEnd) fall inside the row; the others are padding.
            int left = ox - padding;
            int kxFirst = Math.Max(0, -left), kxEnd = Math.Min(kernelW, width - left);
            ref float destination = ref Unsafe.Add(ref cols, (nint)row * patch);
            ref float image = ref Unsafe.Add(ref x, (nint)b * channels * plane);
            for (int c = 0; c < channels; c++)
            {
                ref float channel = ref Unsafe.Add(ref image, (nint)c * plane);
                for (int ky = 0; ky < kernelH; ky++)
                {
                    int iy = oy + ky - padding;
                    if (iy < 0 || iy >= height || kxFirst >= kxEnd)
                    {
                        for (int kx = 0; kx < kernelW; kx++)
                            Unsafe.Add(ref destination, kx) = 0f;
                    }
                    else
                    {
                        ref float source = ref Unsafe.Add(ref channel, iy * width + left);
                        for (int kx = 0; kx < kxFirst; kx++)
                            Unsafe.Add(ref destination, kx) = 0f;
                        int kx4 = kxFirst;
                        // Four taps a copy (a 5-wide kernel row: one vector and one float).
                        for (; kx4 + 4 <= kxEnd; kx4 += 4)
                            Vector128.LoadUnsafe(ref source, (nuint)kx4).StoreUnsafe(ref destination, (nuint)kx4);
                        for (int kx = kx4; kx < kxEnd; kx++)
                            Unsafe.Add(ref destination, kx) = Unsafe.Add(ref source, kx);
                        for (int kx = kxEnd; kx < kernelW; kx++)
                            Unsafe.Add(ref destination, kx) = 0f;
                    }
                    destination = ref Unsafe.Add(ref destination, kernelW);
                }
            }
        }
    }

    /// <summary>y[b, o, p] = nhwc[b * P + p, o]; images split over workers, each transposed in
    /// tiles of TransposeTile pixels.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void NhwcToNchw(int worker, int workers, in ConvShape shape, ref float nhwc, ref float y)
    {
        int outChannels = shape.OutChannels, outPixels = shape.OutPixels, image = outChannels * outPixels;
        int end = Simd.RangeStart(shape.Batch, worker + 1, workers);
        for (int b = Simd.RangeStart(shape.Batch, worker, workers); b < end; b++)
        {
            ref float source = ref Unsafe.Add(ref nhwc, (nint)b * image);
            ref float destination = ref Unsafe.Add(ref y, (nint)b * image);
            for (int first = 0; first < outPixels; first += TransposeTile)
            {
                int last = Math.Min(outPixels, first + TransposeTile);
                for (int o = 0; o < outChannels; o++)
                {
                    ref float column = ref Unsafe.Add(ref destination, o * outPixels);
                    for (int p = first; p < last; p++)
                        Unsafe.Add(ref column, p) = Unsafe.Add(ref source, p * outChannels + o);
                }
            }
        }
    }

    /// <summary>dz[b * P + p, o] = dy[b, o, p], or 0 where the ReLU mask is on and y[b, o, p] is not
    /// positive; images split over workers, tiled like NhwcToNchw.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void NchwToNhwc(int worker, int workers, in ConvShape shape, ref float dy, ref float y, bool reluMask,
        ref float dz)
    {
        int outChannels = shape.OutChannels, outPixels = shape.OutPixels, image = outChannels * outPixels;
        int end = Simd.RangeStart(shape.Batch, worker + 1, workers);
        for (int b = Simd.RangeStart(shape.Batch, worker, workers); b < end; b++)
        {
            ref float gradient = ref Unsafe.Add(ref dy, (nint)b * image);
            ref float output = ref Unsafe.Add(ref y, reluMask ? (nint)b * image : 0);
            ref float destination = ref Unsafe.Add(ref dz, (nint)b * image);
            for (int first = 0; first < outPixels; first += TransposeTile)
            {
                int last = Math.Min(outPixels, first + TransposeTile);
                for (int p = first; p < last; p++)
                {
                    ref float row = ref Unsafe.Add(ref destination, p * outChannels);
                    for (int o = 0; o < outChannels; o++)
                    {
                        int source = o * outPixels + p;
                        Unsafe.Add(ref row, o) = !reluMask || Unsafe.Add(ref output, source) > 0f ? Unsafe.Add(ref gradient, source) : 0f;
                    }
                }
            }
        }
    }

    /// <summary>partials[b, o] = sum over p ascending of dz[b * P + p, o]: per image, the column sums
    /// of its [P, O] block (vectors across o); images split over workers.</summary>
    internal static void BiasPartials(int worker, int workers, in ConvShape shape, CpuSimdWidth width, ref float dz,
        ref float partials)
    {
        int outChannels = shape.OutChannels, outPixels = shape.OutPixels;
        int end = Simd.RangeStart(shape.Batch, worker + 1, workers);
        for (int b = Simd.RangeStart(shape.Batch, worker, workers); b < end; b++)
        {
            ref float block = ref Unsafe.Add(ref dz, (nint)b * outPixels * outChannels);
            ref float sums = ref Unsafe.Add(ref partials, (nint)b * outChannels);
            // One worker's call of the dense bias gradient: every column, rows in order.
            CpuDenseSimd.BiasGradient(0, 1, width, ref block, outPixels, outChannels, ref sums);
        }
    }

    /// <summary>dx [B, C, H, W] = col2im(dz [Rows, O] x weights [O, K]), one image at a time: its
    /// [P, K] block of dCols from the GEMM (one worker's call, all of its tiles) into the worker's
    /// buffer, then added into the image's dx as Col2Im adds it. Images split over workers.</summary>
    internal static void InputGradient(int worker, int workers, in ConvShape shape, CpuSimdWidth width, ref float dz,
        ref float weights, ref float dx)
    {
        if (CpuDenseSimd.TakesInputGradient(shape))
        {
            CpuDenseSimd.ConvInputGradient(worker, workers, shape, width, ref dz, ref weights, ref dx);
            return;
        }
        int outPixels = shape.OutPixels, patch = shape.Patch, outChannels = shape.OutChannels;
        int blockLength = outPixels * patch, image = shape.Channels * shape.Height * shape.Width;
        if (imageColumns is null || imageColumns.Length < blockLength)
            imageColumns = GC.AllocateUninitializedArray<float>(blockLength, pinned: true);
        ref float block = ref MemoryMarshal.GetArrayDataReference(imageColumns);
        var product = GemmShape.Plain(outPixels, patch, outChannels);
        var store = DenseEpilogue.Of(EpilogueMode.Store);
        int end = Simd.RangeStart(shape.Batch, worker + 1, workers);
        for (int b = Simd.RangeStart(shape.Batch, worker, workers); b < end; b++)
        {
            // Bias, aux and the column sums are never read by a Store GEMM without sums.
            CpuDenseSimd.Gemm(0, 1, product, store, width, new CpuDenseSimd.GemmOperands(
                ref Unsafe.Add(ref dz, (nint)b * outPixels * outChannels), ref weights, ref block,
                ref block, ref block, ref block, sumColumns: false));
            Col2ImImage(shape, ref block, ref Unsafe.Add(ref dx, (nint)b * image));
        }
    }

    /// <summary>dx[b, c, iy, ix] = sum over the rows (oy, ox) ascending, i.e. (ky, kx) descending, of
    /// dCols[b * P + oy * OutW + ox, (c, ky, kx)] with iy = oy + ky - P, ix = ox + kx - P inside the
    /// image: each image's dx is zeroed, then every row of its [P, K] block of dCols is added at its
    /// window, row after row. Images split over workers.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Col2Im(int worker, int workers, in ConvShape shape, ref float dCols, ref float dx)
    {
        int image = shape.Channels * shape.Height * shape.Width, block = shape.OutPixels * shape.Patch;
        int end = Simd.RangeStart(shape.Batch, worker + 1, workers);
        for (int b = Simd.RangeStart(shape.Batch, worker, workers); b < end; b++)
            Col2ImImage(shape, ref Unsafe.Add(ref dCols, (nint)b * block), ref Unsafe.Add(ref dx, (nint)b * image));
    }

    /// <summary>One image of Col2Im: target [C, H, W] zeroed, then every row of source [P, K] added
    /// at its window, row after row.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Col2ImImage(in ConvShape shape, ref float source, ref float target)
    {
        int channels = shape.Channels, height = shape.Height, width = shape.Width, padding = shape.Padding;
        int kernelH = shape.KernelH, kernelW = shape.KernelW, outW = shape.OutW, outPixels = shape.OutPixels;
        int patch = shape.Patch, plane = height * width, image = channels * plane;
        for (int i = 0; i < image; i++)
            Unsafe.Add(ref target, i) = 0f;
        for (int pixel = 0; pixel < outPixels; pixel++)
        {
            int oy = pixel / outW, ox = pixel - oy * outW;
            // Taps kx in [kxFirst, kxEnd) and ky in [kyFirst, kyEnd) land inside the image.
            int left = ox - padding, top = oy - padding;
            int kxFirst = Math.Max(0, -left), kxEnd = Math.Min(kernelW, width - left);
            int kyFirst = Math.Max(0, -top), kyEnd = Math.Min(kernelH, height - top);
            for (int c = 0; c < channels; c++)
            {
                ref float channel = ref Unsafe.Add(ref target, c * plane + top * width + left);
                ref float taps = ref Unsafe.Add(ref source, c * kernelH * kernelW);
                for (int ky = kyFirst; ky < kyEnd; ky++)
                {
                    ref float targetRow = ref Unsafe.Add(ref channel, ky * width);
                    ref float tapRow = ref Unsafe.Add(ref taps, ky * kernelW);
                    int kx = kxFirst;
                    // Four taps an add: within one row of dCols every tap has its own element of
                    // dx, so each element still gets its contributions in row order.
                    for (; kx + 4 <= kxEnd; kx += 4)
                    {
                        (Vector128.LoadUnsafe(ref targetRow, (nuint)kx) + Vector128.LoadUnsafe(ref tapRow, (nuint)kx))
                            .StoreUnsafe(ref targetRow, (nuint)kx);
                    }
                    for (; kx < kxEnd; kx++)
                        Unsafe.Add(ref targetRow, kx) += Unsafe.Add(ref tapRow, kx);
                }
            }
            source = ref Unsafe.Add(ref source, patch);
        }
    }
}
