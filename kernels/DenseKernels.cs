// Dense (fully connected) layer: every GEMM of the forward and backward pass, and the bias
// gradient.
//
// All three products of an MLP layer are one strided GEMM C[M,N] = op(A)[M,K] * op(B)[K,N]:
//   forward   Z[B,out]  = X[B,in]   * W[in,out]          (+ bias, ReLU, dropout in the epilogue)
//   dX        dX[B,in]  = dZ[B,out] * W[in,out]^T        (epilogue: ReLU' and dropout mask of X)
//   dW        dW[in,out]= X[B,in]^T * dZ[B,out]
// A is addressed as a[m * AStrideM + k * AStrideK] and B as b[k * BStrideK + n * BStrideN], so a
// transpose is only a choice of strides. C is dense row-major [M,N] and is always OVERWRITTEN
// (gradients are recomputed every step; nothing accumulates across launches and no atomics
// are used, so results do not depend on scheduling).
//
// Weights are stored [in, out] row-major (the export to PyTorch's [out, in] layout transposes).
//
// Two variants, picked by the launcher per accelerator kind:
//  * DenseGemmRegisterTiledKernel: no shared memory, no barriers; each thread owns a 4x8 tile
//    of C held in scalars and walks tiles with a grid-stride loop. For ILGPU's CPU accelerator,
//    where a group barrier synchronises real OS threads.
//  * DenseGemmSharedTiledKernel<TTile>: classic GPU tiling. A group of ThreadsX x ThreadsY threads
//    stages a (4*ThreadsY) x Depth slice of A and a Depth x (4*ThreadsX) slice of B in shared
//    memory; each thread owns a 4x4 tile of C strided by the group size (conflict-free shared
//    reads, coalesced stores). Tile sizes are compile-time constants from TTile, so the same
//    code runs with 16x16 groups on a GPU and with 2x2 groups in CPU-accelerator tests.
// ILGPU kernels cannot hold a register tile in an array without spilling it to local memory, so
// the micro-tiles are unrolled into scalars. Each `// <generated: NAME>` region is the output of
// tests/GpuMlp.Tests/Codegen/MicroTileSourceTests.cs for the tile constants below; that test
// regenerates every region and fails, printing the new text, when one differs.
//
// DenseBiasGradientKernel: db[N] = sum over rows of dZ[M,N]; overwrites db; each column is
// summed by one thread in row order (deterministic).
using ILGPU;

namespace GpuMlp.Kernels;

/// <summary>Problem size and operand strides of one strided GEMM (see file header).</summary>
public struct GemmShape
{
    public int M;
    public int N;
    public int K;
    public int AStrideM;
    public int AStrideK;
    public int BStrideK;
    public int BStrideN;

    /// <summary>C = A * B with A [M,K] and B [K,N], both row-major.</summary>
    public static GemmShape Plain(int m, int n, int k) =>
        new() { M = m, N = n, K = k, AStrideM = k, AStrideK = 1, BStrideK = n, BStrideN = 1 };

    /// <summary>C = A * B^T with A [M,K] and B stored [N,K] row-major.</summary>
    public static GemmShape TransposedB(int m, int n, int k) =>
        new() { M = m, N = n, K = k, AStrideM = k, AStrideK = 1, BStrideK = 1, BStrideN = k };

    /// <summary>C = A^T * B with A stored [K,M] row-major and B [K,N].</summary>
    public static GemmShape TransposedA(int m, int n, int k) =>
        new() { M = m, N = n, K = k, AStrideM = 1, AStrideK = m, BStrideK = n, BStrideN = 1 };
}

/// <summary>What the GEMM does with each accumulated value before storing it.</summary>
public enum EpilogueMode
{
    /// <summary>C = acc.</summary>
    Store = 0,
    /// <summary>C = acc + bias[n].</summary>
    Bias = 1,
    /// <summary>C = max(acc + bias[n], 0).</summary>
    BiasRelu = 2,
    /// <summary>C = dropout(max(acc + bias[n], 0)) with the mask of DropoutKernels.Keep.</summary>
    BiasReluDropout = 3,
    /// <summary>C = aux[m,n] &gt; 0 ? acc * KeepScale : 0. Backward through ReLU and dropout at
    /// once: aux is the layer's forward output, which is positive exactly where ReLU was active
    /// and the element was kept.</summary>
    ActiveMask = 4,
}

