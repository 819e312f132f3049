// A convolution's two GEMMs over x on the CPU accelerator, with no im2col anywhere: the forward rows
// and the weight gradient (CpuConvolutionKernels's ConvForwardRowsCpuKernel and
// ConvWeightGradientCpuKernel run them).
//
// Shapes (ConvShape; stride 1): x [B, C, H, W]; weights [O, Patch], Patch = C * KH * KW; P = OutH *
// OutW pixels per image; Rows = B * P. cols [Rows, Patch] = im2col(x) is never stored: with x padded
// to [C, H + 2 pad, W + 2 pad] (Hp, Wp), cols[b * P + p, m] = padded_b[pixelOffset[p] +
// patchOffset[m]], where pixelOffset[(oy, ox)] = oy * Wp + ox and patchOffset[(c, ky, kx)] =
// c * Hp * Wp + ky * Wp + kx, both tables built once per launch. A GEMM tile of 6 rows then reads its
// A operand through the tables (MultiplyTileIndexed): 6 row offsets for the tile, one offset per k.
//   ConvForwardRows: nhwc [Rows, O] = epilogue(cols x weights^T), OVERWRITTEN; bias (+ ReLU) as the
//     GEMM's Bias/BiasRelu epilogue. Images split over the workers; each worker packs weights^T once.
//     Fused with the 2x2 pool after it, an image's rows stay in the worker's buffer and the pool's y
//     and argmax [B, O, OutH / 2, OutW / 2] are OVERWRITTEN from there instead (nhwc untouched).
//   ConvWeightGradient: dWeights [O, Patch] = (cols^T x dz)^T, OVERWRITTEN; cols^T's rows are patch
//     positions (row offsets from patchOffset), its k the batch's pixels in order (pixelOffset per
//     image). The (panel, row tile) units split over the workers; every tile's accumulators run
//     through the images in order, parked between them.
//   ConvInputGradient: dx [B, C, H, W] = col2im(dz x weights), OVERWRITTEN, as one GEMM per image
//     with no dCols: rows are the input pixels q = (iy, ix), columns the channels c, and k runs over
//     the taps (ky, kx) in descending order, then o: A[q, (tap, o)] = dzPadded[rowOffset[q] +
//     tapOffset[tap] + o], where dzPadded is the image's dz rows [OutH, OutW, O] inside a border of
//     KH - 1 - pad rows and KW - 1 - pad columns of zeros, rowOffset[(iy, ix)] = (iy * Wd + ix) * O
//     and tapOffset[(ky, kx)] = ((KH - 1 - ky) * Wd + KW - 1 - kx) * O. Each tap's sum over o is
//     formed apart, from 0, then added to the element's total (MultiplyTileTaps): exactly col2im's
//     order of the GEMM's dCols values (a window's taps added pixel after pixel, i.e. (ky, kx)
//     descending), a tap in the border adding +0, which changes no total (each starts at +0 and so is
//     never -0; weights are finite). The tile is stored transposed into dx's planes. Images split over
//     the workers; each packs the weights as [(tap, o), c] panels once.
// Nothing accumulates across launches; no atomics. An image whose padding is 0 is read in place;
// otherwise each worker copies it into a zero-bordered buffer (its borders zeroed once per launch).
//
// Bits: every element is the plain GEMM's k-ordered sum of the same products with the same
// epilogue (the tiles, the FMA chain and the parked accumulators are CpuDenseKernels.cs's), so both
// give exactly what im2col followed by the materialised GEMMs gave (tests: CpuConvolutionKernelTests).
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace GpuMlp.Kernels.Cpu;

internal static partial class CpuDenseSimd
{
    /// <summary>Most row tiles a worker takes through the batch at once in ConvWeightGradient: their
    /// parked accumulators (74 KB at 64 columns) stay in L2 with the image and its dz.</summary>
    private const int MaxConvBlockTiles = 48;

    /// <summary>Each worker thread's zero-bordered copy of one image ([C, Hp, Wp]), grown on demand.</summary>
    [ThreadStatic]
    private static float[]? paddedImage;

    /// <summary>Each worker thread's pixelOffset then patchOffset tables ([P + Patch]), or
    /// ConvInputGradient's rowOffset and tapOffset tables ([H * W + KH * KW]), grown on demand.</summary>
    [ThreadStatic]
    private static int[]? convOffsets;

    /// <summary>Each worker thread's zero-bordered dz rows of one image for ConvInputGradient
    /// ([OutH + 2 (KH - 1 - pad), OutW + 2 (KW - 1 - pad), O]), grown on demand.</summary>
    [ThreadStatic]
    private static float[]? paddedGradient;

    /// <summary>Each worker thread's packed weights^T for ConvForwardRows (every panel, [panels,
    /// Patch, panel width]), grown on demand.</summary>
    [ThreadStatic]
    private static float[]? packedWeights;

