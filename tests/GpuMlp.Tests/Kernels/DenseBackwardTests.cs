// Backward kernels of the dense layer against central finite differences of the float64
// FORWARD reference: the kernels compute dX, dW, db (and the fused ReLU/dropout backward) in
// float32; the finite differences perturb the inputs of a float64 forward pass and difference a
// scalar loss L = sum(G ⊙ output) for a fixed random G (so dL/doutput = G, the upstream gradient
// the kernels are given). The losses are linear, or piecewise linear with every input kept at
// least 0.05 away from the ReLU kink while h = 1e-4, so the finite differences are exact up to
// float64 cancellation (~1e-16 * |L| / h ~ 1e-11); the tolerance (Tolerance.FiniteDifference,
// 1e-5 on the CPU) is the kernels' float32 rounding over at most ~10 terms of size <= 1.
using GpuMlp.Compute;
using GpuMlp.Kernels;
using GpuMlp.Tests.Reference;

namespace GpuMlp.Tests.Kernels;

[Collection(DeviceCollection.Name)]
public sealed class DenseBackwardTests(DeviceFixture fixture)
{
    private const double H = 1e-4;

    public static TheoryData<GemmPath, int, int, int> TinyShapes() => new()
    {
        { GemmPath.Auto, 3, 5, 4 },
        { GemmPath.Auto, 6, 9, 7 },
        { GemmPath.SharedTiled, 3, 5, 4 },
        { GemmPath.SharedTiled, 6, 9, 7 },
        { GemmPath.GpuBlock64, 6, 9, 7 },
        { GemmPath.GpuBlock32, 6, 9, 7 },
        { GemmPath.GpuBlock32, 40, 70, 33 },
    };

    /// <summary>C = A B, L = sum(G ⊙ C). dA = G B^T comes from the kernel with GemmShape.TransposedB
    /// (B [K,N] is "B stored [N',K']" with N' = K, K' = N), dB = A^T G with GemmShape.TransposedA (A [M,K]
    /// is "A stored [K',M']" with K' = M, M' = K): exactly the dX and dW launches of training.</summary>
    [Theory]
    [MemberData(nameof(TinyShapes))]
    public void Gemm_TransposedProducts_MatchFiniteDifferences(GemmPath path, int m, int n, int k)
    {
        KernelSet set = fixture.Gemm(path);
        var random = new Random(31 + m + n + k);
        float[] a = TestData.Uniform(random, m * k);
        float[] b = TestData.Uniform(random, k * n);
        float[] g = TestData.Uniform(random, m * n);
        double[] a64 = NaiveReference.ToDouble(a), b64 = NaiveReference.ToDouble(b), g64 = NaiveReference.ToDouble(g);

        double[] fdA = TestData.FiniteDifference(a64, H, x => TestData.Dot(g64, NaiveReference.MatMul(x, b64, m, n, k)));
        double[] fdB = TestData.FiniteDifference(b64, H, x => TestData.Dot(g64, NaiveReference.MatMul(a64, x, m, n, k)));

        using var aBuffer = set.Accelerator.Input(a);
        using var bBuffer = set.Accelerator.Input(b);
        using var gBuffer = set.Accelerator.Input(g);
        using var dA = set.Accelerator.Output(m * k);
        using var dB = set.Accelerator.Output(k * n);
        DenseEpilogue store = DenseEpilogue.Of(EpilogueMode.Store);
        set.Kernels.Gemm(GemmShape.TransposedB(m, k, n), store, gBuffer.View, bBuffer.View, dA.View, set.Kernels.Unused, set.Kernels.Unused);
        set.Kernels.Gemm(GemmShape.TransposedA(k, n, m), store, aBuffer.View, gBuffer.View, dB.View, set.Kernels.Unused, set.Kernels.Unused);

        Tol tolerance = Tolerance.FiniteDifference(set.Backend);
        Compare.AllClose(dA.Download("dA"), fdA, tolerance, $"{set.Name} dA = G B^T vs finite differences", k);
        Compare.AllClose(dB.Download("dB"), fdB, tolerance, $"{set.Name} dB = A^T G vs finite differences", n);
    }

