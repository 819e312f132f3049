// The accelerator the kernel tests run on, chosen by the GPUMLP_TEST_DEVICE environment variable
// (cpu, the default | cuda | opencl), plus the per-backend tolerances and the buffer helpers the
// kernel tests share.
//
// A requested accelerator that is missing is an ERROR, not a skip: DeviceUnavailableException
// propagates out of every test that touches the device, so `GPUMLP_TEST_DEVICE=cuda dotnet test`
// on a machine without a GPU fails loudly instead of passing by testing nothing.
using GpuMlp.Compute;
using ILGPU;
using ILGPU.Runtime;

[assembly: AssemblyFixture(typeof(GpuMlp.Tests.DeviceFixture))]

namespace GpuMlp.Tests;

/// <summary>The backend a kernel result came from; tolerances depend on it.</summary>
public enum Backend
{
    Cpu,
    Cuda,
    OpenCL,
}

/// <summary>Which GEMM implementation a GEMM test runs (a [Theory] parameter).</summary>
public enum GemmPath
{
    /// <summary>The test device with GemmVariant.Auto: register tiles on the CPU accelerator,
    /// 16x16 shared-memory tiles on a GPU.</summary>
    Auto,

    /// <summary>The shared-memory GEMM. On a GPU this is the Auto pair itself; on the CPU it is a
    /// second CPU accelerator shaped ComputeDevice.CpuGroupTestShape running GemmVariant.SharedTiled2,
    /// so the GPU kernel's tiling, padding and barriers are exercised without a GPU.</summary>
    SharedTiled,

    /// <summary>The GPU GEMM forced to 64x64 blocks of 16x16 threads (GemmTile16x16x16). On the CPU:
    /// an accelerator with 256-thread groups (ComputeDevice.CpuGpuGroupShape) and the GPU launch
    /// profile, i.e. exactly the kernel instantiation and launch shape a GPU runs.</summary>
    GpuBlock64,

    /// <summary>The GPU GEMM forced to 32x32 blocks of 8x8 threads (GemmTile8x8x16), the block an
    /// H200 uses for every batch-128 training GEMM; on the CPU as for GpuBlock64.</summary>
    GpuBlock32,

    /// <summary>The CPU SIMD GEMM (kernels/Cpu) forced to Vector512, on a CPU accelerator shaped like
    /// training's, whatever GPUMLP_TEST_DEVICE names (it exists only there).</summary>
    CpuVector512,

    /// <summary>The CPU SIMD GEMM forced to Vector256.</summary>
    CpuVector256,

    /// <summary>The CPU SIMD GEMM forced to its scalar path.</summary>
    CpuScalar,

    /// <summary>The portable register-tiled GEMM with CPU launches (--cpu-simd off).</summary>
    CpuPortable,
}

/// <summary>Reads GPUMLP_TEST_DEVICE and opens the accelerator it names.</summary>
public static class TestDevice
{
    public const string VariableName = "GPUMLP_TEST_DEVICE";

    /// <summary>The requested device name, lower-cased; "cpu" when the variable is unset or empty.</summary>
    public static string RequestedName
    {
        get
        {
            string? value = Environment.GetEnvironmentVariable(VariableName);
            return string.IsNullOrWhiteSpace(value) ? "cpu" : value.Trim().ToLowerInvariant();
        }
    }

    /// <summary>The parsed request. "auto" is refused: a GPU run must name its GPU, otherwise a
    /// machine whose driver is broken would silently fall back to the CPU and pass.</summary>
    public static DeviceRequest Request
    {
        get
        {
            DeviceRequest request = ComputeDevice.ParseRequest(RequestedName);
            if (request == DeviceRequest.Auto)
                throw new ArgumentException($"{VariableName}=auto is not allowed for tests: use cpu, cuda or opencl");
            return request;
        }
    }

    /// <summary>Opens the requested accelerator. Throws DeviceUnavailableException (with the
    /// variable's value and what was found instead) when it does not exist.</summary>
    public static ComputeDevice Open(ILGPU.Runtime.CPU.CPUDevice? cpuShape = null)
    {
        DeviceRequest request = Request;
        try
        {
            return ComputeDevice.Open(request, cpuShape);
        }
        catch (DeviceUnavailableException e)
        {
            throw new DeviceUnavailableException(
                $"{VariableName}={RequestedName} but that accelerator is not available, so the kernel tests fail " +
                $"instead of testing nothing ({e.Message})");
        }
    }

