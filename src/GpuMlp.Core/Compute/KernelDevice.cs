namespace GpuMlp.Compute;

/// <summary>An opened accelerator with every training kernel compiled on it: what train, tune,
/// eval, predict and bench each start with, and what the trainer, the evaluator, runs, tune's
/// objective and models take (one object, never the device and its kernels apart). Disposing it
/// closes the device.</summary>
public sealed class KernelDevice : IDisposable
{
    /// <summary>The device and kernels compiled on it; disposing this closes <paramref name="device"/>.</summary>
    /// <exception cref="ArgumentException">The kernels were compiled on another accelerator.</exception>
    public KernelDevice(ComputeDevice device, DeviceKernels kernels)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(kernels);
        if (!ReferenceEquals(kernels.Accelerator, device.Accelerator))
            throw new ArgumentException("the kernels were compiled on another accelerator than the device's", nameof(kernels));
        Device = device;
        Kernels = kernels;
    }

    public ComputeDevice Device { get; }
    public DeviceKernels Kernels { get; }

    /// <summary>"cuda: NVIDIA H200" and the like.</summary>
    public string Description => Device.Description;

    /// <summary>Opens the requested accelerator and compiles the kernels (on the CPU accelerator with
    /// the SIMD path <paramref name="cpuSimd"/>; null reads GPUMLP_CPU_SIMD); a compilation failure
    /// closes the device again.</summary>
    public static KernelDevice Open(DeviceRequest request, CpuSimdRequest? cpuSimd = null)
    {
        var device = ComputeDevice.Open(request);
        try
        {
            return new KernelDevice(device, new DeviceKernels(device.Accelerator, cpuSimd: cpuSimd));
        }
        catch
        {
            device.Dispose();
            throw;
        }
    }

    public void Dispose() => Device.Dispose();
}
