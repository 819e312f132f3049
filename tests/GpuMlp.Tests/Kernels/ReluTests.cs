using GpuMlp.Tests.Reference;

namespace GpuMlp.Tests.Kernels;

[Collection(DeviceCollection.Name)]
public sealed class ReluTests(DeviceFixture fixture)
{
    /// <summary>Forward is exact (a select): compared with zero tolerance, including exact zeros
    /// and negative zero inputs.</summary>
    [Theory]
    [InlineData(1)]
    [InlineData(37)]
    [InlineData(4099)]
    public void ReluForward_ZerosAndNegativeZeros_MatchesReferenceExactly(int count)
    {
        KernelSet set = fixture.Main;
        float[] z = TestData.Uniform(new Random(count), count);
        for (int i = 0; i < count; i += 5)
            z[i] = i % 10 == 0 ? 0f : -0f;
        using var zBuffer = set.Accelerator.Input(z);
        using var h = set.Accelerator.Output(count);
        set.Unfused.ReluForward(zBuffer.View, h.View, count);

        Compare.AllClose(h.Download("h"), NaiveReference.ReluForward(NaiveReference.ToDouble(z)), 0, 0, $"{set.Name} relu forward");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(37)]
    [InlineData(4099)]
    public void ReluBackward_OddCounts_MatchesReferenceExactly(int count)
    {
        KernelSet set = fixture.Main;
        var random = new Random(count + 1);
        float[] h = NaiveReference.ReluForward(NaiveReference.ToDouble(TestData.Uniform(random, count))).Select(v => (float)v).ToArray();
        float[] dh = TestData.Uniform(random, count);
        using var hBuffer = set.Accelerator.Input(h);
        using var dhBuffer = set.Accelerator.Input(dh);
        using var dz = set.Accelerator.Output(count);
        set.Unfused.ReluBackward(hBuffer.View, dhBuffer.View, dz.View, count);

        double[] expected = NaiveReference.ReluBackward(NaiveReference.ToDouble(h), NaiveReference.ToDouble(dh));
        Compare.AllClose(dz.Download("dz"), expected, 0, 0, $"{set.Name} relu backward");
    }

    /// <summary>L = sum(G ⊙ relu(z)) with every z at least 0.05 from the kink and h = 1e-4: the
    /// finite difference is exact up to float64 cancellation (~1e-11), and the kernel's dz is an exact
    /// copy of G or 0, so the tolerance is 1e-9.</summary>
    [Fact]
    public void ReluBackward_AwayFromTheKink_MatchesFiniteDifferences()
    {
        KernelSet set = fixture.Main;
        const int count = 41;
        var random = new Random(5);
        float[] z = TestData.AwayFromZero(random, count, 0.05f);
        float[] g = TestData.Uniform(random, count);
        double[] g64 = NaiveReference.ToDouble(g);
        double[] fd = TestData.FiniteDifference(NaiveReference.ToDouble(z), 1e-4, x => TestData.Dot(g64, NaiveReference.ReluForward(x)));

        using var zBuffer = set.Accelerator.Input(z);
        using var h = set.Accelerator.Output(count);
        using var gBuffer = set.Accelerator.Input(g);
        using var dz = set.Accelerator.Output(count);
        set.Unfused.ReluForward(zBuffer.View, h.View, count);
        set.Unfused.ReluBackward(h.View, gBuffer.View, dz.View, count);

        Compare.AllClose(dz.Download("dz"), fd, 1e-9, 0, $"{set.Name} relu backward vs finite differences");
    }
}
