// Forward GEMM (DenseKernels.DenseGemm*Kernel through DeviceKernels.Gemm) against the float64
// reference, for every operand layout (GemmShape factory), every epilogue mode, odd shapes that
// leave partial tiles in every dimension, and both GEMM implementations.
using GpuMlp.Compute;
using GpuMlp.Kernels;
using GpuMlp.Tests.Reference;

namespace GpuMlp.Tests.Kernels;

/// <summary>Which GemmShape factory, i.e. how A and B are stored.</summary>
public enum GemmLayout
{
    /// <summary>A [M,K], B [K,N].</summary>
    Plain,
    /// <summary>A stored [K,M] (the dW = X^T dZ product).</summary>
    TransposedA,
    /// <summary>B stored [N,K] (the dX = dZ W^T product).</summary>
    TransposedB,
}

[Collection(DeviceCollection.Name)]
public sealed class DenseGemmTests(DeviceFixture fixture)
{
    /// <summary>M x N x K: the trivial case; everything smaller than one tile; partial tiles in every
    /// dimension, with several tiles and several K slices; a tall product with K a multiple of 16.</summary>
    private static readonly (int M, int N, int K)[] Shapes = [(1, 1, 1), (5, 13, 7), (33, 70, 19), (128, 10, 256)];

    /// <summary>More than one 64x64 block of the GPU tile in both M and N, with ragged edges. On the
    /// Auto path (on a GPU the 16x16 shared-tiled kernel, on the CPU the register-tiled one) and on
    /// both forced GPU block sizes; not on the 2x2-thread CPU variant, which already crosses many of
    /// its 8x8 blocks at 33x70x19 and would pay ~0.5 s per case here.</summary>
    private static readonly (int M, int N, int K) GpuBlocksShape = (65, 129, 33);

    /// <summary>Shapes for the CPU SIMD paths: no dimension a multiple of any tile (6 rows, 64/32/16
    /// columns) or vector width (16, 8), one-element and one-vector edges, N narrow enough for the
    /// one- and two-vector tiles, several row blocks and panels, K = 1.</summary>
    private static readonly (int M, int N, int K)[] SimdShapes =
        [(1, 1, 1), (7, 33, 129), (129, 7, 33), (33, 129, 7), (130, 65, 17), (97, 20, 5), (200, 3, 1)];

    private static bool IsCpuSimd(GemmPath path) => path is GemmPath.CpuVector512 or GemmPath.CpuVector256 or GemmPath.CpuScalar;

    public static TheoryData<GemmPath, GemmLayout, EpilogueMode, int, int, int> Cases()
    {
        var data = new TheoryData<GemmPath, GemmLayout, EpilogueMode, int, int, int>();
        foreach (GemmPath path in Enum.GetValues<GemmPath>())
        {
            if (IsCpuSimd(path))
            {
                foreach (GemmLayout layout in Enum.GetValues<GemmLayout>())
                {
                    foreach (EpilogueMode mode in Enum.GetValues<EpilogueMode>())
                    {
                        foreach ((int m, int n, int k) in SimdShapes)
                            data.Add(path, layout, mode, m, n, k);
                    }
                }
                continue;
            }
            foreach (GemmLayout layout in Enum.GetValues<GemmLayout>())
            {
                foreach (EpilogueMode mode in Enum.GetValues<EpilogueMode>())
                {
                    foreach ((int m, int n, int k) in Shapes)
                        data.Add(path, layout, mode, m, n, k);
                    if (path is GemmPath.Auto or GemmPath.GpuBlock64 or GemmPath.GpuBlock32)
                        data.Add(path, layout, mode, GpuBlocksShape.M, GpuBlocksShape.N, GpuBlocksShape.K);
                }
            }
        }
        return data;
    }

    internal static GemmShape ShapeOf(GemmLayout layout, int m, int n, int k) => layout switch
    {
        GemmLayout.Plain => GemmShape.Plain(m, n, k),
        GemmLayout.TransposedA => GemmShape.TransposedA(m, n, k),
        _ => GemmShape.TransposedB(m, n, k),
    };

    /// <summary>The dropout mask the dropout-aware epilogues use (p = 0.3, so KeepScale = 1/0.7 is not
    /// a power of two and a missing or wrong scale shows).</summary>
    internal static readonly DropoutMask Mask = DropoutMask.For(0.3f, seed: 1234u, step: 7u, layer: 2u);

    internal static DenseEpilogue EpilogueFor(EpilogueMode mode) =>
        mode is EpilogueMode.BiasReluDropout or EpilogueMode.ActiveMask ? Mask.Epilogue(mode) : DenseEpilogue.Of(mode);

