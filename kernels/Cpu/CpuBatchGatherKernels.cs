// The batch gathers on the CPU accelerator: BatchGatherKernels.GatherBatchKernel with a SIMD inner loop.
//
// Shapes as in BatchGatherKernels.cs: images [samples, features] uint8, labels [samples] uint8, order
// [samples] int32; OVERWRITES x [rows, features] float32 = images[order[first + row]] / 255 (the
// float nearest b / 255: an exact int-to-float conversion and one correctly rounded division,
// which for every byte equals the double-then-float rounding of the portable kernel) and
// y [rows] int32. Rows are split into contiguous ranges, one per worker.
//
// GatherShiftedBatchCpuKernel: BatchGatherKernels.GatherShiftedBatchKernel (each row's [height, width]
// image moved by BatchGatherKernels.Shift's (sx, sy), zeros moved in) with the same bits, row by row.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using ILGPU;

namespace GpuMlp.Kernels.Cpu;

public static class CpuBatchGatherKernels
{
    [CpuOnlyKernel]
    public static void GatherBatchSimdKernel(
        CpuSimdWidth width, ArrayView<byte> images, ArrayView<byte> labels, ArrayView<int> order,
        int first, int rows, int features, ArrayView<float> x, ArrayView<int> y)
    {
        CpuBatchGatherSimd.Gather(Grid.GlobalIndex.X, Grid.DimX * Group.DimX, width, images, labels, order,
            first, rows, features, x, y);
    }

    [CpuOnlyKernel]
    public static void GatherShiftedBatchCpuKernel(
        ArrayView<byte> images, ArrayView<byte> labels, ArrayView<int> order,
        int first, int rows, int height, int width, int maxShift, uint seed, uint step,
        ArrayView<float> x, ArrayView<int> y)
    {
        CpuBatchGatherSimd.GatherShifted(Grid.GlobalIndex.X, Grid.DimX * Group.DimX, images, labels, order,
            first, rows, height, width, maxShift, seed, step, x, y);
    }
}

internal static class CpuBatchGatherSimd
{
    [ILGPU.Frontend.External("gpumlp_cpu_gather_shifted")]
    public static void GatherShifted(
        int worker, int workers, ArrayView<byte> images, ArrayView<byte> labels, ArrayView<int> order,
        int first, int rows, int height, int width, int maxShift, uint seed, uint step, ArrayView<float> x, ArrayView<int> y)
    {
        GatherShifted(worker, workers, new Batch(ref Simd.Ref(images), ref Simd.Ref(labels), ref Simd.Ref(order), ref Simd.Ref(x), ref Simd.Ref(y)),
            first, rows, new ShiftedImages(height, width, maxShift, seed, step));
    }

    /// <summary>The image size and the shift draw of one shifted gather.</summary>
    internal readonly record struct ShiftedImages(int Height, int Width, int MaxShift, uint Seed, uint Step);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void GatherShifted(int worker, int workers, in Batch batch, int first, int rows, in ShiftedImages shifted)
    {
        int height = shifted.Height, width = shifted.Width, features = height * width;
        int end = Simd.RangeStart(rows, worker + 1, workers);
        for (int row = Simd.RangeStart(rows, worker, workers); row < end; row++)
        {
            int sample = Unsafe.Add(ref batch.Order, first + row);
            BatchGatherKernels.Shift(shifted.Seed, shifted.Step, row, shifted.MaxShift, out int sx, out int sy);
            ref byte source = ref Unsafe.Add(ref batch.Images, (nint)sample * features);
            ref float destination = ref Unsafe.Add(ref batch.X, (nint)row * features);
            // Columns xx in [xFirst, xEnd) read source column xx - sx; the others are 0.
            int xFirst = Math.Max(0, sx), xEnd = Math.Min(width, width + sx);
            for (int yy = 0; yy < height; yy++)
            {
                ref float target = ref Unsafe.Add(ref destination, yy * width);
                int sourceY = yy - sy;
                if (sourceY < 0 || sourceY >= height || xFirst >= xEnd)
                {
                    for (int xx = 0; xx < width; xx++)
                        Unsafe.Add(ref target, xx) = 0f;
                    continue;
                }
                ref byte sourceRow = ref Unsafe.Add(ref source, sourceY * width - sx);
                for (int xx = 0; xx < xFirst; xx++)
                    Unsafe.Add(ref target, xx) = 0f;
                for (int xx = xFirst; xx < xEnd; xx++)
                    Unsafe.Add(ref target, xx) = Unsafe.Add(ref sourceRow, xx) / 255f;
                for (int xx = xEnd; xx < width; xx++)
                    Unsafe.Add(ref target, xx) = 0f;
            }
            Unsafe.Add(ref batch.Y, row) = Unsafe.Add(ref batch.Labels, sample);
        }
    }

    [ILGPU.Frontend.External("gpumlp_cpu_gather")]
    public static void Gather(
        int worker, int workers, CpuSimdWidth width, ArrayView<byte> images, ArrayView<byte> labels,
        ArrayView<int> order, int first, int rows, int features, ArrayView<float> x, ArrayView<int> y)
    {
        Gather(worker, workers, width, new Batch(ref Simd.Ref(images), ref Simd.Ref(labels), ref Simd.Ref(order), ref Simd.Ref(x), ref Simd.Ref(y)),
            first, rows, features);
    }

    internal static void Gather(int worker, int workers, CpuSimdWidth width, in Batch batch, int first, int rows, int features)
    {
        switch (width)
        {
            case CpuSimdWidth.Vector512:
                Gather<Vector512Ops, Vector512<float>>(worker, workers, batch, first, rows, features);
                break;
            case CpuSimdWidth.Vector256:
                Gather<Vector256Ops, Vector256<float>>(worker, workers, batch, first, rows, features);
                break;
            default:
                Gather<ScalarOps, float>(worker, workers, batch, first, rows, features);
                break;
        }
    }

    internal readonly ref struct Batch(ref byte images, ref byte labels, ref int order, ref float x, ref int y)
    {
        public readonly ref byte Images = ref images;
        public readonly ref byte Labels = ref labels;
        public readonly ref int Order = ref order;
        public readonly ref float X = ref x;
        public readonly ref int Y = ref y;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Gather<TOps, TV>(int worker, int workers, in Batch batch, int first, int rows, int features)
        where TOps : struct, ISimdOps<TV>
        where TV : struct
    {
        int end = Simd.RangeStart(rows, worker + 1, workers);
        int vectorEnd = features - (features % TOps.Lanes);
        for (int row = Simd.RangeStart(rows, worker, workers); row < end; row++)
        {
            int sample = Unsafe.Add(ref batch.Order, first + row);
            ref byte source = ref Unsafe.Add(ref batch.Images, (nint)sample * features);
            ref float destination = ref Unsafe.Add(ref batch.X, (nint)row * features);
            int f = 0;
            for (; f < vectorEnd; f += TOps.Lanes)
                TOps.Store(TOps.BytesOver255(ref Unsafe.Add(ref source, f)), ref Unsafe.Add(ref destination, f));
            for (; f < features; f++)
                Unsafe.Add(ref destination, f) = Unsafe.Add(ref source, f) / 255f;
            Unsafe.Add(ref batch.Y, row) = Unsafe.Add(ref batch.Labels, sample);
        }
    }
}