    public static Backend BackendOf(Accelerator accelerator) => accelerator.AcceleratorType switch
    {
        AcceleratorType.Cuda => Backend.Cuda,
        AcceleratorType.OpenCL => Backend.OpenCL,
        _ => Backend.Cpu,
    };

    /// <summary>Copies a host array into a new device buffer of exactly its length.</summary>
    public static MemoryBuffer1D<T, Stride1D.Dense> Upload<T>(this Accelerator accelerator, T[] data)
        where T : unmanaged => accelerator.Allocate1D(data);

    /// <summary>Copies a whole device buffer back into a new host array (synchronises).</summary>
    public static T[] Download<T>(this MemoryBuffer1D<T, Stride1D.Dense> buffer)
        where T : unmanaged => buffer.GetAsArray1D();

    /// <summary>A new device buffer of `length` elements, every one set to `fill` (so that a
    /// kernel that fails to overwrite an element is caught).</summary>
    public static MemoryBuffer1D<T, Stride1D.Dense> Filled<T>(this Accelerator accelerator, int length, T fill)
        where T : unmanaged
    {
        var host = new T[length];
        Array.Fill(host, fill);
        return accelerator.Allocate1D(host);
    }
}

/// <summary>One accelerator, the training kernels loaded on it, and (on first use) the unfused
/// reference kernels.</summary>
public sealed class KernelSet : IDisposable
{
    private readonly bool ownsDevice;
    private readonly Lazy<UnfusedKernels> unfused;

    public KernelSet(ComputeDevice device, DeviceKernels kernels, bool ownsDevice)
    {
        Device = device;
        Kernels = kernels;
        // Never disposed itself: the set (or the fixture) owns the device.
        KernelDevice = new KernelDevice(device, kernels);
        this.ownsDevice = ownsDevice;
        unfused = new(() => new UnfusedKernels(kernels), LazyThreadSafetyMode.ExecutionAndPublication);
    }

    public ComputeDevice Device { get; }
    public DeviceKernels Kernels { get; }

    /// <summary>The device and its kernels as the trainer, evaluator and models take them.</summary>
    public KernelDevice KernelDevice { get; }

    /// <summary>Standalone ReLU and dropout: the reference the fused GEMM epilogues are tested against.</summary>
    public UnfusedKernels Unfused => unfused.Value;
    public Accelerator Accelerator => Device.Accelerator;
    public Backend Backend => TestDevice.BackendOf(Accelerator);

    /// <summary>"cpu: CPUAccelerator [RegisterTiled]" and the like, for failure messages.</summary>
    public string Name => Kernels.Variant switch
    {
        GemmVariant.SharedTiled16 => $"{Device.Description} [{Kernels.Variant}, {Kernels.GemmBlock}, {(Kernels.IsCpu ? "cpu" : "gpu")} launches]",
        GemmVariant.CpuSimd => $"{Device.Description} [{Kernels.Variant} {CpuSimdChoice.Describe(Kernels.CpuSimd)}, {Kernels.CpuWorkers} workers]",
        _ => $"{Device.Description} [{Kernels.Variant}]",
    };

    /// <summary>Makes this accelerator current on the calling thread. CUDA contexts are bound per
    /// thread and xunit runs tests on pool threads, so every accessor of the fixture binds.</summary>
    public KernelSet Bind()
    {
        Accelerator.Bind();
        return this;
    }