/// <summary>Epilogue parameters; the dropout fields are used by BiasReluDropout and
/// KeepScale by ActiveMask.</summary>
public struct DenseEpilogue
{
    public EpilogueMode Mode;
    public uint Seed;
    public uint Step;
    public uint Layer;
    public uint DropThreshold;
    public float KeepScale;

    public static DenseEpilogue Of(EpilogueMode mode) => new() { Mode = mode, KeepScale = 1f };
}

/// <summary>Compile-time tile shape of the shared-memory GEMM.</summary>
public interface IGemmTile
{
    int ThreadsX { get; }
    int ThreadsY { get; }
    int Depth { get; }
}

/// <summary>64x64 block tile, 16-deep, 256 threads: the GPU tile.</summary>
public struct GemmTile16x16x16 : IGemmTile
{
    public readonly int ThreadsX => 16;
    public readonly int ThreadsY => 16;
    public readonly int Depth => 16;
}

/// <summary>32x32 block tile, 16-deep, 64 threads: the GPU tile for GEMMs too small to give every
/// multiprocessor a 64x64 block (batch 128: the forward 784->512 GEMM has only 16 of them).</summary>
public struct GemmTile8x8x16 : IGemmTile
{
    public readonly int ThreadsX => 8;
    public readonly int ThreadsY => 8;
    public readonly int Depth => 16;
}

/// <summary>8x8 block tile, 4-deep, 4 threads: exercises the GPU variant's logic (partial tiles,
/// barriers, strided micro-tiles) on the CPU accelerator at small shapes.</summary>
public struct GemmTile2x2x4 : IGemmTile
{
    public readonly int ThreadsX => 2;
    public readonly int ThreadsY => 2;
    public readonly int Depth => 4;
}

public static class DenseKernels
{
    /// <summary>Rows and columns of C one thread of the register-tiled kernel owns.</summary>
    public const int RegisterTileRows = 4;
    public const int RegisterTileColumns = 8;

    /// <summary>Rows and columns of C one thread of the shared-memory kernel owns (strided by the
    /// group size), so a block is SharedMicroTile x (ThreadsY, ThreadsX) of C.</summary>
    public const int SharedMicroTile = 4;

    private static void StoreOutput(
        GemmShape shape, DenseEpilogue epilogue, ArrayView<float> c,
        ArrayView<float> bias, ArrayView<float> aux, int m, int n, float acc)
    {
        if (m >= shape.M || n >= shape.N)
            return;
        int index = m * shape.N + n;
        float value = acc;
        if (epilogue.Mode == EpilogueMode.ActiveMask)
        {
            value = aux[index] > 0f ? acc * epilogue.KeepScale : 0f;
        }
        else if (epilogue.Mode != EpilogueMode.Store)
        {
            value += bias[n];
            if (epilogue.Mode != EpilogueMode.Bias)
            {
                value = value > 0f ? value : 0f;
                if (epilogue.Mode == EpilogueMode.BiasReluDropout)
                {
                    value = DropoutKernels.Keep(epilogue.Seed, epilogue.Step, epilogue.Layer,
                        (uint)index, epilogue.DropThreshold)
                        ? value * epilogue.KeepScale
                        : 0f;
                }
            }
        }
        c[index] = value;
    }

