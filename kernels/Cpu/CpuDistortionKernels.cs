// The distorting batch gather on the CPU accelerator: DistortionKernels.ElasticFieldRowsKernel and
// DistortionKernels.DistortBatchKernel as one pass per row, with the same bits.
//
// Shapes as in DistortionKernels.cs: images [samples, C * H * W] uint8, labels [samples] uint8,
// order [samples] int32; OVERWRITES field [rows, 2, H + 2R, W] (with elastic distortion only),
// x [rows, C * H * W] float32 and y [rows] int32. Rows are split into contiguous ranges, one per
// worker; a worker writes and then reads only its own rows' field, so one command needs no barrier.
// Per row: each noise line of the padded grid is drawn once into a stack buffer (the portable kernel
// hashes each tap again) and smoothed along x in the portable kernel's order; the Gaussian weights
// and the row's affine map are computed once (GaussianWeight, Affine: the same functions); then
// each output line's displacements are summed down the field's columns, and every pixel samples as
// the portable kernel does. The hashes and both smoothing passes run Vector<T> lanes across x: each
// lane does its element's operations in the portable kernel's order (no fused multiply-add), so
// the bits are the same.
using System.Numerics;
using System.Runtime.CompilerServices;
using ILGPU;

namespace GpuMlp.Kernels.Cpu;

public static class CpuDistortionKernels
{
    [CpuOnlyKernel]
    public static void DistortBatchCpuKernel(
        ArrayView<byte> images, ArrayView<byte> labels, ArrayView<int> order, int first, int rows,
        DistortionShape shape, ArrayView<float> field, ArrayView<float> x, ArrayView<int> y)
    {
        CpuDistortion.Distort(Grid.GlobalIndex.X, Grid.DimX * Group.DimX, images, labels, order, first, rows, shape, field, x, y);
    }
}

