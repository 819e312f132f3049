// Dense layer on the CPU accelerator: the strided GEMM of DenseKernels.cs (same GemmShape layouts,
// same epilogues, same dropout hash) and the bias gradient, with SIMD inner loops.
//
// Shapes are those of DenseKernels.cs: C[M,N] = epilogue(op(A)[M,K] * op(B)[K,N]), A addressed
// a[m * AStrideM + k * AStrideK], B addressed b[k * BStrideK + n * BStrideN]; C is dense row-major
// and OVERWRITTEN. Optionally (sumBColumns != 0) the same launch OVERWRITES
// bColumnSums[n] = sum over k of op(B)[k, n]: for dW = X^T dZ that is the bias gradient of the
// layer, so the backward pass needs no separate bias-gradient launch.
// DenseBiasGradientSimdKernel: db[N] = column sums of dz[M,N]; OVERWRITES db.
//
// Work split (persistent kernels: one launch index per worker thread). B is cut into panels of
// PanelWidth = TileVectors * Lanes columns (64 on the Vector512 path; one or two vectors when N is
// that narrow), the rows into equal blocks of at most 24 six-row tiles (144 rows of A stay in L2
// while every panel passes over them), with as many blocks as make blocks * panels a multiple of
// the worker count (a long K keeps the fewest blocks instead, B streaming once per block, though
// never fewer units than workers while tiles remain); worker w takes a contiguous range of the
// (block, panel) units, block-major.
// Per unit it copies the panel into a private [K, PanelWidth] buffer (zero-padded past N,
// transposed when B is stored [N,K]; read in place when B's rows are already that panel), then for
// every 6 rows of the block computes a 6 x PanelWidth register tile over the whole K (accumulators never leave registers), applies the epilogue and
// stores. Every element of C is computed by exactly one worker, always with the
// k-order 0, 1, ..., K-1, so results do not depend on the worker count or on scheduling.
// A long K (more than MaxPackedRows rows, e.g. a convolution's weight gradient, K = batch x pixels)
// is taken in chunks of KChunkRows: each chunk of the panel is packed and passed over by every tile
// of the block while it is in L2, the tiles' accumulators are parked in a per-worker buffer between
// chunks and reloaded, and the chunks run in k order, so every element sees the same operations in
// the same order (the same bits) as with one pass over the whole K.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using ILGPU;

namespace GpuMlp.Kernels.Cpu;

public static class CpuDenseKernels
{
    /// <summary>Rows of the GEMM register tile.</summary>
    public const int TileRows = 6;

    [CpuOnlyKernel]
    public static void DenseGemmSimdKernel(
        GemmShape shape, DenseEpilogue epilogue, CpuSimdWidth width,
        ArrayView<float> a, ArrayView<float> b, ArrayView<float> c,
        ArrayView<float> bias, ArrayView<float> aux,
        int sumBColumns, ArrayView<float> bColumnSums)
    {
        CpuDenseSimd.Gemm(Grid.GlobalIndex.X, Grid.DimX * Group.DimX, shape, epilogue, width,
            a, b, c, bias, aux, sumBColumns, bColumnSums);
    }

    [CpuOnlyKernel]
    public static void DenseBiasGradientSimdKernel(
        CpuSimdWidth width, ArrayView<float> dz, int rows, int columns, ArrayView<float> db)
    {
        CpuDenseSimd.BiasGradient(Grid.GlobalIndex.X, Grid.DimX * Group.DimX, width, dz, rows, columns, db);
    }
}

/// <summary>Columns of the register tile, in vectors: a compile-time constant per instantiation.</summary>
internal interface ITileColumns
{
    static abstract int Vectors { get; }
}

internal readonly struct OneVector : ITileColumns
{
    public static int Vectors => 1;
}

internal readonly struct TwoVectors : ITileColumns
{
    public static int Vectors => 2;
}

internal readonly struct FourVectors : ITileColumns
{
    public static int Vectors => 4;
}

/// <summary>The [External] bodies of the CpuDenseKernels kernels (plain .NET, run by RyuJIT).</summary>
internal static partial class CpuDenseSimd
{
    private const int TileRows = CpuDenseKernels.TileRows;

