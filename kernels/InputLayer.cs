// Input layer: gathers one mini-batch from the device-resident uint8 dataset.
//
// Shapes: images [samples, features] uint8 row-major; labels [samples] uint8;
// order [samples] int32 (this epoch's permutation, or the identity for evaluation).
// Writes x [rows, features] float32 in [0, 1] and y [rows] int32 for the samples
// order[first .. first + rows). Both outputs are OVERWRITTEN.
using ILGPU;

namespace GpuMlp.Kernels;

public static class InputLayer
{
    public const float PixelScale = 1f / 255f;

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
            x[i] = images[sample * features + feature] * PixelScale;
            if (feature == 0)
                y[row] = labels[sample];
        }
    }
}
