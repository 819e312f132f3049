using BenchmarkDotNet.Attributes;
using GpuMlp.Compute;
using GpuMlp.Kernels;
using GpuMlp.Kernels.Cpu;
using ILGPU;

namespace GpuMlp.Bench;

/// <summary>The CPU accelerator's SIMD GEMM (CpuDenseKernels.DenseGemmSimdKernel through DeviceKernels)
/// against two plain C# GEMMs with no ILGPU, all of the same width. ParallelForSameCode
/// (baseline, so Ratio = time / its time) runs the kernel's own worker body, one Parallel.For index
/// per worker: the ratio isolates what an ILGPU launch adds to the same code; it is NOT a ceiling
/// for a GEMM on this CPU (a real BLAS sgemm at the same shapes is bench/reference/sgemm.py). ParallelForPlain is an independent,
/// straightforward Parallel.For SIMD GEMM (HostSimdGemm: register tiles, B read in place; scalar: an
/// i-k-j loop). Shape: the first forward GEMM, M x K x N = Batch x 784 x 512, plain layout. The
/// kernel runs with the Store epilogue (what the plain GEMMs compute) and with the training epilogue
/// bias+ReLU+dropout.</summary>
[BenchmarkCategory("CpuSimdGemm")]
public class CpuSimdGemmBenchmarks
{
    private const int K = 784, N = 512;

    private BenchDevice? device;
    private DeviceKernels? kernels;
    private ArrayView<float> a, b, c, bias;
    private float[] hostA = [], hostB = [], hostC = [];

    [Params(128, 1024)]
    public int Batch { get; set; } = 128;

    [Params(CpuSimdWidth.Vector512, CpuSimdWidth.Vector256, CpuSimdWidth.Scalar)]
    public CpuSimdWidth Width { get; set; } = CpuSimdWidth.Vector512;

    public static long Flops(int batch) => 2L * batch * K * N;

    [GlobalSetup]
    public void Setup()
    {
        device = new BenchDevice("cpu");
        kernels = SharedDevice.Get("cpu").KernelsFor(Width);
        hostA = Synthetic.Floats((long)Batch * K, 1, 0.1f);
        hostB = Synthetic.Floats((long)K * N, 2, 0.1f);
        hostC = new float[Batch * N];
        a = device.Upload(hostA);
        b = device.Upload(hostB);
        bias = device.Upload(Synthetic.Floats(N, 3, 0.1f));
        c = device.Allocate<float>((long)Batch * N);
        device.Synchronize();
    }

    [GlobalCleanup]
    public void Cleanup() => device?.Dispose();

    [Benchmark(Baseline = true, Description = "ParallelForSameCode")]
    public float ParallelForSameCode()
    {
        int workers = kernels!.CpuWorkers;
        var shape = GemmShape.Plain(Batch, N, K);
        var epilogue = DenseEpilogue.Of(EpilogueMode.Store);
        Parallel.For(0, workers, new ParallelOptions { MaxDegreeOfParallelism = workers }, worker =>
        {
            ref float unused = ref hostC[0];
            CpuDenseSimd.Gemm(worker, workers, shape, epilogue, Width, new CpuDenseSimd.GemmOperands(
                ref hostA[0], ref hostB[0], ref hostC[0], ref unused, ref unused, ref unused, sumColumns: false));
        });
        return hostC[0];
    }

    [Benchmark(Description = "ParallelForPlain")]
    public float ParallelForPlain()
    {
        if (Width == CpuSimdWidth.Scalar)
            HostSimdGemm.MultiplyScalar(Batch, N, K, hostA, hostB, hostC);
        else
            HostSimdGemm.Multiply(Width == CpuSimdWidth.Vector512, Batch, N, K, hostA, hostB, hostC);
        return hostC[0];
    }

    [Benchmark(Description = "IlgpuSimdKernel")]
    public void IlgpuSimdKernel()
    {
        kernels!.Gemm(GemmShape.Plain(Batch, N, K), DenseEpilogue.Of(EpilogueMode.Store), a, b, c, kernels.Unused, kernels.Unused);
        device!.Synchronize();
    }

    [Benchmark(Description = "IlgpuSimdKernelBiasReluDropout")]
    public void IlgpuSimdKernelBiasReluDropout()
    {
        kernels!.Gemm(GemmShape.Plain(Batch, N, K), DropoutMask.For(0.2f, 1, 0, 0).Epilogue(EpilogueMode.BiasReluDropout),
            a, b, c, bias, kernels.Unused);
        device!.Synchronize();
    }
}