internal static class CpuDistortion
{
    [ILGPU.Frontend.External("gpumlp_cpu_distort")]
    public static void Distort(
        int worker, int workers, ArrayView<byte> images, ArrayView<byte> labels, ArrayView<int> order, int first, int rows,
        DistortionShape shape, ArrayView<float> field, ArrayView<float> x, ArrayView<int> y)
    {
        Distort(worker, workers, new CpuBatchGatherSimd.Batch(ref Simd.Ref(images), ref Simd.Ref(labels), ref Simd.Ref(order), ref Simd.Ref(x), ref Simd.Ref(y)),
            first, rows, shape, ref Simd.Ref(field));
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Distort(int worker, int workers, in CpuBatchGatherSimd.Batch batch, int first, int rows, in DistortionShape shape, ref float field)
    {
        int height = shape.Height, width = shape.Width, pixels = height * width, features = shape.Channels * pixels;
        bool elastic = shape.ElasticAlpha > 0f;
        int radius = elastic ? shape.ElasticRadius : 0;
        Span<float> weights = stackalloc float[DistortionKernels.MaxElasticRadius + 1];
        for (int k = 0; k <= radius; k++)
            weights[k] = DistortionKernels.GaussianWeight(shape, k);
        Span<float> noise = elastic ? stackalloc float[shape.PaddedWidth] : default;
        Span<float> dxLine = elastic ? stackalloc float[width] : default;
        Span<float> dyLine = elastic ? stackalloc float[width] : default;
        int lines = shape.PaddedHeight;
        int end = Simd.RangeStart(rows, worker + 1, workers);
        for (int row = Simd.RangeStart(rows, worker, workers); row < end; row++)
        {
            int sample = Unsafe.Add(ref batch.Order, first + row);
            ref float xPlane = ref Unsafe.Add(ref field, (nint)row * 2 * lines * width);
            ref float yPlane = ref Unsafe.Add(ref xPlane, (nint)lines * width);
            if (elastic)
                SmoothRows(shape, DistortionKernels.ElasticKey(shape.Seed, shape.Step, row), weights, noise, ref xPlane);
            var map = DistortionKernels.Affine(shape, row);
            ref byte source = ref Unsafe.Add(ref batch.Images, (nint)sample * features);
            ref float output = ref Unsafe.Add(ref batch.X, (nint)row * features);
            for (int yy = 0; yy < height; yy++)
            {
                if (elastic)
                {
                    SmoothColumns(weights, radius, width, ref Unsafe.Add(ref xPlane, (nint)(yy + radius) * width), dxLine);
                    SmoothColumns(weights, radius, width, ref Unsafe.Add(ref yPlane, (nint)(yy + radius) * width), dyLine);
                }
                for (int xx = 0; xx < width; xx++)
                {
                    float px = xx, py = yy;
                    if (elastic)
                    {
                        px += shape.ElasticAlpha * dxLine[xx];
                        py += shape.ElasticAlpha * dyLine[xx];
                    }
                    float xs = map.M00 * px + map.M01 * py + map.OffsetX;
                    float ys = map.M10 * px + map.M11 * py + map.OffsetY;
                    int pixel = yy * width + xx;
                    if (!(xs > -1f && xs < width && ys > -1f && ys < height))
                    {
                        for (int channel = 0; channel < shape.Channels; channel++)
                            Unsafe.Add(ref output, channel * pixels + pixel) = 0f;
                        continue;
                    }
                    int x0 = (int)(xs + 1f) - 1, y0 = (int)(ys + 1f) - 1;
                    float fx = xs - x0, fy = ys - y0;
                    for (int channel = 0; channel < shape.Channels; channel++)
                    {
                        ref byte plane = ref Unsafe.Add(ref source, channel * pixels);
                        float top = (1f - fx) * Pixel(ref plane, x0, y0, height, width) + fx * Pixel(ref plane, x0 + 1, y0, height, width);
                        float bottom = (1f - fx) * Pixel(ref plane, x0, y0 + 1, height, width) + fx * Pixel(ref plane, x0 + 1, y0 + 1, height, width);
                        Unsafe.Add(ref output, channel * pixels + pixel) = (1f - fy) * top + fy * bottom;
                    }
                }
            }
            Unsafe.Add(ref batch.Y, row) = Unsafe.Add(ref batch.Labels, sample);
        }
    }

    /// <summary>One row's field [2, H + 2R, W]: each padded noise line drawn into `noise` [W + 2R],
    /// then smoothed along x as ElasticFieldRowsKernel sums.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void SmoothRows(in DistortionShape shape, uint key, Span<float> weights, Span<float> noise, ref float rowField)
    {
        int width = shape.Width, radius = shape.ElasticRadius, lines = shape.PaddedHeight, lanes = Vector<float>.Count;
        for (int d = 0; d < 2; d++)
        {
            for (int yp = 0; yp < lines; yp++)
            {
                DrawNoise(key, (uint)((d * lines + yp) * shape.PaddedWidth), noise);
                ref float target = ref Unsafe.Add(ref rowField, (nint)(d * lines + yp) * width);
                int xx = 0;
                for (; xx + lanes <= width; xx += lanes)
                {
                    int center = xx + radius;
                    var sum = new Vector<float>(weights[0]) * new Vector<float>(noise[center..]);
                    for (int k = 1; k <= radius; k++)
                        sum += new Vector<float>(weights[k]) * (new Vector<float>(noise[(center - k)..]) + new Vector<float>(noise[(center + k)..]));
                    Unsafe.WriteUnaligned(ref Unsafe.As<float, byte>(ref Unsafe.Add(ref target, xx)), sum);
                }
                for (; xx < width; xx++)
                {
                    int center = xx + radius;
                    float sum = weights[0] * noise[center];
                    for (int k = 1; k <= radius; k++)
                        sum += weights[k] * (noise[center - k] + noise[center + k]);
                    Unsafe.Add(ref target, xx) = sum;
                }
            }
        }
    }

    /// <summary>noise[i] = DistortionKernels.ElasticNoise's value for the grid index first + i:
    /// Symmetric(Mix((first + i) ^ key)), Vector<uint> lanes doing CounterHash.Mix's five steps.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void DrawNoise(uint key, uint first, Span<float> noise)
    {
        int lanes = Vector<uint>.Count, i = 0;
        var keys = new Vector<uint>(key);
        for (; i + lanes <= noise.Length; i += lanes)
        {
            var x = (new Vector<uint>(first + (uint)i) + Vector<uint>.Indices) ^ keys;
            x ^= x >> 16;
            x *= 0x7feb352dU;
            x ^= x >> 15;
            x *= 0x846ca68bU;
            x ^= x >> 16;
            var top = Vector.ConvertToSingle(Vector.AsVectorInt32(x >> 8));
            (top * new Vector<float>(1f / 8388608f) - Vector<float>.One).CopyTo(noise[i..]);
        }
        for (; i < noise.Length; i++)
            noise[i] = DistortionKernels.Symmetric(CounterHash.Mix((first + (uint)i) ^ key));
    }

    /// <summary>line[xx] = w_0 f(xx) + sum_k w_k (f(xx - k W) + f(xx + k W)) for the field plane's
    /// line `center` (the output line yy + R): the sum DistortBatchKernel takes down a column.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void SmoothColumns(Span<float> weights, int radius, int width, ref float center, Span<float> line)
    {
        int lanes = Vector<float>.Count, xx = 0;
        for (; xx + lanes <= width; xx += lanes)
        {
            ref float at = ref Unsafe.Add(ref center, xx);
            var sum = new Vector<float>(weights[0]) * Load(ref at, 0);
            for (int k = 1; k <= radius; k++)
                sum += new Vector<float>(weights[k]) * (Load(ref at, -(nint)k * width) + Load(ref at, (nint)k * width));
            sum.CopyTo(line[xx..]);
        }
        for (; xx < width; xx++)
        {
            ref float at = ref Unsafe.Add(ref center, xx);
            float sum = weights[0] * at;
            for (int k = 1; k <= radius; k++)
                sum += weights[k] * (Unsafe.Add(ref at, -(nint)k * width) + Unsafe.Add(ref at, (nint)k * width));
            line[xx] = sum;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector<float> Load(ref float at, nint offset) =>
        Unsafe.ReadUnaligned<Vector<float>>(ref Unsafe.As<float, byte>(ref Unsafe.Add(ref at, offset)));

    /// <summary>The float nearest b / 255 at (x, y) of one plane, or 0 outside it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Pixel(ref byte plane, int x, int y, int height, int width) =>
        x >= 0 && x < width && y >= 0 && y < height ? (float)(Unsafe.Add(ref plane, y * width + x) / 255.0) : 0f;
}
