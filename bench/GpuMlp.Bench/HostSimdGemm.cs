using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace GpuMlp.Bench;

/// <summary>An independent hand-written comparison for the CPU SIMD kernels (not a ceiling: a real
/// BLAS sgemm is bench/reference/sgemm.py): a plain C# GEMM
/// C[M,N] = A[M,K] B[K,N] (row-major, no epilogue) run by Parallel.For on the thread pool, no ILGPU.
/// Each of ProcessorCount workers takes a contiguous range of 64-column panels (or of 6-row tiles
/// when there are fewer panels than workers) and computes 6 x 64 register tiles (24 Vector512
/// accumulators, B read in place, A broadcast) over the whole K; the 256-bit version uses 6 x 16
/// tiles. Leftover rows and columns take a one-row vector loop and a scalar loop.</summary>
public static class HostSimdGemm
{
    public static void Multiply(bool vector512, int m, int n, int k, float[] a, float[] b, float[] c)
    {
        int panelWidth = vector512 ? 64 : 16;
        int panels = n / panelWidth, tiles = m / 6;
        int workers = Environment.ProcessorCount;
        Parallel.For(0, workers, new ParallelOptions { MaxDegreeOfParallelism = workers }, worker =>
        {
            ref float a0 = ref MemoryMarshal.GetArrayDataReference(a);
            ref float b0 = ref MemoryMarshal.GetArrayDataReference(b);
            ref float c0 = ref MemoryMarshal.GetArrayDataReference(c);
            bool byPanel = panels >= workers;
            int units = byPanel ? panels : tiles;
            int first = (int)((long)units * worker / workers), end = (int)((long)units * (worker + 1) / workers);
            int panelStart = byPanel ? first : 0, panelEnd = byPanel ? end : panels;
            int tileStart = byPanel ? 0 : first, tileEnd = byPanel ? tiles : end;
            for (int p = panelStart; p < panelEnd; p++)
            {
                for (int t = tileStart; t < tileEnd; t++)
                {
                    if (vector512)
                        Tile512(k, n, ref Unsafe.Add(ref a0, t * 6 * k), ref Unsafe.Add(ref b0, p * 64), ref Unsafe.Add(ref c0, (t * 6 * n) + (p * 64)));
                    else
                        Tile256(k, n, ref Unsafe.Add(ref a0, t * 6 * k), ref Unsafe.Add(ref b0, p * 16), ref Unsafe.Add(ref c0, (t * 6 * n) + (p * 16)));
                }
            }
            // Leftover rows (all columns) and leftover columns (all full-tile rows), split by worker.
            for (int row = (tiles * 6) + worker; row < m; row += workers)
                Row(k, n, 0, ref Unsafe.Add(ref a0, row * k), ref b0, ref Unsafe.Add(ref c0, row * n));
            for (int row = worker; row < tiles * 6; row += workers)
                Row(k, n, panels * panelWidth, ref Unsafe.Add(ref a0, row * k), ref b0, ref Unsafe.Add(ref c0, row * n));
        });
    }

