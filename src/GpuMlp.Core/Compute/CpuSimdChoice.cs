using System.Runtime.Intrinsics;
using GpuMlp.Kernels.Cpu;

namespace GpuMlp.Compute;

/// <summary>What a user asks for with --cpu-simd or GPUMLP_CPU_SIMD.</summary>
public enum CpuSimdRequest
{
    /// <summary>The widest path the hardware runs: Vector512, else Vector256, else scalar.</summary>
    Auto,
    Vector512,
    Vector256,
    Scalar,
    /// <summary>No CPU-only kernels: the portable ILGPU kernels (those the GPUs run), as before.</summary>
    Off,
}

/// <summary>Parses and resolves the CPU SIMD path (see kernels/Cpu/CpuSimd.cs).</summary>
public static class CpuSimdChoice
{
    /// <summary>Environment variable read when no --cpu-simd is given: auto, 512, 256, scalar or off.</summary>
    public const string VariableName = "GPUMLP_CPU_SIMD";

    public const string Values = "auto, 512, 256, scalar or off";

    /// <summary>null, empty and "auto" are Auto; "512"/"vector512", "256"/"vector256", "scalar", "off".</summary>
    public static CpuSimdRequest Parse(string? text) => text?.Trim().ToLowerInvariant() switch
    {
        null or "" or "auto" => CpuSimdRequest.Auto,
        "512" or "vector512" => CpuSimdRequest.Vector512,
        "256" or "vector256" => CpuSimdRequest.Vector256,
        "scalar" => CpuSimdRequest.Scalar,
        "off" => CpuSimdRequest.Off,
        _ => throw new ArgumentException($"'{text}' is not {Values}"),
    };

    /// <summary>GPUMLP_CPU_SIMD, Auto when unset; the message of a bad value names the variable.</summary>
    public static CpuSimdRequest FromEnvironment()
    {
        string? text = Environment.GetEnvironmentVariable(VariableName);
        try
        {
            return Parse(text);
        }
        catch (ArgumentException)
        {
            throw new ArgumentException($"{VariableName}='{text}' is not {Values}");
        }
    }

    /// <summary>The path a request runs; null for Off.</summary>
    public static CpuSimdWidth? Resolve(CpuSimdRequest request) => request switch
    {
        CpuSimdRequest.Auto => CpuSimd.Best,
        CpuSimdRequest.Vector512 => CpuSimdWidth.Vector512,
        CpuSimdRequest.Vector256 => CpuSimdWidth.Vector256,
        CpuSimdRequest.Scalar => CpuSimdWidth.Scalar,
        _ => null,
    };

    /// <summary>"vector512", "vector256 (forced; not hardware-accelerated here)", "off (portable kernels)".</summary>
    public static string Describe(CpuSimdWidth? width) => width is CpuSimdWidth w
        ? CpuSimd.IsHardwareAccelerated(w) ? CpuSimd.Name(w) : $"{CpuSimd.Name(w)} (not hardware-accelerated here: emulated, slow)"
        : "off (portable kernels)";

    /// <summary>What config.json and the bench JSON record: "vector512", "vector256", "scalar", or
    /// "off" on the CPU accelerator without the SIMD kernels; null on a GPU.</summary>
    public static string? Record(DeviceKernels kernels)
    {
        ArgumentNullException.ThrowIfNull(kernels);
        return kernels.CpuSimd is CpuSimdWidth width
            ? CpuSimd.Name(width)
            : kernels.Accelerator.AcceleratorType == ILGPU.Runtime.AcceleratorType.CPU ? "off" : null;
    }

    /// <summary>"; CPU SIMD vector512, 2 worker threads", "; CPU SIMD off", or "" on a GPU: what the
    /// kernels line of train, tune and bench adds.</summary>
    public static string Summary(DeviceKernels kernels)
    {
        ArgumentNullException.ThrowIfNull(kernels);
        return kernels.CpuSimd is not null
            ? $"; CPU SIMD {Describe(kernels.CpuSimd)}, {kernels.CpuWorkers} worker threads"
            : Record(kernels) is string off ? $"; CPU SIMD {off}" : "";
    }

    /// <summary>What the hardware offers, e.g. "vector512, vector256 and scalar in hardware".</summary>
    public static string HardwareSummary()
    {
        var paths = new List<string>();
        if (Vector512.IsHardwareAccelerated)
            paths.Add("vector512");
        if (Vector256.IsHardwareAccelerated)
            paths.Add("vector256");
        paths.Add("scalar");
        return string.Join(", ", paths) + " in hardware";
    }
}
