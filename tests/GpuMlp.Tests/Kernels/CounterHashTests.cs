using GpuMlp.Kernels;
using GpuMlp.Training;

namespace GpuMlp.Tests.Kernels;

/// <summary>CounterHash (kernels/CounterHash.cs) is the one hash behind dropout masks, shift draws
/// and the epoch shuffle; its values are pinned (computed independently, in Python) so a change to
/// it cannot hide behind every user changing together.</summary>
public sealed class CounterHashTests
{
    [Theory]
    [InlineData(0U, 0U)]
    [InlineData(1U, 0x688990c0U)]
    [InlineData(0xdeadbeefU, 0xe628c683U)]
    public void Mix_KnownInputs_AreLowbias32(uint x, uint expected) => Assert.Equal(expected, CounterHash.Mix(x));

    [Fact]
    public void Bits_AnyElement_IsMixOfElementXorKey()
    {
        Assert.Equal(0xe9ce431bU, CounterHash.Bits(1, 2, 3, 7));
        for (uint element = 0; element < 64; element++)
            Assert.Equal(CounterHash.Mix(element ^ CounterHash.Key(5, 9, 2)), CounterHash.Bits(5, 9, 2, element));
    }

    [Fact]
    public void DropoutKeep_AndShift_DrawCounterHashBits()
    {
        uint bits = CounterHash.Bits(11, 4, 1, 300);
        Assert.True(DropoutKernels.Keep(11, 4, 1, 300, bits));
        Assert.False(DropoutKernels.Keep(11, 4, 1, 300, bits + 1));

        uint shiftBits = CounterHash.Bits(11, 4, BatchGatherKernels.ShiftStream, 6);
        BatchGatherKernels.Shift(11, 4, 6, 2, out int sx, out int sy);
        Assert.Equal((int)(shiftBits % 5) - 2, sx);
        Assert.Equal((int)(shiftBits / 5 % 5) - 2, sy);
    }

    [Fact]
    public void EpochSeed_OfSeedAndEpoch_SeedsTheEpochShuffle()
    {
        Assert.Equal(805312484, CounterHash.EpochSeed(1, 0));
        Assert.Equal(78648433, CounterHash.EpochSeed(42, 3));
        var random = new Random(CounterHash.EpochSeed(42, 3));
        var expected = Enumerable.Range(0, 10).ToArray();
        for (int i = expected.Length - 1; i > 0; i--)
        {
            int j = random.Next(i + 1);
            (expected[i], expected[j]) = (expected[j], expected[i]);
        }
        Assert.Equal(expected, Trainer.EpochOrder(10, 42, 3));
    }
}