    /// <summary>Most 6-row tiles per row block: 144 rows of A (450 KB at K = 784) plus one packed
    /// panel (200 KB) stay in a 1-2 MB L2, and a batch of 128 is one block, so each panel is packed
    /// once per launch.</summary>
    private const int MaxBlockTiles = 24;

    /// <summary>The most rows of K packed at once (a [2048, 64] panel is 512 KB); a longer K is taken
    /// in chunks of <see cref="KChunkRows"/>.</summary>
    private const int MaxPackedRows = CpuConvolutionKernels.MaxFusedPatch;

    /// <summary>Rows of K per chunk of a long K: a [1024, 64] packed chunk (256 KB) and the block's
    /// rows of A for it stay in L2 while every tile of the block passes over them.</summary>
    private const int KChunkRows = 1024;

    /// <summary>Each worker thread's parked tile accumulators between the chunks of a long K
    /// ([tiles of a block, 6, panel width]), grown on demand.</summary>
    [ThreadStatic]
    private static float[]? parkedTiles;

    /// <summary>Each worker thread's packed B panel, grown on demand (ILGPU's CPU worker threads
    /// live as long as their accelerator).</summary>
    [ThreadStatic]
    private static float[]? packedPanel;

    [ILGPU.Frontend.External("gpumlp_cpu_dense_gemm")]
    public static void Gemm(
        int worker, int workers, GemmShape shape, DenseEpilogue epilogue, CpuSimdWidth width,
        ArrayView<float> a, ArrayView<float> b, ArrayView<float> c,
        ArrayView<float> bias, ArrayView<float> aux, int sumBColumns, ArrayView<float> bColumnSums)
    {
        Gemm(worker, workers, shape, epilogue, width, new GemmOperands(
            ref Simd.Ref(a), ref Simd.Ref(b), ref Simd.Ref(c), ref Simd.Ref(bias), ref Simd.Ref(aux),
            ref Simd.Ref(bColumnSums), sumBColumns != 0));
    }

    /// <summary>The GEMM on memory given as references (the [External] entry and CpuProgram share it).</summary>
    internal static void Gemm(int worker, int workers, in GemmShape shape, in DenseEpilogue epilogue, CpuSimdWidth width, in GemmOperands operands)
    {
        switch (width)
        {
            case CpuSimdWidth.Vector512:
                Gemm<Vector512Ops, Vector512<float>>(worker, workers, shape, epilogue, operands);
                break;
            case CpuSimdWidth.Vector256:
                Gemm<Vector256Ops, Vector256<float>>(worker, workers, shape, epilogue, operands);
                break;
            default:
                Gemm<ScalarOps, float>(worker, workers, shape, epilogue, operands);
                break;
        }
    }

    [ILGPU.Frontend.External("gpumlp_cpu_dense_bias_gradient")]
    public static void BiasGradient(
        int worker, int workers, CpuSimdWidth width, ArrayView<float> dz, int rows, int columns, ArrayView<float> db) =>
        BiasGradient(worker, workers, width, ref Simd.Ref(dz), rows, columns, ref Simd.Ref(db));

    internal static void BiasGradient(int worker, int workers, CpuSimdWidth width, ref float dz, int rows, int columns, ref float db)
    {
        switch (width)
        {
            case CpuSimdWidth.Vector512:
                ColumnSums<Vector512Ops, Vector512<float>>(worker, workers, ref dz, rows, columns, ref db);
                break;
            case CpuSimdWidth.Vector256:
                ColumnSums<Vector256Ops, Vector256<float>>(worker, workers, ref dz, rows, columns, ref db);
                break;
            default:
                ColumnSums<ScalarOps, float>(worker, workers, ref dz, rows, columns, ref db);
                break;
        }
    }

    /// <summary>The GEMM's memory, as managed references.</summary>
    internal readonly ref struct GemmOperands(
        ref float a, ref float b, ref float c, ref float bias, ref float aux, ref float columnSums, bool sumColumns)
    {
        public readonly ref float A = ref a;
        public readonly ref float B = ref b;
        public readonly ref float C = ref c;
        public readonly ref float Bias = ref bias;
        public readonly ref float Aux = ref aux;
        public readonly ref float ColumnSums = ref columnSums;
        public readonly bool SumColumns = sumColumns;
    }