    public static void DenseGemmRegisterTiledKernel(
        GemmShape shape, DenseEpilogue epilogue,
        ArrayView<float> a, ArrayView<float> b, ArrayView<float> c,
        ArrayView<float> bias, ArrayView<float> aux)
    {
        int tilesN = (shape.N + RegisterTileColumns - 1) / RegisterTileColumns;
        int tilesM = (shape.M + RegisterTileRows - 1) / RegisterTileRows;
        int tileCount = tilesM * tilesN;
        int stride = Grid.DimX * Group.DimX;
        int lastRow = shape.M - 1, lastColumn = shape.N - 1;
        for (int tile = Grid.GlobalIndex.X; tile < tileCount; tile += stride)
        {
            int m0 = tile / tilesN * RegisterTileRows;
            int n0 = tile % tilesN * RegisterTileColumns;
            // Out-of-range rows/columns of an edge tile read the last valid row/column instead:
            // the loop stays branch-free and those lanes are never stored.
            // <generated: register tile>
            int rowA0 = IntrinsicMath.Min(m0, lastRow) * shape.AStrideM;
            int rowA1 = IntrinsicMath.Min(m0 + 1, lastRow) * shape.AStrideM;
            int rowA2 = IntrinsicMath.Min(m0 + 2, lastRow) * shape.AStrideM;
            int rowA3 = IntrinsicMath.Min(m0 + 3, lastRow) * shape.AStrideM;
            int colB0 = IntrinsicMath.Min(n0, lastColumn) * shape.BStrideN;
            int colB1 = IntrinsicMath.Min(n0 + 1, lastColumn) * shape.BStrideN;
            int colB2 = IntrinsicMath.Min(n0 + 2, lastColumn) * shape.BStrideN;
            int colB3 = IntrinsicMath.Min(n0 + 3, lastColumn) * shape.BStrideN;
            int colB4 = IntrinsicMath.Min(n0 + 4, lastColumn) * shape.BStrideN;
            int colB5 = IntrinsicMath.Min(n0 + 5, lastColumn) * shape.BStrideN;
            int colB6 = IntrinsicMath.Min(n0 + 6, lastColumn) * shape.BStrideN;
            int colB7 = IntrinsicMath.Min(n0 + 7, lastColumn) * shape.BStrideN;
            float c00 = 0f, c01 = 0f, c02 = 0f, c03 = 0f, c04 = 0f, c05 = 0f, c06 = 0f, c07 = 0f;
            float c10 = 0f, c11 = 0f, c12 = 0f, c13 = 0f, c14 = 0f, c15 = 0f, c16 = 0f, c17 = 0f;
            float c20 = 0f, c21 = 0f, c22 = 0f, c23 = 0f, c24 = 0f, c25 = 0f, c26 = 0f, c27 = 0f;
            float c30 = 0f, c31 = 0f, c32 = 0f, c33 = 0f, c34 = 0f, c35 = 0f, c36 = 0f, c37 = 0f;
            int aOffset = 0, bOffset = 0;
            for (int k = 0; k < shape.K; k++)
            {
                float a0 = a[rowA0 + aOffset];
                float a1 = a[rowA1 + aOffset];
                float a2 = a[rowA2 + aOffset];
                float a3 = a[rowA3 + aOffset];
                float b0 = b[bOffset + colB0];
                float b1 = b[bOffset + colB1];
                float b2 = b[bOffset + colB2];
                float b3 = b[bOffset + colB3];
                float b4 = b[bOffset + colB4];
                float b5 = b[bOffset + colB5];
                float b6 = b[bOffset + colB6];
                float b7 = b[bOffset + colB7];
                c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3; c04 += a0 * b4; c05 += a0 * b5; c06 += a0 * b6; c07 += a0 * b7;
                c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3; c14 += a1 * b4; c15 += a1 * b5; c16 += a1 * b6; c17 += a1 * b7;
                c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3; c24 += a2 * b4; c25 += a2 * b5; c26 += a2 * b6; c27 += a2 * b7;
                c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3; c34 += a3 * b4; c35 += a3 * b5; c36 += a3 * b6; c37 += a3 * b7;
                aOffset += shape.AStrideK;
                bOffset += shape.BStrideK;
            }
            StoreOutput(shape, epilogue, c, bias, aux, m0 + 0, n0 + 0, c00);
            StoreOutput(shape, epilogue, c, bias, aux, m0 + 0, n0 + 1, c01);
            StoreOutput(shape, epilogue, c, bias, aux, m0 + 0, n0 + 2, c02);
            StoreOutput(shape, epilogue, c, bias, aux, m0 + 0, n0 + 3, c03);
            StoreOutput(shape, epilogue, c, bias, aux, m0 + 0, n0 + 4, c04);
            StoreOutput(shape, epilogue, c, bias, aux, m0 + 0, n0 + 5, c05);
            StoreOutput(shape, epilogue, c, bias, aux, m0 + 0, n0 + 6, c06);
            StoreOutput(shape, epilogue, c, bias, aux, m0 + 0, n0 + 7, c07);
            StoreOutput(shape, epilogue, c, bias, aux, m0 + 1, n0 + 0, c10);
            StoreOutput(shape, epilogue, c, bias, aux, m0 + 1, n0 + 1, c11);
            StoreOutput(shape, epilogue, c, bias, aux, m0 + 1, n0 + 2, c12);
            StoreOutput(shape, epilogue, c, bias, aux, m0 + 1, n0 + 3, c13);
            StoreOutput(shape, epilogue, c, bias, aux, m0 + 1, n0 + 4, c14);
            StoreOutput(shape, epilogue, c, bias, aux, m0 + 1, n0 + 5, c15);
            StoreOutput(shape, epilogue, c, bias, aux, m0 + 1, n0 + 6, c16);
            StoreOutput(shape, epilogue, c, bias, aux, m0 + 1, n0 + 7, c17);
            StoreOutput(shape, epilogue, c, bias, aux, m0 + 2, n0 + 0, c20);
            StoreOutput(shape, epilogue, c, bias, aux, m0 + 2, n0 + 1, c21);
            StoreOutput(shape, epilogue, c, bias, aux, m0 + 2, n0 + 2, c22);
            StoreOutput(shape, epilogue, c, bias, aux, m0 + 2, n0 + 3, c23);
            StoreOutput(shape, epilogue, c, bias, aux, m0 + 2, n0 + 4, c24);
            StoreOutput(shape, epilogue, c, bias, aux, m0 + 2, n0 + 5, c25);
            StoreOutput(shape, epilogue, c, bias, aux, m0 + 2, n0 + 6, c26);
            StoreOutput(shape, epilogue, c, bias, aux, m0 + 2, n0 + 7, c27);
            StoreOutput(shape, epilogue, c, bias, aux, m0 + 3, n0 + 0, c30);
            StoreOutput(shape, epilogue, c, bias, aux, m0 + 3, n0 + 1, c31);
            StoreOutput(shape, epilogue, c, bias, aux, m0 + 3, n0 + 2, c32);
            StoreOutput(shape, epilogue, c, bias, aux, m0 + 3, n0 + 3, c33);
            StoreOutput(shape, epilogue, c, bias, aux, m0 + 3, n0 + 4, c34);
            StoreOutput(shape, epilogue, c, bias, aux, m0 + 3, n0 + 5, c35);
            StoreOutput(shape, epilogue, c, bias, aux, m0 + 3, n0 + 6, c36);
            StoreOutput(shape, epilogue, c, bias, aux, m0 + 3, n0 + 7, c37);
            // </generated>
        }
    }

