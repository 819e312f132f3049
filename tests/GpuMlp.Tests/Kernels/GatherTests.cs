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
}