    internal static KernelSet Create(ComputeDevice device, GemmVariant variant,
        GpuGemmBlock block = GpuGemmBlock.Auto, LaunchProfile profile = LaunchProfile.Auto, CpuSimdRequest? cpuSimd = null)
    {
        try
        {
            return new KernelSet(device, new DeviceKernels(device.Accelerator, variant, block, profile, cpuSimd), ownsDevice: true);
        }
        catch
        {
            device.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        if (ownsDevice)
            Device.Dispose();
    }
}

/// <summary>Assembly-wide fixture: the test device and its kernels are compiled once per test
/// run. Opening is lazy (first use), so tests that never touch a device (IDX parsing, reports)
/// do not pay for it or fail because of it, while every device test fails with the
/// DeviceUnavailableException when the requested accelerator is missing (Lazy caches it).</summary>
public sealed class DeviceFixture : IDisposable
{
    private readonly Lazy<KernelSet> main = new(
        () => KernelSet.Create(TestDevice.Open(), GemmVariant.Auto), LazyThreadSafetyMode.ExecutionAndPublication);

    private readonly Lazy<KernelSet> sharedOnCpu = new(
        () => KernelSet.Create(
            ComputeDevice.Open(DeviceRequest.Cpu, ComputeDevice.CpuGroupTestShape), GemmVariant.SharedTiled2),
        LazyThreadSafetyMode.ExecutionAndPublication);

    // The GPU launch profile with each forced GEMM block: on a GPU the test device itself, on the CPU
    // an accelerator with 256-thread groups each (created on first use).
    private readonly Lazy<KernelSet> gpuBlock64 = new(
        () => CreateGpuProfile(GpuGemmBlock.Block64), LazyThreadSafetyMode.ExecutionAndPublication);

    private readonly Lazy<KernelSet> gpuBlock32 = new(
        () => CreateGpuProfile(GpuGemmBlock.Block32), LazyThreadSafetyMode.ExecutionAndPublication);

    private static KernelSet CreateGpuProfile(GpuGemmBlock block) =>
        TestDevice.Request == DeviceRequest.Cpu
            ? KernelSet.Create(ComputeDevice.Open(DeviceRequest.Cpu, ComputeDevice.CpuGpuGroupShape),
                GemmVariant.SharedTiled16, block, LaunchProfile.Gpu)
            : KernelSet.Create(TestDevice.Open(), GemmVariant.SharedTiled16, block, LaunchProfile.Gpu);

    /// <summary>The test device with GemmVariant.Auto, bound to the calling thread.</summary>
    public KernelSet Main => main.Value.Bind();

    /// <summary>Every kernel with the launch shapes a GPU uses (256-thread element-wise groups, 1024
    /// evaluation partials, the 16x16/8x8-thread GEMM with automatic block choice... here forced to
    /// 32x32 blocks, the H200's choice at batch 128). On the CPU it runs on an accelerator whose
    /// groups hold 256 threads, so GPU-only launch logic is executed in CI.</summary>
    public KernelSet GpuProfile => gpuBlock32.Value.Bind();

    public ComputeDevice Device => Main.Device;
    public DeviceKernels Kernels => Main.Kernels;
    public KernelDevice KernelDevice => Main.KernelDevice;
    public bool IsCpu => Main.Device.IsCpu;
    public Backend Backend => Main.Backend;

    /// <summary>The shared-memory GEMM: on a GPU the Auto pair already is it (SharedTiled16); on the
    /// CPU a separate accelerator with 2x2-thread groups running SharedTiled2, created on first use.</summary>
    public KernelSet SharedTiled => IsCpu ? sharedOnCpu.Value.Bind() : Main;

    public KernelSet Gemm(GemmPath path) => path switch
    {
        GemmPath.Auto => Main,
        GemmPath.SharedTiled => SharedTiled,
        GemmPath.GpuBlock64 => gpuBlock64.Value.Bind(),
        GemmPath.GpuBlock32 => gpuBlock32.Value.Bind(),
        GemmPath.CpuVector512 => Cpu(CpuSimdRequest.Vector512),
        GemmPath.CpuVector256 => Cpu(CpuSimdRequest.Vector256),
        GemmPath.CpuScalar => Cpu(CpuSimdRequest.Scalar),
        GemmPath.CpuPortable => Cpu(CpuSimdRequest.Off),
        _ => throw new ArgumentOutOfRangeException(nameof(path)),
    };

    private readonly Dictionary<CpuSimdRequest, KernelSet> cpuSets = [];

