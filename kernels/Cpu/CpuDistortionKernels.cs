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
// every output pixel sums its column of the field and samples as the portable kernel does.
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
                for (int xx = 0; xx < width; xx++)
                {
                    float px = xx, py = yy;
                    if (elastic)
                    {
                        nint center = (nint)(yy + radius) * width + xx;
                        float w0 = weights[0];
                        float dx = w0 * Unsafe.Add(ref xPlane, center), dy = w0 * Unsafe.Add(ref yPlane, center);
                        for (int k = 1; k <= radius; k++)
                        {
                            float w = weights[k];
                            nint up = center - (nint)k * width, down = center + (nint)k * width;
                            dx += w * (Unsafe.Add(ref xPlane, up) + Unsafe.Add(ref xPlane, down));
                            dy += w * (Unsafe.Add(ref yPlane, up) + Unsafe.Add(ref yPlane, down));
                        }
                        px += shape.ElasticAlpha * dx;
                        py += shape.ElasticAlpha * dy;
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
    private static void SmoothRows(in DistortionShape shape, uint key, Span<float> weights, Span<float> noise, ref float rowField)
    {
        int width = shape.Width, radius = shape.ElasticRadius, lines = shape.PaddedHeight;
        for (int d = 0; d < 2; d++)
        {
            for (int yp = 0; yp < lines; yp++)
            {
                for (int xp = 0; xp < noise.Length; xp++)
                    noise[xp] = DistortionKernels.ElasticNoise(shape, key, d, yp, xp);
                ref float target = ref Unsafe.Add(ref rowField, (nint)(d * lines + yp) * width);
                for (int xx = 0; xx < width; xx++)
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

    /// <summary>The float nearest b / 255 at (x, y) of one plane, or 0 outside it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Pixel(ref byte plane, int x, int y, int height, int width) =>
        x >= 0 && x < width && y >= 0 && y < height ? (float)(Unsafe.Add(ref plane, y * width + x) / 255.0) : 0f;
}
