using GpuMlp.Compute;

namespace GpuMlp.Tests.Compute;

/// <summary>HostCopy: the pinned copies between managed arrays and device views that every
/// host-device transfer of the trainer, the evaluator and the dataset goes through.</summary>
[Collection(DeviceCollection.Name)]
public sealed class HostCopyTests
{
    [Fact]
    public void HostCopy_RoundTripWhileCollecting_GivesTheSameValues()
    {
        using var device = TestDevice.Open();
        var accelerator = device.Accelerator;
        using var buffer = accelerator.Allocate1D<float>(1000);
        for (int round = 0; round < 20; round++)
        {
            // Small arrays live in the compacting generations: force collections between copies.
            var source = Enumerable.Range(0, 777).Select(i => (float)(i * 3 + round)).ToArray();
            GC.Collect(0, GCCollectionMode.Forced, blocking: true, compacting: true);
            HostCopy.ToDevice(buffer.View, source, source.Length);
            var back = new float[800];
            HostCopy.ToHost(buffer.View, back, source.Length);
            Assert.Equal(source, back[..source.Length]);
            Assert.All(back[source.Length..], value => Assert.Equal(0f, value));
        }
    }

    [Theory]
    [InlineData(11, 10, 100)]
    [InlineData(11, 100, 10)]
    [InlineData(-1, 10, 10)]
    public void HostCopy_CountBeyondArrayOrView_Throws(long count, int arrayLength, int viewLength)
    {
        using var device = TestDevice.Open();
        using var buffer = device.Accelerator.Allocate1D<int>(viewLength);
        var array = new int[arrayLength];
        Assert.ThrowsAny<ArgumentException>(() => HostCopy.ToDevice(buffer.View, array, count));
        Assert.ThrowsAny<ArgumentException>(() => HostCopy.ToHost(buffer.View, array, count));
    }
}
