using BenchmarkDotNet.Attributes;
using GpuMlp.Compute;
using GpuMlp.Kernels;
using ILGPU;

namespace GpuMlp.Bench;

/// <summary>Every GEMM of a training step at the model's real shapes. Baseline: the naive
/// host triple loop of the same shape (so Ratio is the speed-up over plain C#).</summary>
[BenchmarkCategory("GEMM")]
public class GemmBenchmarks
{
    private BenchDevice? device;
    private GemmProblem problem;
    private DenseEpilogue epilogue;
    private ArrayView<float> a, b, c, bias, aux;
    private float[] hostA = [], hostB = [], hostC = [];

    [ParamsSource(nameof(Devices))]
    public string Device { get; set; } = "cpu";

    [Params(128, 1024)]
    public int Batch { get; set; } = 128;

    [ParamsSource(nameof(Cases))]
    public string Case { get; set; } = "Fwd1_784x512";

    public static IEnumerable<string> Devices() => BenchDevices.All();

    public static IEnumerable<string> Cases() => GemmProblem.Cases();

    [GlobalSetup]
    public void Setup()
    {
        device = new BenchDevice(Device);
        problem = GemmProblem.For(Case, Batch);
        var s = problem.Shape;
        hostA = Synthetic.Floats(problem.ALength, 1, 0.1f);
        hostB = Synthetic.Floats(problem.BLength, 2, 0.1f);
        hostC = new float[(long)s.M * s.N];
        a = device.Upload(hostA);
        b = device.Upload(hostB);
        c = device.Allocate<float>((long)s.M * s.N);
        bias = problem.Mode is EpilogueMode.Bias or EpilogueMode.BiasReluDropout
            ? device.Upload(Synthetic.Floats(s.N, 3, 0.1f))
            : device.Kernels.Unused;
        aux = problem.Mode == EpilogueMode.ActiveMask
            ? device.Upload(Synthetic.Activations((long)s.M * s.N, 4))
            : device.Kernels.Unused;
        epilogue = problem.Mode switch
        {
            EpilogueMode.BiasReluDropout => DropoutMask.For(0.2f, 1, 0, (uint)problem.Layer).Epilogue(EpilogueMode.BiasReluDropout),
            EpilogueMode.ActiveMask => DropoutMask.For(0.2f, 1, 0, (uint)problem.Layer).Epilogue(EpilogueMode.ActiveMask),
            _ => DenseEpilogue.Of(problem.Mode),
        };
        device.Synchronize();
    }

    [GlobalCleanup]
    public void Cleanup() => device?.Dispose();

    [Benchmark(Baseline = true, Description = "NaiveHost")]
    public float NaiveHost()
    {
        GemmProblem.NaiveHost(problem.Shape, hostA, hostB, hostC);
        return hostC[0];
    }

    [Benchmark(Description = "Kernel")]
    public void Kernel()
    {
        var d = device!;
        d.Kernels.Gemm(problem.Shape, epilogue, a, b, c, bias, aux);
        d.Synchronize();
    }
}
