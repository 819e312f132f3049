using GpuMlp.Compute;
using ILGPU;
using ILGPU.Runtime;

namespace GpuMlp.Bench;

/// <summary>Which accelerators the benchmarks run on, and the per-benchmark device handle.</summary>
public static class BenchDevices
{
    /// <summary>Set by Program from --device (comma separated); read here so that it also
    /// reaches a benchmark process BenchmarkDotNet might spawn.</summary>
    public const string VariableName = "GPUMLP_BENCH_DEVICES";

    /// <summary>Every usable accelerator kind ComputeDevice.List() reports (cuda, opencl, cpu),
    /// one per kind, or the kinds named in GPUMLP_BENCH_DEVICES.</summary>
    public static IReadOnlyList<string> All()
    {
        string? requested = Environment.GetEnvironmentVariable(VariableName);
        if (!string.IsNullOrWhiteSpace(requested))
        {
            return requested.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Select(d => d.ToLowerInvariant())
                .Distinct(StringComparer.Ordinal)
                .ToArray();
        }
        return ComputeDevice.List()
            .Where(d => d.Usable)
            .Select(d => d.Kind)
            .Distinct(StringComparer.Ordinal)
            .ToArray();
    }
}

/// <summary>An opened accelerator with every kernel loaded. Opened once per kind and process
/// (benchmarks run in-process, so later cases skip the ~1 s kernel compilation) and shared by
/// every benchmark case; closed when the process exits.</summary>
public sealed class SharedDevice
{
    private static readonly Dictionary<string, SharedDevice> Opened = new(StringComparer.Ordinal);

    private readonly KernelDevice opened;
    private readonly Lazy<UnfusedKernels> unfused;

    private SharedDevice(string kind)
    {
        opened = KernelDevice.Open(ComputeDevice.ParseRequest(kind));
        unfused = new(() => new UnfusedKernels(opened.Kernels));
    }

    public ComputeDevice Device => opened.Device;
    public DeviceKernels Kernels => opened.Kernels;

    /// <summary>The standalone ReLU and dropout kernels, compiled on first use.</summary>
    public UnfusedKernels Unfused => unfused.Value;

    private readonly Dictionary<GpuMlp.Kernels.Cpu.CpuSimdWidth, DeviceKernels> bySimdWidth = [];

    /// <summary>The CPU SIMD kernel set of one width on this (CPU) device, compiled on first use.</summary>
    public DeviceKernels KernelsFor(GpuMlp.Kernels.Cpu.CpuSimdWidth width)
    {
        lock (bySimdWidth)
        {
            if (!bySimdWidth.TryGetValue(width, out var kernels))
            {
                var request = width switch
                {
                    GpuMlp.Kernels.Cpu.CpuSimdWidth.Vector512 => CpuSimdRequest.Vector512,
                    GpuMlp.Kernels.Cpu.CpuSimdWidth.Vector256 => CpuSimdRequest.Vector256,
                    _ => CpuSimdRequest.Scalar,
                };
                kernels = new DeviceKernels(Device.Accelerator, cpuSimd: request);
                bySimdWidth.Add(width, kernels);
            }
            return kernels;
        }
    }

    public static SharedDevice Get(string kind)
    {
        lock (Opened)
        {
            if (!Opened.TryGetValue(kind, out var device))
            {
                device = new SharedDevice(kind);
                Opened.Add(kind, device);
                AppDomain.CurrentDomain.ProcessExit += (_, _) => device.opened.Dispose();
            }
            return device;
        }
    }
}

/// <summary>One benchmark case's view of a shared device: its buffers are freed at GlobalCleanup.</summary>
public sealed class BenchDevice : IDisposable
{
    private readonly List<IDisposable> buffers = [];
    private readonly SharedDevice shared;

    public BenchDevice(string kind) => shared = SharedDevice.Get(kind);

    public ComputeDevice Device => shared.Device;
    public DeviceKernels Kernels => shared.Kernels;
    public UnfusedKernels Unfused => shared.Unfused;
    public Accelerator Accelerator => Device.Accelerator;

    public void Synchronize() => Device.Synchronize();

    /// <summary>A device buffer holding a copy of <paramref name="values"/>, freed with this object.</summary>
    public ArrayView<T> Upload<T>(T[] values) where T : unmanaged
    {
        var buffer = Accelerator.Allocate1D(values);
        buffers.Add(buffer);
        return buffer.View;
    }

    /// <summary>An uninitialised device buffer of <paramref name="length"/> elements.</summary>
    public ArrayView<T> Allocate<T>(long length) where T : unmanaged
    {
        var buffer = Accelerator.Allocate1D<T>(Math.Max(1L, length));
        buffers.Add(buffer);
        return buffer.View;
    }

    public void Dispose()
    {
        Synchronize();
        foreach (var buffer in buffers)
            buffer.Dispose();
        buffers.Clear();
    }
}

/// <summary>Deterministic synthetic operands (values do not change kernel timings: no kernel
/// branches on data except the ReLU/mask selects, which are branch-free on every backend).</summary>
public static class Synthetic
{
    public static float[] Floats(long count, int seed, float scale = 1f)
    {
        var random = new Random(seed);
        var values = new float[count];
        for (long i = 0; i < count; i++)
            values[i] = (float)((random.NextDouble() * 2.0 - 1.0) * scale);
        return values;
    }

    /// <summary>ReLU-like activations: about half the values are exactly 0.</summary>
    public static float[] Activations(long count, int seed)
    {
        var values = Floats(count, seed);
        for (long i = 0; i < count; i++)
            values[i] = Math.Max(0f, values[i]);
        return values;
    }

    public static byte[] Bytes(long count, int seed)
    {
        var random = new Random(seed);
        var values = new byte[count];
        random.NextBytes(values);
        return values;
    }

    public static int[] Labels(int count, int classes, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => random.Next(classes)).ToArray();
    }

    public static int[] Permutation(int count, int seed)
    {
        var random = new Random(seed);
        var order = Enumerable.Range(0, count).ToArray();
        random.Shuffle(order);
        return order;
    }
}
