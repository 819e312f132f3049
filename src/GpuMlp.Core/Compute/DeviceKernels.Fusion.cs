using GpuMlp.Kernels.Cpu;

namespace GpuMlp.Compute;

// Launch fusion, a concern of the CPU SIMD set (CpuSimdKernelSet): inside a FuseLaunches() scope its
// launches are recorded and then run as one CpuProgram launch. On the portable set every member
// here is a no-op or 0.
public sealed partial class DeviceKernels
{
    /// <summary>The SIMD path of the CPU kernel set; null when the portable kernels run (a GPU, the GPU
    /// launch profile, a forced GEMM variant, or --cpu-simd off).</summary>
    public CpuSimdWidth? CpuSimd { get; }

    /// <summary>Worker threads of one CPU SIMD launch (0 when the SIMD set is not used).</summary>
    public int CpuWorkers => set.Workers;

    /// <summary>Kernel launches issued so far on the CPU SIMD kernel set (a fused program counts as
    /// one; portable kernels launched beside it, such as UnfusedKernels, count too); 0 off that set.</summary>
    public long CpuLaunches => set.Launches;

    /// <summary>Whether FuseLaunches() fuses here: the CPU SIMD set on an accelerator whose workers form
    /// one group (ComputeDevice.CpuDeviceShape), so a group barrier orders the recorded launches.</summary>
    public bool FusesLaunches => set.FusesLaunches;

    /// <summary>Until the returned scope is disposed, the CPU SIMD launches are recorded (arguments and
    /// operand addresses by value) and then run, in order, as ONE launch of CpuProgram.ProgramSimdKernel;
    /// results are bit-identical to launching them one by one. The device memory the launches touch
    /// must not be read or written by the host inside the scope. Scopes nest (the outermost runs the
    /// program); a no-op where FusesLaunches is false.</summary>
    public FusedLaunches FuseLaunches()
    {
        set.BeginFusing();
        return new FusedLaunches(this);
    }

    /// <summary>The scope of DeviceKernels.FuseLaunches.</summary>
    public readonly struct FusedLaunches(DeviceKernels kernels) : IDisposable
    {
        public void Dispose() => kernels.set.EndFusing();
    }

    /// <summary>Called before every launch of a portable kernel from outside the set (UnfusedKernels):
    /// a portable launch cannot join a recorded program, so what a fused scope recorded so far runs
    /// first, in order; the launch is counted in CpuLaunches.</summary>
    internal void BeforePortableLaunch() => set.BeforeForeignLaunch();

    /// <summary>The CPU SIMD set itself, for the tests of its operand checks and commands (null off that set).</summary>
    internal CpuSimdKernelSet? CpuSimdSet => set as CpuSimdKernelSet;
}
