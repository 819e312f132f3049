// Dropout: the mask statistics, the exact scale, and that every kernel that applies a mask
// (the standalone DropoutMaskKernel, forward and backward, and the fused GEMM epilogue
// BiasReluDropout) draws the same one for the same (seed, step, layer) and a different one
// otherwise.
using GpuMlp.Compute;
using GpuMlp.Kernels;
using GpuMlp.Tests.Reference;

namespace GpuMlp.Tests.Kernels;

[Collection(DeviceCollection.Name)]
public sealed class DropoutTests(DeviceFixture fixture)
{
    private const int Million = 1 << 20;

    private static float[] Positive(int count, int seed) => TestData.Uniform(new Random(seed), count, 0.5f, 1.5f);

    private float[] Forward(KernelSet set, float[] x, DropoutMask mask)
    {
        using var xBuffer = set.Accelerator.Input(x);
        using var y = set.Accelerator.Output(x.Length);
        set.Unfused.Dropout(xBuffer.View, y.View, x.Length, mask);
        return y.Download("y");
    }

    /// <summary>Over 2^20 elements the dropped fraction is within ±0.01 of p (the binomial standard
    /// deviation is ~5e-4, so this only fails for a biased hash or a wrong threshold), every element
    /// follows DropoutKernels.Keep, and kept values are x * (1 / (1 - p)) bit for bit.</summary>
    [Theory]
    [InlineData(0.2f)]
    [InlineData(0.5f)]
    public void Dropout_Forward_DropsFractionPAndScalesKeptExactly(float rate)
    {
        KernelSet set = fixture.Main;
        float[] x = Positive(Million, 1);
        var mask = DropoutMask.For(rate, seed: 42u, step: 17u, layer: 1u);
        float[] y = Forward(set, x, mask);

        bool[] keep = NaiveReference.KeepMask(Million, mask);
        float keepScale = 1f / (1f - rate);
        Assert.Equal(keepScale, mask.KeepScale);
        int dropped = 0, wrong = 0, firstWrong = -1;
        for (int i = 0; i < Million; i++)
        {
            if (y[i] == 0f)
                dropped++;
            float expected = keep[i] ? x[i] * keepScale : 0f;
            if (BitConverter.SingleToInt32Bits(y[i]) != BitConverter.SingleToInt32Bits(expected))
            {
                if (wrong++ == 0)
                    firstWrong = i;
            }
        }
        Assert.True(wrong == 0,
            $"{set.Name}: {wrong} elements are not x * keepScale or 0 as DropoutKernels.Keep says; first [{firstWrong}]: " +
            $"{(firstWrong >= 0 ? $"x {x[firstWrong]}, y {y[firstWrong]}, keep {keep[firstWrong]}" : "")}");
        double fraction = dropped / (double)Million;
        Assert.InRange(fraction, rate - 0.01, rate + 0.01);
    }

    /// <summary>p = 0 keeps everything unchanged (threshold 0, scale 1), in the standalone kernel and
    /// in the fused epilogue.</summary>
    [Fact]
    public void Dropout_ZeroRate_KeepsEverything()
    {
        KernelSet set = fixture.Main;
        float[] x = TestData.Uniform(new Random(2), 1 << 16);
        var mask = DropoutMask.For(0f, seed: 42u, step: 17u, layer: 1u);
        Assert.Equal(0u, mask.DropThreshold);
        Assert.Equal(x, Forward(set, x, mask));

        const int m = 33, n = 70, k = 19;
        var random = new Random(3);
        float[] a = TestData.Uniform(random, m * k);
        float[] b = TestData.Uniform(random, k * n);
        float[] bias = TestData.Uniform(random, n);
        Assert.Equal(Gemm(set, a, b, bias, m, n, k, DenseEpilogue.Of(EpilogueMode.BiasRelu)),
            Gemm(set, a, b, bias, m, n, k, mask.Epilogue(EpilogueMode.BiasReluDropout)));
    }

    /// <summary>Same (seed, step, layer): the same mask on every launch; changing any one of them
    /// gives an unrelated mask (elements agree with probability p^2 + (1-p)^2 = 1/2 at p = 1/2).</summary>
    [Fact]
    public void DropoutMask_SeedStepOrLayerChanged_DiffersAndOtherwiseRepeats()
    {
        KernelSet set = fixture.Main;
        const int count = 1 << 16;
        float[] x = Positive(count, 4);
        var mask = DropoutMask.For(0.5f, seed: 9u, step: 100u, layer: 2u);
        float[] first = Forward(set, x, mask);
        Assert.Equal(first, Forward(set, x, mask));

        foreach ((string what, DropoutMask other) in new[]
        {
            ("step + 1", mask with { Step = 101u }),
            ("seed + 1", mask with { Seed = 10u }),
            ("layer + 1", mask with { Layer = 3u }),
        })
        {
            float[] y = Forward(set, x, other);
            int differ = 0;
            for (int i = 0; i < count; i++)
            {
                if ((first[i] == 0f) != (y[i] == 0f))
                    differ++;
            }
            Assert.True(Math.Abs((differ / (double)count) - 0.5) < 0.02,
                $"{set.Name}: with {what} the mask differs in {differ} of {count} elements, expected about half");
        }
    }

