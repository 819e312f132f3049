using GpuMlp.Kernels;
using GpuMlp.Tests.Reference;

namespace GpuMlp.Tests.Kernels;

[Collection(DeviceCollection.Name)]
public class GatherTests(DeviceFixture fixture)
{
    /// <summary>The kernels under test: the test device's (GpuLaunchShapeTests derives a class that
    /// runs every test again with the GPU launch profile).</summary>
    protected DeviceFixture Fixture => fixture;

    protected virtual KernelSet Set => fixture.Main;

    private (float[] X, int[] Y) Gather(KernelSet set, byte[] images, byte[] labels, int[] order, int first, int rows, int features)
    {
        using var imagesBuffer = set.Accelerator.Upload(images);
        using var labelsBuffer = set.Accelerator.Upload(labels);
        using var orderBuffer = set.Accelerator.Upload(order);
        using var x = set.Accelerator.Output(rows * features);
        using var y = set.Accelerator.Filled(rows + 2, -1);
        set.Kernels.Gather(imagesBuffer.View, labelsBuffer.View, orderBuffer.View, first, rows, features, x.View, y.View);
        int[] yOut = y.Download();
        Assert.Equal([-1, -1], yOut[rows..]);
        return (x.Download("x"), yOut[..rows]);
    }

    /// <summary>Rows follow order[first ..], every pixel lands in its place and labels are written.
    /// Pixels are compared with 2^-22 relative tolerance, which any gather mistake exceeds by far
    /// (neighbouring pixels differ by multiples of 1/255); exactness is the next test.</summary>
    [Theory]
    [InlineData(50, 13, 7, 11)]
    [InlineData(20, 784, 0, 20)]
    [InlineData(9, 1, 8, 1)]
    public void Gather_ShuffledOrder_FollowsOrderAndWritesLabels(int samples, int features, int first, int rows)
    {
        KernelSet set = Set;
        var random = new Random(samples + features);
        byte[] images = TestData.Bytes(random, samples * features);
        byte[] labels = TestData.Bytes(random, samples, 10);
        int[] order = TestData.Permutation(random, samples);
        var expected = NaiveReference.Gather(images, labels, order, first, rows, features);

        (float[] x, int[] y) = Gather(set, images, labels, order, first, rows, features);

        Compare.AllClose(x, expected.X, 0, 1.0 / (1 << 22), $"{set.Name} gathered pixels", features);
        Assert.Equal(expected.Y, y);
    }

    /// <summary>Every byte value b becomes exactly the float32 nearest to b / 255 (what
    /// torchvision's ToTensor, float(b) / 255, produces), not b * float32(1/255), which is one ulp off
    /// for about half of the byte values.</summary>
    [Fact]
    public void Gather_EveryByteValue_IsDividedByExactly255()
    {
        KernelSet set = Set;
        const int features = 256;
        byte[] images = Enumerable.Range(0, 256).Select(b => (byte)b).ToArray();
        (float[] x, _) = Gather(set, images, [3], [0], 0, 1, features);

        var wrong = Enumerable.Range(0, 256).Where(b => x[b] != b / 255f).ToArray();
        Assert.True(wrong.Length == 0,
            $"{set.Name}: {wrong.Length} of 256 byte values are not normalised to float(b) / 255 exactly, e.g. " +
            string.Join(", ", wrong.Take(5).Select(b => $"{b} -> {x[b]:R} (expected {b / 255f:R})")));
        Assert.Equal(0f, x[0]);
        Assert.Equal(1f, x[255]);
    }
    private (float[] X, int[] Y) GatherShifted(KernelSet set, byte[] images, byte[] labels, int[] order, int first, int rows,
        int height, int width, int maxShift, uint seed, uint step)
    {
        int features = height * width;
        using var imagesBuffer = set.Accelerator.Upload(images);
        using var labelsBuffer = set.Accelerator.Upload(labels);
        using var orderBuffer = set.Accelerator.Upload(order);
        using var x = set.Accelerator.Output(rows * features);
        using var y = set.Accelerator.Filled(rows + 2, -1);
        set.Kernels.GatherShifted(imagesBuffer.View, labelsBuffer.View, orderBuffer.View, first, rows, height, width, maxShift,
            seed, step, x.View, y.View);
        int[] yOut = y.Download();
        Assert.Equal([-1, -1], yOut[rows..]);
        return (x.Download("x"), yOut[..rows]);
    }