    public static void DenseGemmSharedTiledKernel<TTile>(
        GemmShape shape, DenseEpilogue epilogue,
        ArrayView<float> a, ArrayView<float> b, ArrayView<float> c,
        ArrayView<float> bias, ArrayView<float> aux)
        where TTile : struct, IGemmTile
    {
        var tile = default(TTile);
        int threadsX = tile.ThreadsX, threadsY = tile.ThreadsY, depth = tile.Depth;
        int blockM = SharedMicroTile * threadsY, blockN = SharedMicroTile * threadsX;
        // aTile is [depth][blockM], bTile is [depth][blockN].
        var aTile = SharedMemory.Allocate<float>(SharedMicroTile * tile.ThreadsY * tile.Depth);
        var bTile = SharedMemory.Allocate<float>(SharedMicroTile * tile.ThreadsX * tile.Depth);
        int tx = Group.IdxX, ty = Group.IdxY;
        int threadId = ty * threadsX + tx, threadCount = threadsX * threadsY;
        int m0 = Grid.IdxY * blockM, n0 = Grid.IdxX * blockN;
        // <generated: shared accumulators>
        float c00 = 0f, c01 = 0f, c02 = 0f, c03 = 0f;
        float c10 = 0f, c11 = 0f, c12 = 0f, c13 = 0f;
        float c20 = 0f, c21 = 0f, c22 = 0f, c23 = 0f;
        float c30 = 0f, c31 = 0f, c32 = 0f, c33 = 0f;
        // </generated>
        for (int k0 = 0; k0 < shape.K; k0 += depth)
        {
            // Consecutive threads walk the operand's unit-stride dimension so global loads coalesce.
            for (int i = threadId; i < depth * blockM; i += threadCount)
            {
                int mm = shape.AStrideM == 1 ? i % blockM : i / depth;
                int kk = shape.AStrideM == 1 ? i / blockM : i % depth;
                int m = m0 + mm, k = k0 + kk;
                aTile[kk * blockM + mm] = m < shape.M && k < shape.K
                    ? a[m * shape.AStrideM + k * shape.AStrideK]
                    : 0f;
            }
            for (int i = threadId; i < depth * blockN; i += threadCount)
            {
                int nn = shape.BStrideN == 1 ? i % blockN : i / depth;
                int kk = shape.BStrideN == 1 ? i / blockN : i % depth;
                int n = n0 + nn, k = k0 + kk;
                bTile[kk * blockN + nn] = n < shape.N && k < shape.K
                    ? b[k * shape.BStrideK + n * shape.BStrideN]
                    : 0f;
            }
            Group.Barrier();
            for (int kk = 0; kk < depth; kk++)
            {
                // <generated: shared products>
                float a0 = aTile[kk * blockM + ty + 0 * threadsY];
                float a1 = aTile[kk * blockM + ty + 1 * threadsY];
                float a2 = aTile[kk * blockM + ty + 2 * threadsY];
                float a3 = aTile[kk * blockM + ty + 3 * threadsY];
                float b0 = bTile[kk * blockN + tx + 0 * threadsX];
                float b1 = bTile[kk * blockN + tx + 1 * threadsX];
                float b2 = bTile[kk * blockN + tx + 2 * threadsX];
                float b3 = bTile[kk * blockN + tx + 3 * threadsX];
                c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
                c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
                c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
                c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3;
                // </generated>
            }
            Group.Barrier();
        }
        // <generated: shared stores>
        StoreOutput(shape, epilogue, c, bias, aux, m0 + ty + 0 * threadsY, n0 + tx + 0 * threadsX, c00);
        StoreOutput(shape, epilogue, c, bias, aux, m0 + ty + 0 * threadsY, n0 + tx + 1 * threadsX, c01);
        StoreOutput(shape, epilogue, c, bias, aux, m0 + ty + 0 * threadsY, n0 + tx + 2 * threadsX, c02);
        StoreOutput(shape, epilogue, c, bias, aux, m0 + ty + 0 * threadsY, n0 + tx + 3 * threadsX, c03);
        StoreOutput(shape, epilogue, c, bias, aux, m0 + ty + 1 * threadsY, n0 + tx + 0 * threadsX, c10);
        StoreOutput(shape, epilogue, c, bias, aux, m0 + ty + 1 * threadsY, n0 + tx + 1 * threadsX, c11);
        StoreOutput(shape, epilogue, c, bias, aux, m0 + ty + 1 * threadsY, n0 + tx + 2 * threadsX, c12);
        StoreOutput(shape, epilogue, c, bias, aux, m0 + ty + 1 * threadsY, n0 + tx + 3 * threadsX, c13);
        StoreOutput(shape, epilogue, c, bias, aux, m0 + ty + 2 * threadsY, n0 + tx + 0 * threadsX, c20);
        StoreOutput(shape, epilogue, c, bias, aux, m0 + ty + 2 * threadsY, n0 + tx + 1 * threadsX, c21);
        StoreOutput(shape, epilogue, c, bias, aux, m0 + ty + 2 * threadsY, n0 + tx + 2 * threadsX, c22);
        StoreOutput(shape, epilogue, c, bias, aux, m0 + ty + 2 * threadsY, n0 + tx + 3 * threadsX, c23);
        StoreOutput(shape, epilogue, c, bias, aux, m0 + ty + 3 * threadsY, n0 + tx + 0 * threadsX, c30);
        StoreOutput(shape, epilogue, c, bias, aux, m0 + ty + 3 * threadsY, n0 + tx + 1 * threadsX, c31);
        StoreOutput(shape, epilogue, c, bias, aux, m0 + ty + 3 * threadsY, n0 + tx + 2 * threadsX, c32);
        StoreOutput(shape, epilogue, c, bias, aux, m0 + ty + 3 * threadsY, n0 + tx + 3 * threadsX, c33);
        // </generated>
    }

    public static void DenseBiasGradientKernel(
        ArrayView<float> dz, int rows, int columns, ArrayView<float> db)
    {
        int stride = Grid.DimX * Group.DimX;
        for (int n = Grid.GlobalIndex.X; n < columns; n += stride)
        {
            float sum = 0f;
            for (int m = 0; m < rows; m++)
                sum += dz[m * columns + n];
            db[n] = sum;
        }
    }
}
