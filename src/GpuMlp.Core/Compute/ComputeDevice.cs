using System.Diagnostics;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Backends.OpenCL;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;
using ILGPU.Runtime.OpenCL;

namespace GpuMlp.Compute;

/// <summary>The accelerator a user asks for on the command line or in GPUMLP_TEST_DEVICE.</summary>
public enum DeviceRequest
{
    Auto,
    Cuda,
    OpenCL,
    Cpu,
}

/// <summary>Thrown when the requested accelerator does not exist; the message names what was
/// found instead.</summary>
public sealed class DeviceUnavailableException : Exception
{
    public DeviceUnavailableException(string message) : base(message) { }
}

/// <summary>The device cannot hold what a run needs; the message says how much and what to shrink.</summary>
public sealed class DeviceOutOfMemoryException : Exception
{
    public DeviceOutOfMemoryException(string message) : base(message) { }
    public DeviceOutOfMemoryException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>One accelerator ILGPU can see, or an OpenCL device it had to skip.</summary>
public sealed record DeviceInfo(string Kind, string Name, bool Usable, string Detail);

/// <summary>An ILGPU context plus the one accelerator training runs on.</summary>
public sealed class ComputeDevice : IDisposable
{
    /// <summary>Shape of the simulated CPU device used for training: one multiprocessor whose one warp
    /// holds a thread per core (at least 2, ILGPU's smallest warp), and DeviceKernels launches one group
    /// of that many threads, so a launch wakes exactly one OS thread per core and each worker owns a
    /// fixed share of the work (the CPU SIMD kernels are persistent: one launch index per worker).
    /// Measured shapes and launch costs: bench/results/2026-11-30-cpu-simd/README.md.</summary>
    public static CPUDevice CpuDeviceShape { get; } = new(
        numThreadsPerWarp: Math.Max(2, Environment.ProcessorCount),
        numWarpsPerMultiprocessor: 1,
        numMultiprocessors: 1);

    /// <summary>A CPU device whose groups can hold 4 threads in 2 warps, so the shared-memory GEMM
    /// with 2x2-thread tiles (GemmVariant.SharedTiled2) runs with real barriers in tests.</summary>
    public static CPUDevice CpuGroupTestShape { get; } = new(
        numThreadsPerWarp: 2,
        numWarpsPerMultiprocessor: 2,
        numMultiprocessors: 1);

    /// <summary>A CPU device whose groups hold 256 threads (8 warps of 32), so the GPU launch profile
    /// (LaunchProfile.Gpu: 16x16- and 8x8-thread GEMM blocks, 256-thread element-wise groups, 1024
    /// partial sums) runs numerically on the CPU accelerator in tests.</summary>
    public static CPUDevice CpuGpuGroupShape { get; } = new(
        numThreadsPerWarp: 32,
        numWarpsPerMultiprocessor: 8,
        numMultiprocessors: 1);

    private ComputeDevice(Context context, Accelerator accelerator)
    {
        Context = context;
        Accelerator = accelerator;
    }

    public Context Context { get; }
    public Accelerator Accelerator { get; }
    public AcceleratorType Type => Accelerator.AcceleratorType;
    public bool IsCpu => Type == AcceleratorType.CPU;

    /// <summary>"cuda: NVIDIA H100 80GB HBM3" and the like.</summary>
    public string Description => $"{KindName(Type)}: {Accelerator.Name}";

    public static string KindName(AcceleratorType type) => type switch
    {
        AcceleratorType.Cuda => "cuda",
        AcceleratorType.OpenCL => "opencl",
        _ => "cpu",
    };

    public static DeviceRequest ParseRequest(string text) => text.Trim().ToLowerInvariant() switch
    {
        "auto" => DeviceRequest.Auto,
        "cuda" => DeviceRequest.Cuda,
        "opencl" => DeviceRequest.OpenCL,
        "cpu" => DeviceRequest.Cpu,
        _ => throw new ArgumentException($"unknown device '{text}': use auto, cuda, opencl or cpu"),
    };

    /// <summary>Opens the requested accelerator (auto: CUDA, then OpenCL, then CPU).</summary>
    public static ComputeDevice Open(DeviceRequest request, CPUDevice? cpuShape = null)
    {
        OpenCLLibrary.EnsureResolvable();
        var context = Context.Create(builder =>
        {
            Configure(builder);
            if (request is DeviceRequest.Auto or DeviceRequest.Cuda)
                builder.Cuda();
            if (request is DeviceRequest.Auto or DeviceRequest.OpenCL)
                builder.OpenCL();
            if (request is DeviceRequest.Auto or DeviceRequest.Cpu)
                builder.CPU(cpuShape ?? CpuDeviceShape);
        });
        Device? First(AcceleratorType type) => context.Devices.FirstOrDefault(d => d.AcceleratorType == type);
        try
        {
            Device? device = request switch
            {
                DeviceRequest.Cuda => First(AcceleratorType.Cuda),
                DeviceRequest.OpenCL => First(AcceleratorType.OpenCL),
                DeviceRequest.Cpu => First(AcceleratorType.CPU),
                _ => First(AcceleratorType.Cuda) ?? First(AcceleratorType.OpenCL) ?? First(AcceleratorType.CPU),
            };
            if (device is null)
            {
                throw new DeviceUnavailableException(UnavailableMessage(request, List()));
            }
            return new ComputeDevice(context, device.CreateAccelerator(context));
        }
        catch
        {
            context.Dispose();
            throw;
        }
    }