    /// <summary>The float64 definition of the shifted gather: row r's image moved right by sx and
    /// down by sy (BatchGatherKernels.Shift of the row), zeros where the source pixel is outside.</summary>
    private static double[] ShiftedReference(byte[] images, int[] order, int first, int rows, int height, int width,
        int maxShift, uint seed, uint step)
    {
        int features = height * width;
        var x = new double[rows * features];
        for (int row = 0; row < rows; row++)
        {
            BatchGatherKernels.Shift(seed, step, row, maxShift, out int sx, out int sy);
            int sample = order[first + row];
            for (int yy = 0; yy < height; yy++)
            {
                for (int xx = 0; xx < width; xx++)
                {
                    int sourceY = yy - sy, sourceX = xx - sx;
                    if (sourceY >= 0 && sourceY < height && sourceX >= 0 && sourceX < width)
                        x[(row * features) + (yy * width) + xx] = (float)(images[(sample * features) + (sourceY * width) + sourceX] / 255.0);
                }
            }
        }
        return x;
    }

    /// <summary>Each row is its image moved by the row's drawn shift with zeros moved in, exactly
    /// (values are the float nearest b / 255, as in the plain gather); labels follow order. Ragged
    /// non-square images, shifts up to and beyond half the image.</summary>
    [Theory]
    [InlineData(20, 5, 7, 4, 13, 2, 3u, 11u)]
    [InlineData(30, 28, 28, 0, 30, 2, 1u, 0u)]
    [InlineData(9, 3, 4, 2, 7, 4, 7u, 5u)]
    public void GatherShifted_RandomShifts_MatchesTheShiftedImagesExactly(
        int samples, int height, int width, int first, int rows, int maxShift, uint seed, uint step)
    {
        KernelSet set = Set;
        var random = new Random(samples + height + width);
        byte[] images = TestData.Bytes(random, samples * height * width);
        byte[] labels = TestData.Bytes(random, samples, 10);
        int[] order = TestData.Permutation(random, samples);

        (float[] x, int[] y) = GatherShifted(set, images, labels, order, first, rows, height, width, maxShift, seed, step);

        Compare.AllClose(x, ShiftedReference(images, order, first, rows, height, width, maxShift, seed, step), 0, 0,
            $"{set.Name} shifted gather {height}x{width} by up to {maxShift}", width);
        Assert.Equal(NaiveReference.Gather(images, labels, order, first, rows, height * width).Y, y);
    }

    /// <summary>With maxShift 0 the shifted gather is the plain gather, bit for bit.</summary>
    [Fact]
    public void GatherShifted_ZeroShift_IsThePlainGather()
    {
        KernelSet set = Set;
        var random = new Random(12);
        byte[] images = TestData.Bytes(random, 10 * 28 * 28);
        byte[] labels = TestData.Bytes(random, 10, 10);
        int[] order = TestData.Permutation(random, 10);
        var plain = Gather(set, images, labels, order, 1, 8, 28 * 28);
        var shifted = GatherShifted(set, images, labels, order, 1, 8, 28, 28, 0, 5, 9);
        Assert.Equal(plain.X, shifted.X);
        Assert.Equal(plain.Y, shifted.Y);
    }
}

/// <summary>BatchGatherKernels.Shift, the augmentation's draw (host code the kernels share).</summary>
public sealed class ShiftDrawTests
{
    /// <summary>Over 2,500 rows every one of the 25 shifts of maxShift 2 appears close to 1/25 of the
    /// time (each count within 100 +- 40, about 4 standard deviations), x and y never leave -2..2,
    /// and another step draws other shifts.</summary>
    [Fact]
    public void Shift_ManyRows_DrawsEveryShiftUniformly()
    {
        var counts = new int[5, 5];
        int same = 0;
        for (int row = 0; row < 2500; row++)
        {
            BatchGatherKernels.Shift(1, 7, row, 2, out int sx, out int sy);
            Assert.InRange(sx, -2, 2);
            Assert.InRange(sy, -2, 2);
            counts[sx + 2, sy + 2]++;
            BatchGatherKernels.Shift(1, 8, row, 2, out int otherX, out int otherY);
            if (otherX == sx && otherY == sy)
                same++;
        }
        foreach (int count in counts)
            Assert.InRange(count, 60, 140);
        Assert.InRange(same, 50, 150);
    }

    [Fact]
    public void Shift_MaxShiftZero_IsAlwaysZero()
    {
        for (int row = 0; row < 100; row++)
        {
            BatchGatherKernels.Shift(3, 4, row, 0, out int sx, out int sy);
            Assert.Equal((0, 0), (sx, sy));
        }
    }
}
