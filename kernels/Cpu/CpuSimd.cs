// The CPU accelerator's SIMD paths and the attribute that marks CPU-only kernels.
//
// On ILGPU's CPU accelerator a kernel is the original .NET method run by RyuJIT; a helper marked
// [ILGPU.Frontend.External] is not translated into ILGPU's IR (whose frontend rejects Vector256,
// Vector512 and hardware intrinsics), so SIMD inside it is real. The PTX and OpenCL backends
// cannot compile such a helper, which is why every kernel under kernels/Cpu carries
// [CpuOnlyKernel]: DeviceKernels launches them only on the CPU accelerator, and the codegen tests
// skip exactly these.
using System.Runtime.Intrinsics;

namespace GpuMlp.Kernels.Cpu;

/// <summary>Marks a kernel that calls [External] SIMD helpers and therefore runs only on ILGPU's
/// CPU accelerator (never compiled for PTX or OpenCL).</summary>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = false, Inherited = false)]
public sealed class CpuOnlyKernelAttribute : Attribute;

/// <summary>The vector width the CPU kernels' inner loops use. The value is the number of float
/// lanes.</summary>
public enum CpuSimdWidth
{
    /// <summary>Plain scalar C# (one float per operation, multiply and add rounded separately).</summary>
    Scalar = 1,
    /// <summary>Vector256&lt;float&gt; with fused multiply-add (AVX2 + FMA on x64).</summary>
    Vector256 = 8,
    /// <summary>Vector512&lt;float&gt; with fused multiply-add (AVX-512F on x64).</summary>
    Vector512 = 16,
}

public static class CpuSimd
{
    /// <summary>The widest path this process runs in hardware: Vector512 where it is accelerated,
    /// else Vector256, else scalar. (DOTNET_EnableAVX512=0 or DOTNET_EnableAVX2=0 in the
    /// environment make .NET report a narrower machine.)</summary>
    public static CpuSimdWidth Best =>
        Vector512.IsHardwareAccelerated ? CpuSimdWidth.Vector512
        : Vector256.IsHardwareAccelerated ? CpuSimdWidth.Vector256
        : CpuSimdWidth.Scalar;

    /// <summary>Whether a path runs in hardware here. A forced path that does not still computes
    /// the same values, through .NET's software fallback, only slowly.</summary>
    public static bool IsHardwareAccelerated(CpuSimdWidth width) => width switch
    {
        CpuSimdWidth.Vector512 => Vector512.IsHardwareAccelerated,
        CpuSimdWidth.Vector256 => Vector256.IsHardwareAccelerated,
        _ => true,
    };

    /// <summary>"vector512", "vector256" or "scalar".</summary>
    public static string Name(CpuSimdWidth width) => width switch
    {
        CpuSimdWidth.Vector512 => "vector512",
        CpuSimdWidth.Vector256 => "vector256",
        _ => "scalar",
    };
}