    /// <summary>The CPU accelerator's kernels with one SIMD request forced (Vector512, Vector256,
    /// Scalar, or Off: the portable kernels with CPU launches), on a CPU accelerator shaped like
    /// training's (ComputeDevice.CpuDeviceShape), whatever GPUMLP_TEST_DEVICE names; created on first
    /// use. Forcing a path the hardware lacks still runs it (.NET emulates the vectors), so every path
    /// is tested on every machine.</summary>
    public KernelSet Cpu(CpuSimdRequest request)
    {
        if (request == CpuSimdRequest.Auto)
            throw new ArgumentException("name the path", nameof(request));
        lock (cpuSets)
        {
            if (!cpuSets.TryGetValue(request, out var set))
            {
                set = KernelSet.Create(ComputeDevice.Open(DeviceRequest.Cpu), GemmVariant.Auto, cpuSimd: request);
                cpuSets.Add(request, set);
            }
            return set.Bind();
        }
    }

    public void Dispose()
    {
        foreach (var set in cpuSets.Values)
            set.Dispose();
        if (gpuBlock64.IsValueCreated)
            gpuBlock64.Value.Dispose();
        if (gpuBlock32.IsValueCreated)
            gpuBlock32.Value.Dispose();
        if (sharedOnCpu.IsValueCreated)
            sharedOnCpu.Value.Dispose();
        if (main.IsValueCreated)
            main.Value.Dispose();
    }
}

/// <summary>Every device kernel test class is in this collection, so kernel launches never run
/// concurrently on one accelerator (ILGPU's CPU accelerator runs one kernel at a time and a CUDA
/// context is bound per thread). Tests in other collections still run in parallel.</summary>
[CollectionDefinition(Name)]
public sealed class DeviceCollection
{
    public const string Name = "Device";
}

/// <summary>Absolute and relative tolerance: an element passes when |actual - expected| &lt;= Atol + Rtol * |expected|.</summary>
public readonly record struct Tol(double Atol, double Rtol);

/// <summary>Per-backend tolerances of the float32 kernels against the float64 references.
///
/// The unit roundoff of float32 is u = 2^-24 ~ 6e-8. Kernels accumulate in float32, the references
/// in float64 from the same float32 inputs, so the difference is the kernel's own rounding.
/// CUDA (and OpenCL) differ from the CPU accelerator in two ways that change the last bits but
/// not the error bound's order: the GPU compiler may contract a * b + c into one fused
/// multiply-add (one rounding instead of two), and XMath.Exp/Log lower to PTX ex2/lg2.approx.f32
/// (about 2 ulp instead of correctly rounded). Division and square root stay correctly rounded
/// and doubles stay doubles (MathMode.Default; KernelPrecisionCodegenTests pin this on the
/// generated code). GPU tolerances are therefore a small multiple of the CPU ones.
///
/// The CPU accelerator's SIMD kernels (kernels/Cpu) differ from its portable kernels in the same
/// direction as the GPUs, but less: the Vector512/Vector256 GEMMs use fused multiply-adds (the
/// scalar path does not), the softmax's exp is .NET's vectorised exp (a few ulp, the same on every
/// row), and the lanes of a vector sum are added pairwise. Division, square root, the dropout hash
/// and the order of every GEMM's k-sum are unchanged, and Adam, the bias gradient and the gather
/// are the portable kernels' exact bits (CpuSimdKernelTests). The CPU tolerances below hold for
/// all three paths unchanged.
///
/// All are still far below what a real bug produces: a stride off by one, a missing bias, a
/// missing 1/rows or bias correction changes results by 1e-2 .. 1, not by 1e-5.</summary>
public static class Tolerance
{
    private const double U = 1.0 / (1 << 24);

    private static double GpuFactor(Backend backend) => backend == Backend.Cpu ? 1.0 : 4.0;

    /// <summary>GEMM with inputs in [-1, 1] and K terms per dot product. Summing K products in
    /// float32 has a worst-case error of about K * u * sum|a_k b_k| (<= K^2 u), but the rounding
    /// errors are independent, so the typical error is about sqrt(K) * u * |partial sums|
    /// ~ u * K for |a|, |b| &lt;= 1 (the partial sums grow like sqrt(K/9)). The absolute part allows
    /// 16 * K * u (1e-6 at K = 1, 2.4e-4 at K = 256); the relative part covers the final rounding
    /// and the bias/scale multiply of the epilogue.</summary>
    public static Tol Gemm(Backend backend, int k) =>
        new(16.0 * Math.Max(1, k) * U * GpuFactor(backend), 8 * U * GpuFactor(backend));