    /// <summary>The scalar comparison: each worker a contiguous range of rows, c[m, :] accumulated
    /// row by row of B (i-k-j order, every loop scalar; RyuJIT does not auto-vectorise).</summary>
    public static void MultiplyScalar(int m, int n, int k, float[] a, float[] b, float[] c)
    {
        int workers = Environment.ProcessorCount;
        Parallel.For(0, workers, new ParallelOptions { MaxDegreeOfParallelism = workers }, worker =>
        {
            int first = (int)((long)m * worker / workers), end = (int)((long)m * (worker + 1) / workers);
            for (int row = first; row < end; row++)
            {
                var output = c.AsSpan(row * n, n);
                output.Clear();
                for (int kk = 0; kk < k; kk++)
                {
                    float x = a[(row * k) + kk];
                    var bRow = b.AsSpan(kk * n, n);
                    for (int j = 0; j < output.Length; j++)
                        output[j] += x * bRow[j];
                }
            }
        });
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile512(int k, int n, ref float a, ref float b, ref float c)
    {
        var c00 = Vector512<float>.Zero; var c01 = c00; var c02 = c00; var c03 = c00;
        var c10 = c00; var c11 = c00; var c12 = c00; var c13 = c00;
        var c20 = c00; var c21 = c00; var c22 = c00; var c23 = c00;
        var c30 = c00; var c31 = c00; var c32 = c00; var c33 = c00;
        var c40 = c00; var c41 = c00; var c42 = c00; var c43 = c00;
        var c50 = c00; var c51 = c00; var c52 = c00; var c53 = c00;
        for (int kk = 0; kk < k; kk++)
        {
            ref float br = ref Unsafe.Add(ref b, kk * n);
            var b0 = Vector512.LoadUnsafe(ref br);
            var b1 = Vector512.LoadUnsafe(ref br, 16);
            var b2 = Vector512.LoadUnsafe(ref br, 32);
            var b3 = Vector512.LoadUnsafe(ref br, 48);
            ref float ak = ref Unsafe.Add(ref a, kk);
            var x = Vector512.Create(ak);
            c00 = Vector512.FusedMultiplyAdd(x, b0, c00); c01 = Vector512.FusedMultiplyAdd(x, b1, c01); c02 = Vector512.FusedMultiplyAdd(x, b2, c02); c03 = Vector512.FusedMultiplyAdd(x, b3, c03);
            x = Vector512.Create(Unsafe.Add(ref ak, k));
            c10 = Vector512.FusedMultiplyAdd(x, b0, c10); c11 = Vector512.FusedMultiplyAdd(x, b1, c11); c12 = Vector512.FusedMultiplyAdd(x, b2, c12); c13 = Vector512.FusedMultiplyAdd(x, b3, c13);
            x = Vector512.Create(Unsafe.Add(ref ak, 2 * k));
            c20 = Vector512.FusedMultiplyAdd(x, b0, c20); c21 = Vector512.FusedMultiplyAdd(x, b1, c21); c22 = Vector512.FusedMultiplyAdd(x, b2, c22); c23 = Vector512.FusedMultiplyAdd(x, b3, c23);
            x = Vector512.Create(Unsafe.Add(ref ak, 3 * k));
            c30 = Vector512.FusedMultiplyAdd(x, b0, c30); c31 = Vector512.FusedMultiplyAdd(x, b1, c31); c32 = Vector512.FusedMultiplyAdd(x, b2, c32); c33 = Vector512.FusedMultiplyAdd(x, b3, c33);
            x = Vector512.Create(Unsafe.Add(ref ak, 4 * k));
            c40 = Vector512.FusedMultiplyAdd(x, b0, c40); c41 = Vector512.FusedMultiplyAdd(x, b1, c41); c42 = Vector512.FusedMultiplyAdd(x, b2, c42); c43 = Vector512.FusedMultiplyAdd(x, b3, c43);
            x = Vector512.Create(Unsafe.Add(ref ak, 5 * k));
            c50 = Vector512.FusedMultiplyAdd(x, b0, c50); c51 = Vector512.FusedMultiplyAdd(x, b1, c51); c52 = Vector512.FusedMultiplyAdd(x, b2, c52); c53 = Vector512.FusedMultiplyAdd(x, b3, c53);
        }
        Store4(ref c, c00, c01, c02, c03);
        Store4(ref Unsafe.Add(ref c, n), c10, c11, c12, c13);
        Store4(ref Unsafe.Add(ref c, 2 * n), c20, c21, c22, c23);
        Store4(ref Unsafe.Add(ref c, 3 * n), c30, c31, c32, c33);
        Store4(ref Unsafe.Add(ref c, 4 * n), c40, c41, c42, c43);
        Store4(ref Unsafe.Add(ref c, 5 * n), c50, c51, c52, c53);
    }

    private static void Store4(ref float row, Vector512<float> v0, Vector512<float> v1, Vector512<float> v2, Vector512<float> v3)
    {
        v0.StoreUnsafe(ref row);
        v1.StoreUnsafe(ref row, 16);
        v2.StoreUnsafe(ref row, 32);
        v3.StoreUnsafe(ref row, 48);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile256(int k, int n, ref float a, ref float b, ref float c)
    {
        var c00 = Vector256<float>.Zero; var c01 = c00;
        var c10 = c00; var c11 = c00;
        var c20 = c00; var c21 = c00;
        var c30 = c00; var c31 = c00;
        var c40 = c00; var c41 = c00;
        var c50 = c00; var c51 = c00;
        for (int kk = 0; kk < k; kk++)
        {
            ref float br = ref Unsafe.Add(ref b, kk * n);
            var b0 = Vector256.LoadUnsafe(ref br);
            var b1 = Vector256.LoadUnsafe(ref br, 8);
            ref float ak = ref Unsafe.Add(ref a, kk);
            var x = Vector256.Create(ak);
            c00 = Vector256.FusedMultiplyAdd(x, b0, c00); c01 = Vector256.FusedMultiplyAdd(x, b1, c01);
            x = Vector256.Create(Unsafe.Add(ref ak, k));
            c10 = Vector256.FusedMultiplyAdd(x, b0, c10); c11 = Vector256.FusedMultiplyAdd(x, b1, c11);
            x = Vector256.Create(Unsafe.Add(ref ak, 2 * k));
            c20 = Vector256.FusedMultiplyAdd(x, b0, c20); c21 = Vector256.FusedMultiplyAdd(x, b1, c21);
            x = Vector256.Create(Unsafe.Add(ref ak, 3 * k));
            c30 = Vector256.FusedMultiplyAdd(x, b0, c30); c31 = Vector256.FusedMultiplyAdd(x, b1, c31);
            x = Vector256.Create(Unsafe.Add(ref ak, 4 * k));
            c40 = Vector256.FusedMultiplyAdd(x, b0, c40); c41 = Vector256.FusedMultiplyAdd(x, b1, c41);
            x = Vector256.Create(Unsafe.Add(ref ak, 5 * k));
            c50 = Vector256.FusedMultiplyAdd(x, b0, c50); c51 = Vector256.FusedMultiplyAdd(x, b1, c51);
        }
        c00.StoreUnsafe(ref c); c01.StoreUnsafe(ref c, 8);
        c10.StoreUnsafe(ref c, (nuint)n); c11.StoreUnsafe(ref c, (nuint)n + 8);
        c20.StoreUnsafe(ref c, (nuint)(2 * n)); c21.StoreUnsafe(ref c, (nuint)(2 * n) + 8);
        c30.StoreUnsafe(ref c, (nuint)(3 * n)); c31.StoreUnsafe(ref c, (nuint)(3 * n) + 8);
        c40.StoreUnsafe(ref c, (nuint)(4 * n)); c41.StoreUnsafe(ref c, (nuint)(4 * n) + 8);
        c50.StoreUnsafe(ref c, (nuint)(5 * n)); c51.StoreUnsafe(ref c, (nuint)(5 * n) + 8);
    }

    /// <summary>c[j] = sum_k a[k] b[k, j] for columns j in [from, n): vectors, then scalars.</summary>
    private static void Row(int k, int n, int from, ref float a, ref float b, ref float c)
    {
        int j = from;
        for (; j + 16 <= n; j += 16)
        {
            var sum = Vector512<float>.Zero;
            for (int kk = 0; kk < k; kk++)
                sum = Vector512.FusedMultiplyAdd(Vector512.Create(Unsafe.Add(ref a, kk)), Vector512.LoadUnsafe(ref b, (nuint)((kk * n) + j)), sum);
            sum.StoreUnsafe(ref c, (nuint)j);
        }
        for (; j < n; j++)
        {
            float sum = 0f;
            for (int kk = 0; kk < k; kk++)
                sum = MathF.FusedMultiplyAdd(Unsafe.Add(ref a, kk), Unsafe.Add(ref b, (kk * n) + j), sum);
            Unsafe.Add(ref c, j) = sum;
        }
    }
}