    private static void Gemm<TOps, TV>(int worker, int workers, in GemmShape shape, in DenseEpilogue epilogue, in GemmOperands operands)
        where TOps : struct, ISimdOps<TV>
        where TV : struct
    {
        // The narrowest tile that covers N: a 10-column GEMM uses one vector, not TileVectors.
        int vectorsNeeded = (shape.N + TOps.Lanes - 1) / TOps.Lanes;
        if (vectorsNeeded <= 1)
            Gemm<TOps, TV, OneVector>(worker, workers, shape, epilogue, operands);
        else if (vectorsNeeded <= 2 || TOps.TileVectors == 2)
            Gemm<TOps, TV, TwoVectors>(worker, workers, shape, epilogue, operands);
        else
            Gemm<TOps, TV, FourVectors>(worker, workers, shape, epilogue, operands);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Gemm<TOps, TV, TColumns>(
        int worker, int workers, in GemmShape shape, in DenseEpilogue epilogue, in GemmOperands operands)
        where TOps : struct, ISimdOps<TV>
        where TV : struct
        where TColumns : struct, ITileColumns
    {
        int panelWidth = TColumns.Vectors * TOps.Lanes;
        int panels = (shape.N + panelWidth - 1) / panelWidth;
        int rowTiles = (shape.M + TileRows - 1) / TileRows;
        int blockMultiple = workers / GreatestCommonDivisor(panels, workers);
        int blocks = (rowTiles + MaxBlockTiles - 1) / MaxBlockTiles;
        // A long K streams B from memory once per block: more blocks only to even out the workers'
        // shares when K is short enough for B's panels to stay cached.
        if (shape.K <= MaxPackedRows)
            blocks = (blocks + blockMultiple - 1) / blockMultiple * blockMultiple;
        // ...but never fewer units than workers while there are tiles to share: a first
        // convolution's weight gradient (25 x 32 from K = batch x pixels) is one block of one panel,
        // which left every worker but one idle.
        else if (blocks * panels < workers)
            blocks = Math.Min(rowTiles, (workers + panels - 1) / panels);
        int tilesPerBlock = (rowTiles + blocks - 1) / blocks;
        int units = panels * blocks;
        int firstUnit = Simd.RangeStart(units, worker, workers);
        int endUnit = Simd.RangeStart(units, worker + 1, workers);
        if (firstUnit >= endUnit)
            return;

        int chunkRows = shape.K <= MaxPackedRows ? shape.K : KChunkRows;
        int chunks = (shape.K + chunkRows - 1) / chunkRows;
        int packedLength = chunkRows * panelWidth;
        if (packedPanel is null || packedPanel.Length < packedLength)
            packedPanel = GC.AllocateUninitializedArray<float>(Math.Max(packedLength, 2 * (packedPanel?.Length ?? 0)), pinned: true);
        ref float packed = ref MemoryMarshal.GetArrayDataReference(packedPanel);
        Span<float> tile = stackalloc float[TileRows * 64];
        ref float tileStart = ref MemoryMarshal.GetReference(tile);
        int tileLength = TileRows * panelWidth;
        if (chunks > 1 && (parkedTiles is null || parkedTiles.Length < tilesPerBlock * tileLength))
            parkedTiles = GC.AllocateUninitializedArray<float>(tilesPerBlock * tileLength, pinned: true);
        ref float parked = ref chunks > 1 ? ref MemoryMarshal.GetArrayDataReference(parkedTiles!) : ref tileStart;
        uint dropoutKey = epilogue.Mode == EpilogueMode.BiasReluDropout
            ? CounterHash.Key(epilogue.Seed, epilogue.Step, epilogue.Layer)
            : 0u;

        // B's rows are already the packed panel when it is one panel wide, row-major and its row
        // stride is the panel width (dz [Rows, O] of a convolution's weight gradient at O = 32 or
        // 64): the tiles read its chunks in place, and nothing is copied.
        bool inPlace = shape.BStrideN == 1 && shape.BStrideK == panelWidth && shape.N == panelWidth;
        int packedIndex = -1;
        for (int unit = firstUnit; unit < endUnit; unit++)
        {
            int block = unit / panels, panel = unit - (block * panels);
            int n0 = panel * panelWidth;
            int columns = Math.Min(panelWidth, shape.N - n0);
            int firstTile = block * tilesPerBlock;
            int endTile = Math.Min(rowTiles, (block + 1) * tilesPerBlock);
            for (int chunk = 0; chunk < chunks; chunk++)
            {
                int k0 = chunk * chunkRows, rows = Math.Min(chunkRows, shape.K - k0);
                ref float panelRows = ref packed;
                if (inPlace)
                {
                    panelRows = ref Unsafe.Add(ref operands.B, (nint)k0 * shape.BStrideK);
                }
                else if (chunks > 1 || panel != packedIndex)
                {
                    // One chunk: the panel stays packed for the next block's unit on this worker.
                    PackPanel(shape, ref Unsafe.Add(ref operands.B, (nint)k0 * shape.BStrideK), rows, n0, columns, panelWidth, ref packed);
                    packedIndex = chunks > 1 ? -1 : panel;
                }
                bool resume = chunk > 0, last = chunk == chunks - 1;
                if (operands.SumColumns && block == 0)
                    SumPanelColumns<TOps, TV>(rows, ref panelRows, panelWidth, columns, resume, ref Unsafe.Add(ref operands.ColumnSums, n0));
                ref float a = ref Unsafe.Add(ref operands.A, (nint)k0 * shape.AStrideK);
                for (int t = firstTile; t < endTile; t++)
                {
                    int m0 = t * TileRows;
                    ref float accumulators = ref chunks > 1 ? ref Unsafe.Add(ref parked, (t - firstTile) * tileLength) : ref tileStart;
                    MultiplyTile<TOps, TV, TColumns>(shape, ref a, m0, rows, ref panelRows, resume, ref accumulators);
                    if (last)
                        StoreTile<TOps, TV>(shape, epilogue, dropoutKey, operands, m0, n0, columns, panelWidth, ref accumulators);
                }
            }
        }
    }

    private static int GreatestCommonDivisor(int a, int b)
    {
        while (b != 0)
            (a, b) = (b, a % b);
        return a;
    }

    /// <summary>packed[k, j] = op(B)[k, n0 + j] for k &lt; rows and j &lt; columns, 0 for columns &lt;= j &lt;
    /// panelWidth; <paramref name="b"/> is op(B)'s first row of the chunk (row k0 of a long K).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void PackPanel(in GemmShape shape, ref float b, int rows, int n0, int columns, int panelWidth, ref float packed)
    {
        int k = rows;
        if (columns < panelWidth)
            MemoryMarshal.CreateSpan(ref packed, k * panelWidth).Clear();
        if (shape.BStrideN == 1)
        {
            // Rows of the panel are contiguous in B (plain and A^T layouts).
            for (int kk = 0; kk < k; kk++)
            {
                MemoryMarshal.CreateReadOnlySpan(ref Unsafe.Add(ref b, (kk * shape.BStrideK) + n0), columns)
                    .CopyTo(MemoryMarshal.CreateSpan(ref Unsafe.Add(ref packed, kk * panelWidth), columns));
            }
            return;
        }
        // B stored [N,K] (the B^T layout): columns of the panel are contiguous in B; transposed in
        // blocks of 8 columns so both sides stay within a few cache lines.
        for (int j0 = 0; j0 < columns; j0 += 8)
        {
            int j1 = Math.Min(columns, j0 + 8);
            for (int kk = 0; kk < k; kk++)
            {
                ref float destination = ref Unsafe.Add(ref packed, kk * panelWidth);
                ref float source = ref Unsafe.Add(ref b, kk * shape.BStrideK);
                for (int j = j0; j < j1; j++)
                    Unsafe.Add(ref destination, j) = Unsafe.Add(ref source, (n0 + j) * shape.BStrideN);
            }
        }
    }

    /// <summary>sums[j] = sum over k of packed[k, j] for j &lt; columns, added in k order (the
    /// order DenseBiasGradientKernel uses, so the result is the same bits); with
    /// <paramref name="resume"/> the sums go on from the values in sums (the earlier chunks').</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void SumPanelColumns<TOps, TV>(int k, ref float packed, int panelWidth, int columns, bool resume, ref float sums)
        where TOps : struct, ISimdOps<TV>
        where TV : struct
    {
        for (int j = 0; j < columns; j += TOps.Lanes)
        {
            TV sum = resume ? Simd.LoadPartial<TOps, TV>(ref Unsafe.Add(ref sums, j), columns - j, 0f) : TOps.Zero;
            ref float column = ref Unsafe.Add(ref packed, j);
            for (int kk = 0; kk < k; kk++)
                sum = TOps.Add(sum, TOps.Load(ref Unsafe.Add(ref column, kk * panelWidth)));
            Simd.StorePartial<TOps, TV>(sum, ref Unsafe.Add(ref sums, j), columns - j);
        }
    }

    /// <summary>tile[r, j] = sum over k &lt; rows of A[m0 + r, k] * packed[k, j] for 6 rows and the
    /// panel's width (<paramref name="a"/> at the chunk's first k); with <paramref name="resume"/> the
    /// sums go on from the tile's values (the earlier chunks'). Rows past M read row M - 1 (never
    /// stored), so the loop has no edge cases. Compiled fully optimised at once (no tier-0 warm-up):
    /// 24 zmm accumulators on the Vector512 path.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void MultiplyTile<TOps, TV, TColumns>(in GemmShape shape, ref float a, int m0, int rows, ref float packed, bool resume, ref float tile)
        where TOps : struct, ISimdOps<TV>
        where TV : struct
        where TColumns : struct, ITileColumns
    {
        int lanes = TOps.Lanes, panelWidth = TColumns.Vectors * TOps.Lanes;
        int lastRow = shape.M - 1, strideM = shape.AStrideM, strideK = shape.AStrideK, k = rows;
        nint row0 = Math.Min(m0, lastRow) * strideM;
        nint row1 = Math.Min(m0 + 1, lastRow) * strideM;
        nint row2 = Math.Min(m0 + 2, lastRow) * strideM;
        nint row3 = Math.Min(m0 + 3, lastRow) * strideM;
        nint row4 = Math.Min(m0 + 4, lastRow) * strideM;
        nint row5 = Math.Min(m0 + 5, lastRow) * strideM;
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
        ref float ak = ref a;
        ref float bk = ref packed;
        for (int kk = 0; kk < k; kk++)
        {
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
            ak = ref Unsafe.Add(ref ak, strideK);
            bk = ref Unsafe.Add(ref bk, panelWidth);
        }
        StoreRow<TOps, TV, TColumns>(ref tile, c00, c01, c02, c03);
        StoreRow<TOps, TV, TColumns>(ref Unsafe.Add(ref tile, panelWidth), c10, c11, c12, c13);
        StoreRow<TOps, TV, TColumns>(ref Unsafe.Add(ref tile, 2 * panelWidth), c20, c21, c22, c23);
        StoreRow<TOps, TV, TColumns>(ref Unsafe.Add(ref tile, 3 * panelWidth), c30, c31, c32, c33);
        StoreRow<TOps, TV, TColumns>(ref Unsafe.Add(ref tile, 4 * panelWidth), c40, c41, c42, c43);
        StoreRow<TOps, TV, TColumns>(ref Unsafe.Add(ref tile, 5 * panelWidth), c50, c51, c52, c53);
    }

    /// <summary>The inverse of <see cref="StoreRow{TOps, TV, TColumns}"/>: a parked row of accumulators.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void LoadRow<TOps, TV, TColumns>(ref float row, out TV v0, out TV v1, out TV v2, out TV v3)
        where TOps : struct, ISimdOps<TV>
        where TV : struct
        where TColumns : struct, ITileColumns
    {
        v0 = TOps.Load(ref row);
        v1 = TColumns.Vectors > 1 ? TOps.Load(ref Unsafe.Add(ref row, TOps.Lanes)) : TOps.Zero;
        v2 = TColumns.Vectors > 2 ? TOps.Load(ref Unsafe.Add(ref row, 2 * TOps.Lanes)) : TOps.Zero;
        v3 = TColumns.Vectors > 2 ? TOps.Load(ref Unsafe.Add(ref row, 3 * TOps.Lanes)) : TOps.Zero;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreRow<TOps, TV, TColumns>(ref float row, TV v0, TV v1, TV v2, TV v3)
        where TOps : struct, ISimdOps<TV>
        where TV : struct
        where TColumns : struct, ITileColumns
    {
        TOps.Store(v0, ref row);
        if (TColumns.Vectors > 1)
            TOps.Store(v1, ref Unsafe.Add(ref row, TOps.Lanes));
        if (TColumns.Vectors > 2)
        {
            TOps.Store(v2, ref Unsafe.Add(ref row, 2 * TOps.Lanes));
            TOps.Store(v3, ref Unsafe.Add(ref row, 3 * TOps.Lanes));
        }
    }

    /// <summary>Applies the epilogue to the valid rows and columns of a tile and stores them in C
    /// (the operations and their order are those of DenseKernels.StoreOutput).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void StoreTile<TOps, TV>(
        in GemmShape shape, in DenseEpilogue epilogue, uint dropoutKey, in GemmOperands operands,
        int m0, int n0, int columns, int panelWidth, ref float tile)
        where TOps : struct, ISimdOps<TV>
        where TV : struct
    {
        int rows = Math.Min(TileRows, shape.M - m0);
        EpilogueMode mode = epilogue.Mode;
        TV keepScale = TOps.Broadcast(epilogue.KeepScale);
        for (int r = 0; r < rows; r++)
        {
            int rowStart = ((m0 + r) * shape.N) + n0;
            ref float outputRow = ref Unsafe.Add(ref operands.C, rowStart);
            ref float tileRow = ref Unsafe.Add(ref tile, r * panelWidth);
            for (int j = 0; j < columns; j += TOps.Lanes)
            {
                int count = columns - j;
                TV value = TOps.Load(ref Unsafe.Add(ref tileRow, j));
                if (mode == EpilogueMode.ActiveMask)
                {
                    TV active = Simd.LoadPartial<TOps, TV>(ref Unsafe.Add(ref operands.Aux, rowStart + j), count, 0f);
                    value = TOps.WherePositive(active, TOps.Multiply(value, keepScale));
                }
                else if (mode != EpilogueMode.Store)
                {
                    value = TOps.Add(value, Simd.LoadPartial<TOps, TV>(ref Unsafe.Add(ref operands.Bias, n0 + j), count, 0f));
                    if (mode != EpilogueMode.Bias)
                    {
                        value = TOps.WherePositive(value, value);
                        if (mode == EpilogueMode.BiasReluDropout)
                            value = TOps.Dropout(value, dropoutKey, (uint)(rowStart + j), epilogue.DropThreshold, epilogue.KeepScale);
                    }
                }
                Simd.StorePartial<TOps, TV>(value, ref Unsafe.Add(ref outputRow, j), count);
            }
        }
    }

    /// <summary>db[n] = sum over rows of dz[m, n], vectors of columns split across workers, rows added
    /// in order (the bits of DenseBiasGradientKernel).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ColumnSums<TOps, TV>(int worker, int workers, ref float dz, int rows, int columns, ref float db)
        where TOps : struct, ISimdOps<TV>
        where TV : struct
    {
        int vectors = (columns + TOps.Lanes - 1) / TOps.Lanes;
        int end = Simd.RangeStart(vectors, worker + 1, workers);
        for (int v = Simd.RangeStart(vectors, worker, workers); v < end; v++)
        {
            int n = v * TOps.Lanes, count = columns - n;
            TV sum = TOps.Zero;
            for (int m = 0; m < rows; m++)
                sum = TOps.Add(sum, Simd.LoadPartial<TOps, TV>(ref Unsafe.Add(ref dz, (m * columns) + n), count, 0f));
            Simd.StorePartial<TOps, TV>(sum, ref Unsafe.Add(ref db, n), count);
        }
    }
}
