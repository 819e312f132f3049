// kernels/Cpu/SimdOps.cs's PartialVector: the first `count` lanes of a 128-, 256- or 512-bit vector
// loaded and stored through narrower whole vectors and single floats. At every count: the loaded
// lanes are the memory's, the rest the fill; a store writes exactly `count` floats and nothing past
// them (the guard floats around the destination keep their values).
using System.Runtime.Intrinsics;
using GpuMlp.Kernels.Cpu;

namespace GpuMlp.Tests.Kernels;

public sealed class PartialVectorTests
{
    private const float Fill = -7.5f;
    private const float Guard = 123.25f;

    public static TheoryData<int, int> Counts()
    {
        var cases = new TheoryData<int, int>();
        foreach (int lanes in new[] { 4, 8, 16 })
        {
            for (int count = 0; count <= lanes; count++)
                cases.Add(lanes, count);
        }
        return cases;
    }

    [Theory]
    [MemberData(nameof(Counts))]
    public void Load_AnyCount_TakesTheFirstLanesAndFillsTheRest(int lanes, int count)
    {
        // NaNs follow the count values: a lane read past them would not be the fill.
        float[] values = [.. Enumerable.Range(1, count).Select(i => i * 1.5f)];
        float[] source = [.. values, .. Enumerable.Repeat(float.NaN, lanes)];
        float[] loaded = lanes switch
        {
            4 => Lanes(PartialVector.Load128(ref source[0], count, Fill)),
            8 => Lanes(PartialVector.Load256(ref source[0], count, Fill)),
            _ => Lanes(PartialVector.Load512(ref source[0], count, Fill)),
        };
        float[] expected = [.. values, .. Enumerable.Repeat(Fill, lanes - count)];
        Assert.Equal(expected, loaded);
    }

    [Theory]
    [MemberData(nameof(Counts))]
    public void Store_AnyCount_WritesTheFirstLanesAndNothingElse(int lanes, int count)
    {
        float[] values = [.. Enumerable.Range(1, lanes).Select(i => i * 2.25f)];
        // One guard before the destination and lanes of them after it.
        float[] memory = [.. Enumerable.Repeat(Guard, 1 + lanes + 1)];
        ref float destination = ref memory[1];
        switch (lanes)
        {
            case 4:
                PartialVector.Store128(Vector128.Create(values), ref destination, count);
                break;
            case 8:
                PartialVector.Store256(Vector256.Create(values), ref destination, count);
                break;
            default:
                PartialVector.Store512(Vector512.Create(values), ref destination, count);
                break;
        }
        float[] expected = [Guard, .. values[..count], .. Enumerable.Repeat(Guard, lanes - count + 1)];
        Assert.Equal(expected, memory);
    }

    private static float[] Lanes(Vector128<float> vector) => [.. Enumerable.Range(0, 4).Select(i => vector.GetElement(i))];

    private static float[] Lanes(Vector256<float> vector) => [.. Enumerable.Range(0, 8).Select(i => vector.GetElement(i))];

    private static float[] Lanes(Vector512<float> vector) => [.. Enumerable.Range(0, 16).Select(i => vector.GetElement(i))];
}
