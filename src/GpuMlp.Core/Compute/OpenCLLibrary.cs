using System.Reflection;
using System.Runtime.InteropServices;
using System.Runtime.Loader;

namespace GpuMlp.Compute;

/// <summary>Lets ILGPU find the OpenCL ICD loader where only its versioned name is installed.
///
/// ILGPU imports OpenCL as "OpenCL", which .NET resolves on Linux as libOpenCL.so. Debian and
/// Ubuntu ship that unversioned name only in the development package (ocl-icd-opencl-dev); the
/// runtime package every OpenCL driver depends on (ocl-icd-libopencl1) installs libOpenCL.so.1
/// alone. Without this hook ILGPU's OpenCL API fails to load, ILGPU treats OpenCL as absent,
/// and neither `--device opencl` nor `gpumlp devices` sees any OpenCL device, usable or not.
///
/// The hook is AssemblyLoadContext.ResolvingUnmanagedDll, which runs only after .NET's own probing
/// failed, so an installed libOpenCL.so still wins; NativeLibrary.SetDllImportResolver is avoided
/// because an assembly takes one resolver and ILGPU installs its own for CUDA under WSL.</summary>
public static class OpenCLLibrary
{
    /// <summary>The library name ILGPU's OpenCL imports ask for on Linux.</summary>
    public const string ImportName = "OpenCL";

    /// <summary>The ICD loader's file names tried, in order, once the default probing failed.</summary>
    public static IReadOnlyList<string> LinuxFallbacks { get; } = ["libOpenCL.so.1"];

    private static readonly Assembly Ilgpu = typeof(ILGPU.Context).Assembly;
    private static int installed;

    /// <summary>Installs the fallback once per process; call it before ILGPU first touches OpenCL
    /// (ILGPU loads its OpenCL API once and keeps the answer).</summary>
    public static void EnsureResolvable()
    {
        if (!OperatingSystem.IsLinux() || Interlocked.Exchange(ref installed, 1) == 1)
            return;
        AssemblyLoadContext.Default.ResolvingUnmanagedDll += (assembly, name) =>
            Resolve(name, assembly, Ilgpu, TryLoad);
    }

    /// <summary>The handle for ILGPU's OpenCL import from the first fallback that loads, or zero
    /// (the import then fails as before and ILGPU reports no OpenCL) for any other library or
    /// assembly, or when no fallback loads.</summary>
    public static IntPtr Resolve(string libraryName, Assembly requester, Assembly ilgpu, Func<string, IntPtr> tryLoad)
    {
        if (requester != ilgpu || !string.Equals(libraryName, ImportName, StringComparison.Ordinal))
            return IntPtr.Zero;
        foreach (string file in LinuxFallbacks)
        {
            IntPtr handle = tryLoad(file);
            if (handle != IntPtr.Zero)
                return handle;
        }
        return IntPtr.Zero;
    }

    private static IntPtr TryLoad(string file) => NativeLibrary.TryLoad(file, out IntPtr handle) ? handle : IntPtr.Zero;
}
