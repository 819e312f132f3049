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
}