    [Theory]
    [MemberData(nameof(Cases))]
    public void Gemm_OddShapesEveryEpilogue_MatchesReference(GemmPath path, GemmLayout layout, EpilogueMode mode, int m, int n, int k)
    {
        KernelSet set = fixture.Gemm(path);
        var random = new Random(TestData.StableSeed(m, n, k, (int)layout, (int)mode));
        // Logical operands A [M,K], B [K,N]; the device gets them in the layout under test.
        float[] a = TestData.Uniform(random, m * k);
        float[] b = TestData.Uniform(random, k * n);
        float[] bias = TestData.Uniform(random, n);
        // aux: the forward output of the layer below: positive, negative and exactly zero values.
        float[] aux = TestData.Uniform(random, m * n);
        for (int i = 0; i < aux.Length; i += 7)
            aux[i] = 0f;
        float[] aStored = layout == GemmLayout.TransposedA ? TestData.Transpose(a, m, k) : a;
        float[] bStored = layout == GemmLayout.TransposedB ? TestData.Transpose(b, k, n) : b;
        DenseEpilogue epilogue = EpilogueFor(mode);

        double[] expected = NaiveReference.Gemm(GemmShape.Plain(m, n, k), epilogue,
            NaiveReference.ToDouble(a), NaiveReference.ToDouble(b), NaiveReference.ToDouble(bias), NaiveReference.ToDouble(aux));

        using var aBuffer = set.Accelerator.Input(aStored);
        using var bBuffer = set.Accelerator.Input(bStored);
        using var biasBuffer = set.Accelerator.Input(bias);
        using var auxBuffer = set.Accelerator.Input(aux);
        using var cBuffer = set.Accelerator.Output(m * n);
        bool usesBias = mode is EpilogueMode.Bias or EpilogueMode.BiasRelu or EpilogueMode.BiasReluDropout;
        set.Kernels.Gemm(ShapeOf(layout, m, n, k), epilogue, aBuffer.View, bBuffer.View, cBuffer.View,
            usesBias ? biasBuffer.View : set.Kernels.Unused,
            mode == EpilogueMode.ActiveMask ? auxBuffer.View : set.Kernels.Unused);
        float[] c = cBuffer.Download("C");

        Compare.AllClose(c, expected, Tolerance.Gemm(set.Backend, k), $"{set.Name} {layout} {mode} {m}x{n}x{k}", n);
    }

    /// <summary>The three factories encode the documented layouts (the GEMM test computes its
    /// reference from the logical matrices, so this pins the strides themselves).</summary>
    [Fact]
    public void GemmShape_Factories_HaveDocumentedStrides()
    {
        Assert.Equal((5, 13, 7, 7, 1, 13, 1), Tuple(GemmShape.Plain(5, 13, 7)));
        Assert.Equal((5, 13, 7, 1, 5, 13, 1), Tuple(GemmShape.TransposedA(5, 13, 7)));
        Assert.Equal((5, 13, 7, 7, 1, 1, 7), Tuple(GemmShape.TransposedB(5, 13, 7)));

        static (int, int, int, int, int, int, int) Tuple(GemmShape s) =>
            (s.M, s.N, s.K, s.AStrideM, s.AStrideK, s.BStrideK, s.BStrideN);
    }

    /// <summary>C is overwritten, not accumulated, and the result does not depend on scheduling:
    /// two launches into the same buffer give bit-identical results.</summary>
    [Theory]
    [InlineData(GemmPath.Auto)]
    [InlineData(GemmPath.SharedTiled)]
    [InlineData(GemmPath.GpuBlock64)]
    [InlineData(GemmPath.GpuBlock32)]
    [InlineData(GemmPath.CpuVector512)]
    [InlineData(GemmPath.CpuVector256)]
    [InlineData(GemmPath.CpuScalar)]
    [InlineData(GemmPath.CpuPortable)]
    public void Gemm_RepeatedLaunch_OverwritesAndIsDeterministic(GemmPath path)
    {
        KernelSet set = fixture.Gemm(path);
        const int m = 33, n = 70, k = 19;
        var random = new Random(77);
        float[] a = TestData.Uniform(random, m * k);
        float[] b = TestData.Uniform(random, k * n);
        float[] bias = TestData.Uniform(random, n);
        using var aBuffer = set.Accelerator.Input(a);
        using var bBuffer = set.Accelerator.Input(b);
        using var biasBuffer = set.Accelerator.Input(bias);
        using var cBuffer = set.Accelerator.Output(m * n);
        DenseEpilogue epilogue = DenseEpilogue.Of(EpilogueMode.Bias);

        set.Kernels.Gemm(GemmShape.Plain(m, n, k), epilogue, aBuffer.View, bBuffer.View, cBuffer.View, biasBuffer.View, set.Kernels.Unused);
        float[] once = cBuffer.Download("C (first launch)");
        set.Kernels.Gemm(GemmShape.Plain(m, n, k), epilogue, aBuffer.View, bBuffer.View, cBuffer.View, biasBuffer.View, set.Kernels.Unused);
        float[] twice = cBuffer.Download("C (second launch)");

        Assert.Equal(once, twice);
    }

    /// <summary>Both GEMM implementations agree with each other (on the CPU: the register-tiled and the
    /// shared-tiled kernel on their two accelerators) to within float32 rounding.</summary>
    [Fact]
    public void Gemm_RegisterAndSharedTiles_Agree()
    {
        const int m = 37, n = 45, k = 21;
        var random = new Random(99);
        float[] a = TestData.Uniform(random, m * k);
        float[] w = TestData.Uniform(random, k * n);
        float[] bias = TestData.Uniform(random, n);
        float[] Run(KernelSet set)
        {
            using var aBuffer = set.Accelerator.Input(a);
            using var wBuffer = set.Accelerator.Input(w);
            using var biasBuffer = set.Accelerator.Input(bias);
            using var cBuffer = set.Accelerator.Output(m * n);
            set.Kernels.Gemm(GemmShape.Plain(m, n, k), EpilogueFor(EpilogueMode.BiasReluDropout),
                aBuffer.View, wBuffer.View, cBuffer.View, biasBuffer.View, set.Kernels.Unused);
            return cBuffer.Download("C");
        }

        float[] auto = Run(fixture.Main);
        float[] shared = Run(fixture.SharedTiled);
        Compare.AllClose(shared, NaiveReference.ToDouble(auto), Tolerance.Gemm(fixture.Backend, k), "SharedTiled vs Auto", n);
    }
}