    /// <summary>The ActiveMask epilogue is the backward of the layer below through its ReLU and
    /// dropout: with X = dropout(relu(Zprev)), Z = X W + b and L = sum(G ⊙ Z),
    /// dL/dZprev = (G W^T) ⊙ [X &gt; 0] * keepScale. X (the aux operand) is produced by the kernels'
    /// own unfused forward (UnfusedKernels.ReluForward and Dropout), so the masks of forward and backward must
    /// agree for this to pass.</summary>
    [Theory]
    [InlineData(GemmPath.Auto, 0.5f)]
    [InlineData(GemmPath.Auto, 0.3f)]
    [InlineData(GemmPath.SharedTiled, 0.3f)]
    [InlineData(GemmPath.GpuBlock32, 0.3f)]
    [InlineData(GemmPath.GpuBlock64, 0.3f)]
    [InlineData(GemmPath.Auto, 0f)]
    public void ActiveMaskEpilogue_ThroughReluAndDropout_MatchesFiniteDifferences(GemmPath path, float rate)
    {
        KernelSet set = fixture.Gemm(path);
        const int batch = 5, inputs = 9, outputs = 6;
        var random = new Random(41);
        float[] zPrev = TestData.AwayFromZero(random, batch * inputs, 0.05f);
        float[] w = TestData.Uniform(random, inputs * outputs);
        float[] bias = TestData.Uniform(random, outputs);
        float[] g = TestData.Uniform(random, batch * outputs);
        var mask = DropoutMask.For(rate, seed: 5u, step: 3u, layer: 1u);
        double[] w64 = NaiveReference.ToDouble(w), b64 = NaiveReference.ToDouble(bias), g64 = NaiveReference.ToDouble(g);

        double Loss(double[] z)
        {
            double[] x = NaiveReference.DropoutForward(NaiveReference.ReluForward(z), mask);
            double[] output = NaiveReference.Gemm(GemmShape.Plain(batch, outputs, inputs), DenseEpilogue.Of(EpilogueMode.Bias), x, w64, b64, []);
            return TestData.Dot(g64, output);
        }
        double[] fd = TestData.FiniteDifference(NaiveReference.ToDouble(zPrev), H, Loss);

        int count = batch * inputs;
        using var zBuffer = set.Accelerator.Input(zPrev);
        using var hBuffer = set.Accelerator.Output(count);
        using var xBuffer = set.Accelerator.Output(count);
        using var wBuffer = set.Accelerator.Input(w);
        using var gBuffer = set.Accelerator.Input(g);
        using var dZ = set.Accelerator.Output(count);
        set.Unfused.ReluForward(zBuffer.View, hBuffer.View, count);
        set.Unfused.Dropout(hBuffer.View, xBuffer.View, count, mask);
        set.Kernels.Gemm(GemmShape.TransposedB(batch, inputs, outputs), mask.Epilogue(EpilogueMode.ActiveMask),
            gBuffer.View, wBuffer.View, dZ.View, set.Kernels.Unused, xBuffer.View);

        Compare.AllClose(dZ.Download("dZprev"), fd, Tolerance.FiniteDifference(set.Backend),
            $"{set.Name} ActiveMask (p = {rate}) vs finite differences", inputs);
    }

    /// <summary>With L = sum(G ⊙ (X W + b)), dL/db[n] = sum over rows of G[m, n].</summary>
    [Fact]
    public void BiasGradient_LinearLoss_MatchesFiniteDifferences()
    {
        KernelSet set = fixture.Main;
        const int rows = 7, inputs = 4, columns = 5;
        var random = new Random(43);
        float[] x = TestData.Uniform(random, rows * inputs);
        float[] w = TestData.Uniform(random, inputs * columns);
        float[] bias = TestData.Uniform(random, columns);
        float[] g = TestData.Uniform(random, rows * columns);
        double[] x64 = NaiveReference.ToDouble(x), w64 = NaiveReference.ToDouble(w), g64 = NaiveReference.ToDouble(g);
        double[] fd = TestData.FiniteDifference(NaiveReference.ToDouble(bias), H, b => TestData.Dot(g64,
            NaiveReference.Gemm(GemmShape.Plain(rows, columns, inputs), DenseEpilogue.Of(EpilogueMode.Bias), x64, w64, b, [])));

        using var gBuffer = set.Accelerator.Input(g);
        using var db = set.Accelerator.Output(columns);
        set.Kernels.BiasGradient(gBuffer.View, rows, columns, db.View);

        Compare.AllClose(db.Download("db"), fd, Tolerance.FiniteDifference(set.Backend), $"{set.Name} db vs finite differences");
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(5, 13)]
    [InlineData(33, 70)]
    [InlineData(128, 10)]
    [InlineData(3, 1031)]
    [InlineData(33, 1031, true)]
    [InlineData(5, 13, true)]
    public void BiasGradient_OddShapes_MatchesReference(int rows, int columns, bool gpuLaunchShapes = false)
    {
        KernelSet set = gpuLaunchShapes ? fixture.GpuProfile : fixture.Main;
        var random = new Random((rows * 1009) + columns);
        float[] dz = TestData.Uniform(random, rows * columns);
        double[] expected = NaiveReference.BiasGradient(NaiveReference.ToDouble(dz), rows, columns);

        using var dzBuffer = set.Accelerator.Input(dz);
        using var db = set.Accelerator.Output(columns);
        set.Kernels.BiasGradient(dzBuffer.View, rows, columns, db.View);

        Compare.AllClose(db.Download("db"), expected, Tolerance.Sum(set.Backend, rows), $"{set.Name} db [{rows}x{columns}]");
    }
}