    /// <summary>GEMM tolerance for the largest K the tests use (256).</summary>
    public static Tol Gemm(Backend backend) => Gemm(backend, 256);

    /// <summary>Column sums of `rows` values in [-1, 1] (bias gradient): same argument as GEMM.</summary>
    public static Tol Sum(Backend backend, int rows) => Gemm(backend, rows);

    /// <summary>Softmax cross-entropy loss (values ~ 0..10). log-sum-exp in float32: exp, the sum
    /// of C terms and the log each add a few u relative; PTX ex2/lg2.approx.f32 on a GPU add ~2^-21
    /// absolute.</summary>
    public static Tol SoftmaxLoss(Backend backend) => new(4e-6 * GpuFactor(backend), 4e-6 * GpuFactor(backend));

    /// <summary>Softmax gradient (p - onehot) / rows: p carries the relative error of exp and of the
    /// 1/sum (a few u), scaled by 1/rows.</summary>
    public static Tol SoftmaxGradient(Backend backend) => new(5e-7 * GpuFactor(backend), 4e-6 * GpuFactor(backend));

    /// <summary>Adam parameters after a few steps: parameters ~ 1 are rounded to float32 once per step
    /// (u each) and the update (lr ~ 1e-3) carries a few u relative from sqrt/division, so after 5
    /// steps the error is ~3e-7.</summary>
    public static Tol AdamParameters(Backend backend) => new(1e-6 * GpuFactor(backend), 1e-6 * GpuFactor(backend));

    /// <summary>Adam moments: each step rounds a convex combination (a few u relative); gradients up
    /// to 10 make cancellations absolute errors up to ~10 u.</summary>
    public static Tol AdamMoments(Backend backend) => new(2e-6 * GpuFactor(backend), 1e-5 * GpuFactor(backend));

    /// <summary>Parameters after six steps of any optimiser (OptimizerTests: parameters ~1 that move by
    /// up to ~1 per step with SGD at lr 0.05 and gradients up to 10, so |p| reaches ~5). Each step
    /// rounds the new parameter once (u relative) and its update carries a few u relative from the
    /// weight-decay product, momentum buffer, square root and division: six steps leave ~1e-7
    /// relative (measured worst on the CPU: 5.3e-7 at |p| = 4.9). As for Adam, 1e-6 absolute plus
    /// 1e-6 relative, while a wrong rule (decay coupled or with last step's lr, a damped first
    /// momentum buffer, eps inside the square root) is off by 1e-4 .. 1.</summary>
    public static Tol OptimizerParameters(Backend backend) => new(1e-6 * GpuFactor(backend), 1e-6 * GpuFactor(backend));

    /// <summary>Optimiser state tensors (exp_avg, exp_avg_sq, momentum_buffer, square_avg, grad_avg)
    /// whose largest element is `largest`. Each step rounds a short weighted sum whose terms are up to
    /// `largest` in size and may cancel (a momentum buffer of 30 plus a gradient of the other sign),
    /// so an element's absolute error is a few u times `largest`, whatever its own size: measured
    /// worst on the CPU after six steps 1.3e-7 * largest. The absolute part allows 16 u * largest
    /// (1e-6 * largest), the relative part 8 u for the final roundings.</summary>
    public static Tol OptimizerState(Backend backend, double largest) =>
        new(16 * U * largest * GpuFactor(backend), 8 * U * GpuFactor(backend));

    /// <summary>Backward kernels against central finite differences of the float64 forward
    /// reference. The test losses are (piecewise) linear or smooth with h chosen so the FD truncation
    /// (~h^2) and cancellation (~1e-16 / h) errors are below 1e-9; what remains is the kernel's
    /// float32 rounding over at most ~10 terms of magnitude &lt;= 1 (~1e-6).</summary>
    public static Tol FiniteDifference(Backend backend) => new(1e-5 * GpuFactor(backend), 1e-5 * GpuFactor(backend));
}