    /// <summary>The one-line error for a requested accelerator that is missing: what was found, and
    /// for OpenCL why each OpenCL device was passed over (the user may see it in clinfo).</summary>
    public static string UnavailableMessage(DeviceRequest request, IReadOnlyList<DeviceInfo> devices)
    {
        string found = string.Join(", ", devices.Where(d => d.Usable).Select(d => $"{d.Kind} ({d.Name})"));
        string skipped = request == DeviceRequest.OpenCL
            ? string.Concat(devices.Where(d => !d.Usable).Select(d => d == NoOpenCLRuntime ? $"; {d.Detail}" : $"; skipped {d.Name}: {d.Detail}"))
            : "";
        return $"no usable {request.ToString().ToLowerInvariant()} device: found {found}{skipped}; try --device cpu";
    }

    /// <summary>Compiler settings shared by every context: optimised, IEEE math, and the Algorithms
    /// library's intrinsics (XMath.Exp/Log/Sqrt have no PTX implementation without it).
    ///
    /// The math mode is MathMode.Default on purpose. Fast32BitOnly maps every double to float on PTX
    /// and OpenCL (ILGPU's IRTypeContext), so the evaluation's double partial sums would be stored
    /// as f32 at a 4-byte stride and read back as garbage doubles; Fast turns float division and
    /// square root into approximations (div.approx.ftz, sqrt.approx.ftz) and flushes denormals,
    /// which the CPU accelerator never does. Neither buys measurable speed here: the step time is
    /// GEMM multiply-adds. XMath.Exp/Log on PTX are ex2/lg2.approx.f32 in every mode (about 2 ulp),
    /// which the softmax tolerances allow for. The codegen tests pin all of this on the generated
    /// PTX and OpenCL C.</summary>
    public static Context.Builder Configure(Context.Builder builder) =>
        builder.Optimize(OptimizationLevel.O2).Math(MathMode.Default).EnableAlgorithms();

    /// <summary>Every accelerator ILGPU sees, including OpenCL devices it cannot use, with the
    /// reason they were skipped, or one row saying no OpenCL runtime could be loaded.</summary>
    public static IReadOnlyList<DeviceInfo> List()
    {
        OpenCLLibrary.EnsureResolvable();
        var result = new List<DeviceInfo>();
        var skipped = new List<DeviceInfo>();
        using var context = Context.Create(builder =>
        {
            builder.Cuda();
            // The same test as ILGPU's default OpenCL predicate (the one Open uses), so what is listed
            // usable here is what --device opencl can open.
            builder.OpenCL(device =>
            {
                string? problem = OpenCLSkipReason(device.CLStdVersion, device.Capabilities.GenericAddressSpace);
                if (problem is not null)
                    skipped.Add(new DeviceInfo("opencl", device.Name, false, $"{problem}; platform {device.PlatformName}"));
                return problem is null;
            });
            builder.CPU(CpuDeviceShape);
        });
        foreach (var device in context)
        {
            string detail = device.AcceleratorType == AcceleratorType.CPU
                ? $"ILGPU CPU accelerator, {CpuDeviceShape.MaxNumThreadsPerGroup} worker threads"
                : $"{device.MemorySize / (1024 * 1024)} MiB, {device.NumMultiprocessors} multiprocessors";
            result.Add(new DeviceInfo(KindName(device.AcceleratorType), device.Name, true, detail));
        }
        return Rows(result, skipped, openCLPlatformFound: CLAPI.CurrentAPI.IsSupported);
    }

    /// <summary>The devices table: usable accelerators, then skipped OpenCL devices, then, when ILGPU
    /// found no OpenCL platform at all, the NoOpenCLRuntime row.</summary>
    public static IReadOnlyList<DeviceInfo> Rows(IEnumerable<DeviceInfo> usable, IEnumerable<DeviceInfo> skipped, bool openCLPlatformFound) =>
        [.. usable, .. skipped, .. openCLPlatformFound ? Array.Empty<DeviceInfo>() : [NoOpenCLRuntime]];

    /// <summary>The row shown when ILGPU finds no OpenCL platform (no ICD loader such as
    /// libOpenCL.so.1 or OpenCL.dll, or one with no driver registered), so a missing OpenCL line has
    /// a stated cause rather than none.</summary>
    public static DeviceInfo NoOpenCLRuntime { get; } = new("opencl", "-", false,
        "no OpenCL platform found: no OpenCL runtime (libOpenCL.so.1, OpenCL.dll) or no driver installed");

    /// <summary>Why ILGPU cannot use an OpenCL device, or null when it can: ILGPU compiles for
    /// OpenCL C 2.0 or later and needs the generic address space (CLContextExtensions.OpenCL's
    /// default predicate).</summary>
    public static string? OpenCLSkipReason(CLCVersion standard, bool genericAddressSpace) =>
        standard < CLBackend.MinimumVersion
            ? $"OpenCL C {Show(standard)} is older than the {Show(CLBackend.MinimumVersion)} ILGPU needs"
            : !genericAddressSpace
                ? $"OpenCL C {Show(standard)} without generic address space support (ILGPU requires it)"
                : null;

    // CLCVersion.ToString() gives "CL2.0"; after "OpenCL C" the number alone reads right.
    private static string Show(CLCVersion version) => $"{version.Major}.{version.Minor}";

    public void Synchronize() => Accelerator.Synchronize();

    public void Dispose()
    {
        Accelerator.Dispose();
        Context.Dispose();
    }

    /// <summary>Times an action in seconds.</summary>
    public static double Seconds(Action action)
    {
        var watch = Stopwatch.StartNew();
        action();
        return watch.Elapsed.TotalSeconds;
    }
}