    /// <summary>nhwc [Rows, O] = relu?(cols x weights^T + bias) with cols read through x (file header);
    /// or, with <paramref name="pool"/>, that image's rows kept in the worker's buffer and pooled from
    /// there (CpuPooling.ForwardNhwcImage: y and argmax [B, O, OutH / 2, OutW / 2]), nhwc not written.
    /// Patch must be at most CpuConvolutionKernels.MaxFusedPatch (the packed weights are one chunk).</summary>
    internal static void ConvForwardRows(int worker, int workers, in ConvShape conv, bool relu, CpuSimdWidth width, ref float x,
        ref float weights, ref float bias, ref float nhwc, in PooledRows pool)
    {
        switch (width)
        {
            case CpuSimdWidth.Vector512:
                ConvForwardRows<Vector512Ops, Vector512<float>>(worker, workers, conv, relu, ref x, ref weights, ref bias, ref nhwc, pool);
                break;
            case CpuSimdWidth.Vector256:
                ConvForwardRows<Vector256Ops, Vector256<float>>(worker, workers, conv, relu, ref x, ref weights, ref bias, ref nhwc, pool);
                break;
            default:
                ConvForwardRows<ScalarOps, float>(worker, workers, conv, relu, ref x, ref weights, ref bias, ref nhwc, pool);
                break;
        }
    }

    /// <summary>The 2x2 pool a fused convolution forward writes instead of its rows: Pooled false for
    /// none (Y and Argmax are then never dereferenced).</summary>
    internal readonly ref struct PooledRows(bool pooled, in PoolShape shape, ref float y, ref int argmax)
    {
        public readonly bool Pooled = pooled;
        public readonly PoolShape Shape = shape;
        public readonly ref float Y = ref y;
        public readonly ref int Argmax = ref argmax;
    }

    /// <summary>Each worker thread's rows of one image when a fused forward pools them ([P, O]),
    /// grown on demand.</summary>
    [ThreadStatic]
    private static float[]? imageOutput;

    /// <summary>dWeights [O, Patch] = (cols^T x dz)^T with cols read through x (file header).</summary>
    internal static void ConvWeightGradient(int worker, int workers, in ConvShape conv, CpuSimdWidth width, ref float dz, ref float x,
        ref float dWeights)
    {
        switch (width)
        {
            case CpuSimdWidth.Vector512:
                ConvWeightGradient<Vector512Ops, Vector512<float>>(worker, workers, conv, ref dz, ref x, ref dWeights);
                break;
            case CpuSimdWidth.Vector256:
                ConvWeightGradient<Vector256Ops, Vector256<float>>(worker, workers, conv, ref dz, ref x, ref dWeights);
                break;
            default:
                ConvWeightGradient<ScalarOps, float>(worker, workers, conv, ref dz, ref x, ref dWeights);
                break;
        }
    }

    private static void ConvForwardRows<TOps, TV>(int worker, int workers, in ConvShape conv, bool relu, ref float x, ref float weights,
        ref float bias, ref float nhwc, in PooledRows pool)
        where TOps : struct, ISimdOps<TV>
        where TV : struct
    {
        // The tile the plain GEMM chooses for N = O (the same register tile, the same bits).
        int vectorsNeeded = (conv.OutChannels + TOps.Lanes - 1) / TOps.Lanes;
        if (vectorsNeeded <= 1)
            ConvForwardRows<TOps, TV, OneVector>(worker, workers, conv, relu, ref x, ref weights, ref bias, ref nhwc, pool);
        else if (vectorsNeeded <= 2 || TOps.TileVectors == 2)
            ConvForwardRows<TOps, TV, TwoVectors>(worker, workers, conv, relu, ref x, ref weights, ref bias, ref nhwc, pool);
        else
            ConvForwardRows<TOps, TV, FourVectors>(worker, workers, conv, relu, ref x, ref weights, ref bias, ref nhwc, pool);
    }