    /// <summary>The fused epilogue (C = dropout(relu(A B + bias))) and the unfused path (GEMM with
    /// Bias, then ReluForward, then DropoutForward) drop exactly the same elements and agree in value.
    /// A, B &gt;= 0 and bias = 1 keep every pre-dropout value &gt;= 1, so a zero means dropped.</summary>
    [Theory]
    [InlineData(GemmPath.Auto)]
    [InlineData(GemmPath.SharedTiled)]
    public void FusedEpilogue_SameMask_DropsSameElementsAsStandaloneDropout(GemmPath path)
    {
        KernelSet set = fixture.Gemm(path);
        const int m = 33, n = 70, k = 19;
        var random = new Random(6);
        float[] a = TestData.Uniform(random, m * k, 0f, 1f);
        float[] b = TestData.Uniform(random, k * n, 0f, 1f);
        float[] bias = Enumerable.Repeat(1f, n).ToArray();
        var mask = DropoutMask.For(0.5f, seed: 77u, step: 12u, layer: 1u);

        float[] fused = Gemm(set, a, b, bias, m, n, k, mask.Epilogue(EpilogueMode.BiasReluDropout));
        float[] z = Gemm(set, a, b, bias, m, n, k, DenseEpilogue.Of(EpilogueMode.Bias));
        float[] unfused;
        using (var zBuffer = set.Accelerator.Input(z))
        using (var h = set.Accelerator.Output(m * n))
        using (var y = set.Accelerator.Output(m * n))
        {
            set.Unfused.ReluForward(zBuffer.View, h.View, m * n);
            set.Unfused.Dropout(h.View, y.View, m * n, mask);
            unfused = y.Download("y");
        }

        bool[] keep = NaiveReference.KeepMask(m * n, mask);
        for (int i = 0; i < m * n; i++)
        {
            Assert.True(z[i] >= 1f, $"pre-dropout value [{i}] = {z[i]} should be >= 1");
            Assert.True((fused[i] != 0f) == keep[i], $"{set.Name}: fused epilogue [{i / n}, {i % n}] kept = {fused[i] != 0f}, DropoutKernels.Keep = {keep[i]}");
            Assert.True((unfused[i] != 0f) == keep[i], $"{set.Name}: DropoutForward [{i}] kept = {unfused[i] != 0f}, DropoutKernels.Keep = {keep[i]}");
        }
        Compare.AllClose(fused, NaiveReference.ToDouble(unfused), 0, 4.0 / (1 << 24), $"{set.Name} fused vs unfused dropout", n);
    }

    /// <summary>Backward applies the forward's mask and scale: dx = dy * keepScale where kept, else 0,
    /// bit for bit; and it is the gradient of L = sum(G ⊙ dropout(x)) (linear, so the finite
    /// difference is exact up to ~1e-11).</summary>
    [Theory]
    [InlineData(0.2f)]
    [InlineData(0.5f)]
    public void Dropout_Backward_MatchesMaskAndFiniteDifferences(float rate)
    {
        KernelSet set = fixture.Main;
        const int count = 4099;
        var mask = DropoutMask.For(rate, seed: 3u, step: 8u, layer: 0u);
        float[] dy = TestData.Uniform(new Random(8), count);
        using var dyBuffer = set.Accelerator.Input(dy);
        using var dx = set.Accelerator.Output(count);
        set.Unfused.Dropout(dyBuffer.View, dx.View, count, mask);
        float[] gradient = dx.Download("dx");

        bool[] keep = NaiveReference.KeepMask(count, mask);
        for (int i = 0; i < count; i++)
        {
            float expected = keep[i] ? dy[i] * mask.KeepScale : 0f;
            Assert.True(BitConverter.SingleToInt32Bits(expected) == BitConverter.SingleToInt32Bits(gradient[i]),
                $"{set.Name}: dx[{i}] = {gradient[i]}, expected {expected} (kept {keep[i]})");
        }

        const int small = 37;
        double[] x = NaiveReference.ToDouble(TestData.Uniform(new Random(9), small));
        double[] g = NaiveReference.ToDouble(dy.AsSpan(0, small));
        double[] fd = TestData.FiniteDifference(x, 1e-4, v => TestData.Dot(g, NaiveReference.DropoutForward(v, mask)));
        Compare.AllClose(gradient.AsSpan(0, small), fd, 1e-9, 1e-7, $"{set.Name} dropout backward vs finite differences");
    }

    private static float[] Gemm(KernelSet set, float[] a, float[] b, float[] bias, int m, int n, int k, DenseEpilogue epilogue)
    {
        using var aBuffer = set.Accelerator.Input(a);
        using var bBuffer = set.Accelerator.Input(b);
        using var biasBuffer = set.Accelerator.Input(bias);
        using var c = set.Accelerator.Output(m * n);
        set.Kernels.Gemm(GemmShape.Plain(m, n, k), epilogue, aBuffer.View, bBuffer.View, c.View, biasBuffer.View, set.Kernels.Unused);
        return c.Download("C");
    }
}
