// The batch gathers: one mini-batch gathered from the device-resident uint8 dataset.
//
// Shapes: images [samples, features] uint8 row-major; labels [samples] uint8;
// order [samples] int32 (this epoch's permutation, or the identity for evaluation).
// Writes x [rows, features] float32 in [0, 1] and y [rows] int32 for the samples
// order[first .. first + rows). Both outputs are OVERWRITTEN.
//
// GatherShiftedBatchKernel is the training gather with data augmentation: each row's image,
// seen as [height, width], is moved by (sx, sy) pixels, each in [-maxShift, maxShift], drawn
// from the stateless counter hash of the dropout masks for (seed, step, ShiftStream, row); the
// pixels moved in from outside are 0 (the background). Same seed and step, same shifts, on every
// backend and launch shape.
using ILGPU;

namespace GpuMlp.Kernels;

public static class BatchGatherKernels
{
    public static void GatherBatchKernel(
        ArrayView<byte> images, ArrayView<byte> labels, ArrayView<int> order,
        int first, int rows, int features,
        ArrayView<float> x, ArrayView<int> y)
    {
        int count = rows * features;
        int stride = Grid.DimX * Group.DimX;
        for (int i = Grid.GlobalIndex.X; i < count; i += stride)
        {
            int row = i / features;
            int feature = i - row * features;
            int sample = order[first + row];
            // Divided in double and rounded once: exactly the float nearest b / 255, as PyTorch's
            // .float().div_(255) gives, on every backend (fast 32-bit math may approximate a float
            // division on GPUs; multiplying by a rounded 1/255 is 1 ulp off for half the bytes).
            x[i] = (float)(images[sample * features + feature] / 255.0);
            if (feature == 0)
                y[row] = labels[sample];
        }
    }

    /// <summary>The CounterHash stream of the shift draws (no dense layer has it: dropout's streams
    /// are the layer ids 0, 1, ..., so the shifts are independent of every dropout mask).</summary>
    public const uint ShiftStream = 0x53484654U;

    /// <summary>The shift of one row: sx = (bits mod n) - maxShift, sy = ((bits / n) mod n) -
    /// maxShift with n = 2 maxShift + 1 and bits = CounterHash.Bits(seed, step, ShiftStream, row).
    /// The image moves right by sx and down by sy.</summary>
    public static void Shift(uint seed, uint step, int row, int maxShift, out int sx, out int sy)
    {
        uint span = (uint)(2 * maxShift + 1);
        uint bits = CounterHash.Bits(seed, step, ShiftStream, (uint)row);
        sx = (int)(bits % span) - maxShift;
        sy = (int)(bits / span % span) - maxShift;
    }

    /// <summary>x[row, yy * width + xx] = images[sample, (yy - sy) * width + (xx - sx)] / 255, or 0
    /// where that pixel lies outside the image; (sx, sy) = Shift(seed, step, row, maxShift). Labels
    /// as GatherBatchKernel. Overwrites x [rows, height * width] and y [rows].</summary>
    public static void GatherShiftedBatchKernel(
        ArrayView<byte> images, ArrayView<byte> labels, ArrayView<int> order,
        int first, int rows, int height, int width, int maxShift, uint seed, uint step,
        ArrayView<float> x, ArrayView<int> y)
    {
        int features = height * width;
        int count = rows * features;
        int stride = Grid.DimX * Group.DimX;
        for (int i = Grid.GlobalIndex.X; i < count; i += stride)
        {
            int row = i / features;
            int feature = i - row * features;
            int sample = order[first + row];
            Shift(seed, step, row, maxShift, out int sx, out int sy);
            int yy = feature / width;
            int sourceY = yy - sy, sourceX = feature - yy * width - sx;
            x[i] = sourceY >= 0 && sourceY < height && sourceX >= 0 && sourceX < width
                ? (float)(images[sample * features + sourceY * width + sourceX] / 255.0)
                : 0f;
            if (feature == 0)
                y[row] = labels[sample];
        }
    }
}