    private static void ConvWeightGradient<TOps, TV>(int worker, int workers, in ConvShape conv, ref float dz, ref float x, ref float dWeights)
        where TOps : struct, ISimdOps<TV>
        where TV : struct
    {
        int vectorsNeeded = (conv.OutChannels + TOps.Lanes - 1) / TOps.Lanes;
        if (vectorsNeeded <= 1)
            ConvWeightGradient<TOps, TV, OneVector>(worker, workers, conv, ref dz, ref x, ref dWeights);
        else if (vectorsNeeded <= 2 || TOps.TileVectors == 2)
            ConvWeightGradient<TOps, TV, TwoVectors>(worker, workers, conv, ref dz, ref x, ref dWeights);
        else
            ConvWeightGradient<TOps, TV, FourVectors>(worker, workers, conv, ref dz, ref x, ref dWeights);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ConvForwardRows<TOps, TV, TColumns>(int worker, int workers, in ConvShape conv, bool relu, ref float x,
        ref float weights, ref float bias, ref float nhwc, in PooledRows pool)
        where TOps : struct, ISimdOps<TV>
        where TV : struct
        where TColumns : struct, ITileColumns
    {
        int first = Simd.RangeStart(conv.Batch, worker, workers), end = Simd.RangeStart(conv.Batch, worker + 1, workers);
        if (first >= end)
            return;
        int panelWidth = TColumns.Vectors * TOps.Lanes, outChannels = conv.OutChannels, patch = conv.Patch, pixels = conv.OutPixels;
        int panels = (outChannels + panelWidth - 1) / panelWidth, panelLength = patch * panelWidth;
        // The GEMM the kernel stands for: [Rows, O] = cols [Rows, Patch] x weights^T, weights [O, Patch].
        var product = GemmShape.TransposedB(conv.Rows, outChannels, patch);
        if (packedWeights is null || packedWeights.Length < panels * panelLength)
            packedWeights = GC.AllocateUninitializedArray<float>(panels * panelLength, pinned: true);
        ref float packed = ref MemoryMarshal.GetArrayDataReference(packedWeights);
        for (int panel = 0; panel < panels; panel++)
        {
            int n0 = panel * panelWidth;
            PackPanel(product, ref weights, patch, n0, Math.Min(panelWidth, outChannels - n0), panelWidth,
                ref Unsafe.Add(ref packed, panel * panelLength));
        }
        var source = new PaddedImages(conv, ref x);
        ref int pixelOffsets = ref source.PixelOffsets, patchOffsets = ref source.PatchOffsets;
        var epilogue = DenseEpilogue.Of(relu ? EpilogueMode.BiasRelu : EpilogueMode.Bias);
        // Pooled: each image's rows go to the worker's buffer (rows counted from the image's first),
        // and the pool reads them there while they are in L2.
        if (pool.Pooled && (imageOutput is null || imageOutput.Length < pixels * outChannels))
            imageOutput = GC.AllocateUninitializedArray<float>(pixels * outChannels, pinned: true);
        ref float imageRows = ref pool.Pooled ? ref MemoryMarshal.GetArrayDataReference(imageOutput!) : ref nhwc;
        var operands = new GemmOperands(ref x, ref weights, ref imageRows, ref bias, ref bias, ref bias, sumColumns: false);
        Span<float> tile = stackalloc float[TileRows * 64];
        ref float tileStart = ref MemoryMarshal.GetReference(tile);
        int imageTiles = (pixels + TileRows - 1) / TileRows;
        for (int b = first; b < end; b++)
        {
            ref float image = ref source.Image(b);
            // Stores stop at this image's last row (the rows of its last tile past P repeat row P - 1).
            int firstRow = pool.Pooled ? 0 : b * pixels;
            var store = product;
            store.M = firstRow + pixels;
            for (int panel = 0; panel < panels; panel++)
            {
                int n0 = panel * panelWidth, columns = Math.Min(panelWidth, outChannels - n0);
                ref float panelRows = ref Unsafe.Add(ref packed, panel * panelLength);
                for (int t = 0; t < imageTiles; t++)
                {
                    var rows = TileOffsets.Of(ref pixelOffsets, t * TileRows, pixels);
                    MultiplyTileIndexed<TOps, TV, TColumns>(ref image, rows, ref patchOffsets, patch, ref panelRows, resume: false, ref tileStart);
                    StoreTile<TOps, TV>(store, epilogue, 0u, operands, firstRow + (t * TileRows), n0, columns, panelWidth, ref tileStart);
                }
            }
            if (pool.Pooled)
                CpuPooling.ForwardNhwcImage(pool.Shape, ref imageRows, b, ref pool.Y, ref pool.Argmax);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ConvWeightGradient<TOps, TV, TColumns>(int worker, int workers, in ConvShape conv, ref float dz, ref float x,
        ref float dWeights)
        where TOps : struct, ISimdOps<TV>
        where TV : struct
        where TColumns : struct, ITileColumns
    {
        int panelWidth = TColumns.Vectors * TOps.Lanes;
        int outChannels = conv.OutChannels, patch = conv.Patch, pixels = conv.OutPixels;
        int panels = (outChannels + panelWidth - 1) / panelWidth;
        int rowTiles = (patch + TileRows - 1) / TileRows;
        int units = panels * rowTiles;
        int unit = Simd.RangeStart(units, worker, workers), endUnit = Simd.RangeStart(units, worker + 1, workers);
        if (unit >= endUnit)
            return;
        int tileLength = TileRows * panelWidth;
        if (parkedTiles is null || parkedTiles.Length < MaxConvBlockTiles * tileLength)
            parkedTiles = GC.AllocateUninitializedArray<float>(MaxConvBlockTiles * tileLength, pinned: true);
        // dz's [P, O] block of an image is the packed panel itself when O is the panel's width.
        bool inPlace = outChannels == panelWidth;
        var dzShape = GemmShape.Plain(pixels, outChannels, pixels);
        if (!inPlace && (packedPanel is null || packedPanel.Length < pixels * panelWidth))
            packedPanel = GC.AllocateUninitializedArray<float>(pixels * panelWidth, pinned: true);
        ref float parked = ref MemoryMarshal.GetArrayDataReference(parkedTiles);
        var source = new PaddedImages(conv, ref x);
        ref int pixelOffsets = ref source.PixelOffsets, patchOffsets = ref source.PatchOffsets;
        while (unit < endUnit)
        {
            // One block: consecutive tiles of one panel.
            int panel = unit / rowTiles, firstTile = unit - (panel * rowTiles);
            int endTile = Math.Min(rowTiles, Math.Min(firstTile + MaxConvBlockTiles, firstTile + (endUnit - unit)));
            unit += endTile - firstTile;
            int n0 = panel * panelWidth, columns = Math.Min(panelWidth, outChannels - n0);
            for (int b = 0; b < conv.Batch; b++)
            {
                ref float image = ref source.Image(b);
                ref float dzImage = ref Unsafe.Add(ref dz, (nint)b * pixels * outChannels);
                ref float panelRows = ref dzImage;
                if (!inPlace)
                {
                    panelRows = ref MemoryMarshal.GetArrayDataReference(packedPanel!);
                    PackPanel(dzShape, ref dzImage, pixels, n0, columns, panelWidth, ref panelRows);
                }
                for (int t = firstTile; t < endTile; t++)
                {
                    // cols^T's rows are patch positions, its k the image's pixels.
                    var rows = TileOffsets.Of(ref patchOffsets, t * TileRows, patch);
                    MultiplyTileIndexed<TOps, TV, TColumns>(ref image, rows, ref pixelOffsets, pixels, ref panelRows,
                        resume: b > 0, ref Unsafe.Add(ref parked, (t - firstTile) * tileLength));
                }
            }
            // dWeights[n, m] = tile[m, n]: the transpose written straight from the accumulators.
            for (int t = firstTile; t < endTile; t++)
            {
                ref float tile = ref Unsafe.Add(ref parked, (t - firstTile) * tileLength);
                int rows = Math.Min(TileRows, patch - (t * TileRows));
                for (int r = 0; r < rows; r++)
                {
                    int m = (t * TileRows) + r;
                    for (int j = 0; j < columns; j++)
                        Unsafe.Add(ref dWeights, ((n0 + j) * patch) + m) = Unsafe.Add(ref tile, (r * panelWidth) + j);
                }
            }
        }
    }

    /// <summary>Whether ConvInputGradient takes this shape: a padding of at most the kernel's size
    /// less one (a wider padding has windows wholly outside the image, which the tap tables do not
    /// cover).</summary>
    internal static bool TakesInputGradient(in ConvShape conv) =>
        conv.Padding <= conv.KernelH - 1 && conv.Padding <= conv.KernelW - 1;

    /// <summary>dx [B, C, H, W] = col2im(dz x weights) with no dCols (file header); images split over
    /// the workers. The shape must pass <see cref="TakesInputGradient"/>.</summary>
    internal static void ConvInputGradient(int worker, int workers, in ConvShape conv, CpuSimdWidth width, ref float dz, ref float weights,
        ref float dx)
    {
        switch (width)
        {
            case CpuSimdWidth.Vector512:
                ConvInputGradient<Vector512Ops, Vector512<float>>(worker, workers, conv, ref dz, ref weights, ref dx);
                break;
            case CpuSimdWidth.Vector256:
                ConvInputGradient<Vector256Ops, Vector256<float>>(worker, workers, conv, ref dz, ref weights, ref dx);
                break;
            default:
                ConvInputGradient<ScalarOps, float>(worker, workers, conv, ref dz, ref weights, ref dx);
                break;
        }
    }

    private static void ConvInputGradient<TOps, TV>(int worker, int workers, in ConvShape conv, ref float dz, ref float weights, ref float dx)
        where TOps : struct, ISimdOps<TV>
        where TV : struct
    {
        // Two vectors of channels at most: each tile keeps its totals and its taps' sums in registers.
        if (conv.Channels <= TOps.Lanes)
            ConvInputGradient<TOps, TV, OneVector>(worker, workers, conv, ref dz, ref weights, ref dx);
        else
            ConvInputGradient<TOps, TV, TwoVectors>(worker, workers, conv, ref dz, ref weights, ref dx);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ConvInputGradient<TOps, TV, TColumns>(int worker, int workers, in ConvShape conv, ref float dz, ref float weights,
        ref float dx)
        where TOps : struct, ISimdOps<TV>
        where TV : struct
        where TColumns : struct, ITileColumns
    {
        int first = Simd.RangeStart(conv.Batch, worker, workers), end = Simd.RangeStart(conv.Batch, worker + 1, workers);
        if (first >= end)
            return;
        int channels = conv.Channels, outChannels = conv.OutChannels, kernelH = conv.KernelH, kernelW = conv.KernelW;
        int taps = kernelH * kernelW, depth = taps * outChannels, pixels = conv.Height * conv.Width, patch = conv.Patch;
        int outW = conv.OutW, outPixels = conv.OutPixels, padding = conv.Padding;
        int borderH = kernelH - 1 - padding, borderW = kernelW - 1 - padding;
        int paddedWidth = outW + (2 * borderW), paddedLength = (conv.OutH + (2 * borderH)) * paddedWidth * outChannels;
        int panelWidth = TColumns.Vectors * TOps.Lanes, panels = (channels + panelWidth - 1) / panelWidth, panelLength = depth * panelWidth;
        if (packedWeights is null || packedWeights.Length < panels * panelLength)
            packedWeights = GC.AllocateUninitializedArray<float>(panels * panelLength, pinned: true);
        if (paddedGradient is null || paddedGradient.Length < paddedLength)
            paddedGradient = GC.AllocateUninitializedArray<float>(paddedLength, pinned: true);
        if (convOffsets is null || convOffsets.Length < pixels + taps)
            convOffsets = new int[pixels + taps];
        ref float packed = ref MemoryMarshal.GetArrayDataReference(packedWeights);
        ref float padded = ref MemoryMarshal.GetArrayDataReference(paddedGradient);
        ref int rowOffsets = ref MemoryMarshal.GetArrayDataReference(convOffsets);
        ref int tapOffsets = ref Unsafe.Add(ref rowOffsets, pixels);
        // packed[panel][(tap, o), j] = weights[o, n0 + j, ky, kx] (0 past C), taps (ky, kx) descending.
        MemoryMarshal.CreateSpan(ref packed, panels * panelLength).Clear();
        for (int tap = 0; tap < taps; tap++)
        {
            int ky = kernelH - 1 - (tap / kernelW), kx = kernelW - 1 - (tap % kernelW);
            Unsafe.Add(ref tapOffsets, tap) = ((((kernelH - 1 - ky) * paddedWidth) + (kernelW - 1 - kx)) * outChannels);
            for (int o = 0; o < outChannels; o++)
            {
                for (int c = 0; c < channels; c++)
                {
                    int panel = c / panelWidth;
                    Unsafe.Add(ref packed, (panel * panelLength) + (((tap * outChannels) + o) * panelWidth) + (c - (panel * panelWidth))) =
                        Unsafe.Add(ref weights, (o * patch) + (((c * kernelH) + ky) * kernelW) + kx);
                }
            }
        }
        for (int q = 0; q < pixels; q++)
        {
            int iy = q / conv.Width;
            Unsafe.Add(ref rowOffsets, q) = ((iy * paddedWidth) + (q - (iy * conv.Width))) * outChannels;
        }
        // The border stays 0 for the whole launch: only the interior is copied, an output row at a time.
        MemoryMarshal.CreateSpan(ref padded, paddedLength).Clear();
        Span<float> tile = stackalloc float[TileRows * 64];
        ref float tileStart = ref MemoryMarshal.GetReference(tile);
        int inputTiles = (pixels + TileRows - 1) / TileRows, rowLength = outW * outChannels;
        for (int b = first; b < end; b++)
        {
            ref float image = ref Unsafe.Add(ref dz, (nint)b * outPixels * outChannels);
            for (int oy = 0; oy < conv.OutH; oy++)
            {
                MemoryMarshal.CreateReadOnlySpan(ref Unsafe.Add(ref image, oy * rowLength), rowLength)
                    .CopyTo(MemoryMarshal.CreateSpan(ref Unsafe.Add(ref padded, (((oy + borderH) * paddedWidth) + borderW) * outChannels), rowLength));
            }
            ref float target = ref Unsafe.Add(ref dx, (nint)b * channels * pixels);
            for (int panel = 0; panel < panels; panel++)
            {
                int n0 = panel * panelWidth, columns = Math.Min(panelWidth, channels - n0);
                ref float panelRows = ref Unsafe.Add(ref packed, panel * panelLength);
                for (int t = 0; t < inputTiles; t++)
                {
                    var rows = TileOffsets.Of(ref rowOffsets, t * TileRows, pixels);
                    MultiplyTileTaps<TOps, TV, TColumns>(ref padded, rows, ref tapOffsets, taps, outChannels, ref panelRows, ref tileStart);
                    // dx[c, q] = tile[q, c]: the tile stored transposed into the channels' planes.
                    int count = Math.Min(TileRows, pixels - (t * TileRows));
                    for (int r = 0; r < count; r++)
                    {
                        int q = (t * TileRows) + r;
                        for (int j = 0; j < columns; j++)
                            Unsafe.Add(ref target, ((n0 + j) * pixels) + q) = Unsafe.Add(ref tileStart, (r * panelWidth) + j);
                    }
                }
            }
        }
    }

    /// <summary>tile[r, j] = sum over the taps in order of (sum over o &lt; <paramref name="depth"/>, from
    /// 0, of a[rows.Row_r + tapOffsets[tap] + o] * packed[(tap, o), j]), each tap's sum formed apart
    /// and then added to the running total (which starts at 0): one or two vectors of columns.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void MultiplyTileTaps<TOps, TV, TColumns>(ref float a, in TileOffsets rows, ref int tapOffsets, int taps, int depth,
        ref float packed, ref float tile)
        where TOps : struct, ISimdOps<TV>
        where TV : struct
        where TColumns : struct, ITileColumns
    {
        int lanes = TOps.Lanes, panelWidth = TColumns.Vectors * TOps.Lanes;
        nint row0 = rows.Row0, row1 = rows.Row1, row2 = rows.Row2, row3 = rows.Row3, row4 = rows.Row4, row5 = rows.Row5;
        TV c00 = TOps.Zero, c01 = TOps.Zero, c10 = TOps.Zero, c11 = TOps.Zero, c20 = TOps.Zero, c21 = TOps.Zero;
        TV c30 = TOps.Zero, c31 = TOps.Zero, c40 = TOps.Zero, c41 = TOps.Zero, c50 = TOps.Zero, c51 = TOps.Zero;
        ref float bk = ref packed;
        for (int tap = 0; tap < taps; tap++)
        {
            ref float ak = ref Unsafe.Add(ref a, Unsafe.Add(ref tapOffsets, tap));
            TV s00 = TOps.Zero, s01 = TOps.Zero, s10 = TOps.Zero, s11 = TOps.Zero, s20 = TOps.Zero, s21 = TOps.Zero;
            TV s30 = TOps.Zero, s31 = TOps.Zero, s40 = TOps.Zero, s41 = TOps.Zero, s50 = TOps.Zero, s51 = TOps.Zero;
            for (int o = 0; o < depth; o++)
            {
                TV b0 = TOps.Load(ref bk);
                TV b1 = TColumns.Vectors > 1 ? TOps.Load(ref Unsafe.Add(ref bk, lanes)) : default;
                TV x = TOps.Broadcast(Unsafe.Add(ref ak, row0));
                s00 = TOps.MultiplyAdd(x, b0, s00);
                if (TColumns.Vectors > 1)
                    s01 = TOps.MultiplyAdd(x, b1, s01);
                x = TOps.Broadcast(Unsafe.Add(ref ak, row1));
                s10 = TOps.MultiplyAdd(x, b0, s10);
                if (TColumns.Vectors > 1)
                    s11 = TOps.MultiplyAdd(x, b1, s11);
                x = TOps.Broadcast(Unsafe.Add(ref ak, row2));
                s20 = TOps.MultiplyAdd(x, b0, s20);
                if (TColumns.Vectors > 1)
                    s21 = TOps.MultiplyAdd(x, b1, s21);
                x = TOps.Broadcast(Unsafe.Add(ref ak, row3));
                s30 = TOps.MultiplyAdd(x, b0, s30);
                if (TColumns.Vectors > 1)
                    s31 = TOps.MultiplyAdd(x, b1, s31);
                x = TOps.Broadcast(Unsafe.Add(ref ak, row4));
                s40 = TOps.MultiplyAdd(x, b0, s40);
                if (TColumns.Vectors > 1)
                    s41 = TOps.MultiplyAdd(x, b1, s41);
                x = TOps.Broadcast(Unsafe.Add(ref ak, row5));
                s50 = TOps.MultiplyAdd(x, b0, s50);
                if (TColumns.Vectors > 1)
                    s51 = TOps.MultiplyAdd(x, b1, s51);
                ak = ref Unsafe.Add(ref ak, 1);
                bk = ref Unsafe.Add(ref bk, panelWidth);
            }
            c00 = TOps.Add(c00, s00);
            c10 = TOps.Add(c10, s10);
            c20 = TOps.Add(c20, s20);
            c30 = TOps.Add(c30, s30);
            c40 = TOps.Add(c40, s40);
            c50 = TOps.Add(c50, s50);
            if (TColumns.Vectors > 1)
            {
                c01 = TOps.Add(c01, s01);
                c11 = TOps.Add(c11, s11);
                c21 = TOps.Add(c21, s21);
                c31 = TOps.Add(c31, s31);
                c41 = TOps.Add(c41, s41);
                c51 = TOps.Add(c51, s51);
            }
        }
        StoreRow<TOps, TV, TColumns>(ref tile, c00, c01, default, default);
        StoreRow<TOps, TV, TColumns>(ref Unsafe.Add(ref tile, panelWidth), c10, c11, default, default);
        StoreRow<TOps, TV, TColumns>(ref Unsafe.Add(ref tile, 2 * panelWidth), c20, c21, default, default);
        StoreRow<TOps, TV, TColumns>(ref Unsafe.Add(ref tile, 3 * panelWidth), c30, c31, default, default);
        StoreRow<TOps, TV, TColumns>(ref Unsafe.Add(ref tile, 4 * panelWidth), c40, c41, default, default);
        StoreRow<TOps, TV, TColumns>(ref Unsafe.Add(ref tile, 5 * panelWidth), c50, c51, default, default);
    }

    /// <summary>The six row offsets of a tile: table[first + r], rows past `count` repeating row
    /// count - 1 (computed, never stored).</summary>
    private readonly struct TileOffsets(nint row0, nint row1, nint row2, nint row3, nint row4, nint row5)
    {
        public readonly nint Row0 = row0, Row1 = row1, Row2 = row2, Row3 = row3, Row4 = row4, Row5 = row5;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static TileOffsets Of(ref int table, int first, int count)
        {
            int last = count - 1;
            return new TileOffsets(
                Unsafe.Add(ref table, Math.Min(first, last)), Unsafe.Add(ref table, Math.Min(first + 1, last)),
                Unsafe.Add(ref table, Math.Min(first + 2, last)), Unsafe.Add(ref table, Math.Min(first + 3, last)),
                Unsafe.Add(ref table, Math.Min(first + 4, last)), Unsafe.Add(ref table, Math.Min(first + 5, last)));
        }
    }

    /// <summary>The images of x as the tables address them: x itself when the padding is 0, else each
    /// image copied into the worker's zero-bordered buffer. Builds the worker's offset tables.</summary>
    private readonly ref struct PaddedImages
    {
        private readonly ref float x;
        private readonly ref float padded;
        private readonly int channels, height, width, padding, paddedWidth, paddedPlane, image;

        /// <summary>pixelOffset [P] and patchOffset [Patch] (file header): the worker's tables.</summary>
        public readonly ref int PixelOffsets, PatchOffsets;

        public PaddedImages(in ConvShape conv, ref float x)
        {
            this.x = ref x;
            channels = conv.Channels;
            height = conv.Height;
            width = conv.Width;
            padding = conv.Padding;
            paddedWidth = width + (2 * padding);
            paddedPlane = (height + (2 * padding)) * paddedWidth;
            image = channels * height * width;
            int pixels = conv.OutPixels, patch = conv.Patch, kernelW = conv.KernelW, taps = conv.KernelH * kernelW;
            if (convOffsets is null || convOffsets.Length < pixels + patch)
                convOffsets = new int[pixels + patch];
            PixelOffsets = ref MemoryMarshal.GetArrayDataReference(convOffsets);
            PatchOffsets = ref Unsafe.Add(ref PixelOffsets, pixels);
            for (int p = 0; p < pixels; p++)
            {
                int oy = p / conv.OutW;
                Unsafe.Add(ref PixelOffsets, p) = (oy * paddedWidth) + (p - (oy * conv.OutW));
            }
            for (int m = 0; m < patch; m++)
            {
                int c = m / taps, tap = m - (c * taps), ky = tap / kernelW;
                Unsafe.Add(ref PatchOffsets, m) = (c * paddedPlane) + (ky * paddedWidth) + (tap - (ky * kernelW));
            }
            if (padding == 0)
            {
                padded = ref x;
                return;
            }
            int length = channels * paddedPlane;
            if (paddedImage is null || paddedImage.Length < length)
                paddedImage = GC.AllocateUninitializedArray<float>(length, pinned: true);
            padded = ref MemoryMarshal.GetArrayDataReference(paddedImage);
            // The borders stay 0 for the whole launch: only the interiors are copied.
            MemoryMarshal.CreateSpan(ref padded, length).Clear();
        }

        /// <summary>Image b as the tables address it.</summary>
        public ref float Image(int b)
        {
            ref float source = ref Unsafe.Add(ref x, (nint)b * image);
            if (padding == 0)
                return ref source;
            for (int c = 0; c < channels; c++)
            {
                for (int y = 0; y < height; y++)
                {
                    MemoryMarshal.CreateReadOnlySpan(ref Unsafe.Add(ref source, (c * height * width) + (y * width)), width)
                        .CopyTo(MemoryMarshal.CreateSpan(ref Unsafe.Add(ref padded, (c * paddedPlane) + ((y + padding) * paddedWidth) + padding), width));
                }
            }
            return ref padded;
        }
    }

    /// <summary>MultiplyTile with A addressed through tables: A[r, k] = a[rows.Row_r + kOffsets[k]]
    /// for k &lt; <paramref name="k"/>; the same accumulation, in the same order, as MultiplyTile.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void MultiplyTileIndexed<TOps, TV, TColumns>(ref float a, in TileOffsets rows, ref int kOffsets, int k, ref float packed,
        bool resume, ref float tile)
        where TOps : struct, ISimdOps<TV>
        where TV : struct
        where TColumns : struct, ITileColumns
    {
        int lanes = TOps.Lanes, panelWidth = TColumns.Vectors * TOps.Lanes;
        nint row0 = rows.Row0, row1 = rows.Row1, row2 = rows.Row2, row3 = rows.Row3, row4 = rows.Row4, row5 = rows.Row5;
        TV c00 = TOps.Zero, c01 = TOps.Zero, c02 = TOps.Zero, c03 = TOps.Zero;
        TV c10 = TOps.Zero, c11 = TOps.Zero, c12 = TOps.Zero, c13 = TOps.Zero;
        TV c20 = TOps.Zero, c21 = TOps.Zero, c22 = TOps.Zero, c23 = TOps.Zero;
        TV c30 = TOps.Zero, c31 = TOps.Zero, c32 = TOps.Zero, c33 = TOps.Zero;
        TV c40 = TOps.Zero, c41 = TOps.Zero, c42 = TOps.Zero, c43 = TOps.Zero;
        TV c50 = TOps.Zero, c51 = TOps.Zero, c52 = TOps.Zero, c53 = TOps.Zero;
        if (resume)
        {
            LoadRow<TOps, TV, TColumns>(ref tile, out c00, out c01, out c02, out c03);
            LoadRow<TOps, TV, TColumns>(ref Unsafe.Add(ref tile, panelWidth), out c10, out c11, out c12, out c13);
            LoadRow<TOps, TV, TColumns>(ref Unsafe.Add(ref tile, 2 * panelWidth), out c20, out c21, out c22, out c23);
            LoadRow<TOps, TV, TColumns>(ref Unsafe.Add(ref tile, 3 * panelWidth), out c30, out c31, out c32, out c33);
            LoadRow<TOps, TV, TColumns>(ref Unsafe.Add(ref tile, 4 * panelWidth), out c40, out c41, out c42, out c43);
            LoadRow<TOps, TV, TColumns>(ref Unsafe.Add(ref tile, 5 * panelWidth), out c50, out c51, out c52, out c53);
        }
        ref float bk = ref packed;
        for (int kk = 0; kk < k; kk++)
        {
            ref float ak = ref Unsafe.Add(ref a, Unsafe.Add(ref kOffsets, kk));
            TV b0 = TOps.Load(ref bk);
            TV b1 = TColumns.Vectors > 1 ? TOps.Load(ref Unsafe.Add(ref bk, lanes)) : default;
            TV b2 = TColumns.Vectors > 2 ? TOps.Load(ref Unsafe.Add(ref bk, 2 * lanes)) : default;
            TV b3 = TColumns.Vectors > 2 ? TOps.Load(ref Unsafe.Add(ref bk, 3 * lanes)) : default;

            TV x = TOps.Broadcast(Unsafe.Add(ref ak, row0));
            c00 = TOps.MultiplyAdd(x, b0, c00);
            if (TColumns.Vectors > 1)
                c01 = TOps.MultiplyAdd(x, b1, c01);
            if (TColumns.Vectors > 2)
            {
                c02 = TOps.MultiplyAdd(x, b2, c02);
                c03 = TOps.MultiplyAdd(x, b3, c03);
            }
            x = TOps.Broadcast(Unsafe.Add(ref ak, row1));
            c10 = TOps.MultiplyAdd(x, b0, c10);
            if (TColumns.Vectors > 1)
                c11 = TOps.MultiplyAdd(x, b1, c11);
            if (TColumns.Vectors > 2)
            {
                c12 = TOps.MultiplyAdd(x, b2, c12);
                c13 = TOps.MultiplyAdd(x, b3, c13);
            }
            x = TOps.Broadcast(Unsafe.Add(ref ak, row2));
            c20 = TOps.MultiplyAdd(x, b0, c20);
            if (TColumns.Vectors > 1)
                c21 = TOps.MultiplyAdd(x, b1, c21);
            if (TColumns.Vectors > 2)
            {
                c22 = TOps.MultiplyAdd(x, b2, c22);
                c23 = TOps.MultiplyAdd(x, b3, c23);
            }
            x = TOps.Broadcast(Unsafe.Add(ref ak, row3));
            c30 = TOps.MultiplyAdd(x, b0, c30);
            if (TColumns.Vectors > 1)
                c31 = TOps.MultiplyAdd(x, b1, c31);
            if (TColumns.Vectors > 2)
            {
                c32 = TOps.MultiplyAdd(x, b2, c32);
                c33 = TOps.MultiplyAdd(x, b3, c33);
            }
            x = TOps.Broadcast(Unsafe.Add(ref ak, row4));
            c40 = TOps.MultiplyAdd(x, b0, c40);
            if (TColumns.Vectors > 1)
                c41 = TOps.MultiplyAdd(x, b1, c41);
            if (TColumns.Vectors > 2)
            {
                c42 = TOps.MultiplyAdd(x, b2, c42);
                c43 = TOps.MultiplyAdd(x, b3, c43);
            }
            x = TOps.Broadcast(Unsafe.Add(ref ak, row5));
            c50 = TOps.MultiplyAdd(x, b0, c50);
            if (TColumns.Vectors > 1)
                c51 = TOps.MultiplyAdd(x, b1, c51);
            if (TColumns.Vectors > 2)
            {
                c52 = TOps.MultiplyAdd(x, b2, c52);
                c53 = TOps.MultiplyAdd(x, b3, c53);
            }
            bk = ref Unsafe.Add(ref bk, panelWidth);
        }
        StoreRow<TOps, TV, TColumns>(ref tile, c00, c01, c02, c03);
        StoreRow<TOps, TV, TColumns>(ref Unsafe.Add(ref tile, panelWidth), c10, c11, c12, c13);
        StoreRow<TOps, TV, TColumns>(ref Unsafe.Add(ref tile, 2 * panelWidth), c20, c21, c22, c23);
        StoreRow<TOps, TV, TColumns>(ref Unsafe.Add(ref tile, 3 * panelWidth), c30, c31, c32, c33);
        StoreRow<TOps, TV, TColumns>(ref Unsafe.Add(ref tile, 4 * panelWidth), c40, c41, c42, c43);
        StoreRow<TOps, TV, TColumns>(ref Unsafe.Add(ref tile, 5 * panelWidth), c50, c51, c52, c53);
    }
}
