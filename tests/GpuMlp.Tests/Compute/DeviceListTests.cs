using System.Reflection;
using GpuMlp.Compute;
using ILGPU.Backends.OpenCL;

namespace GpuMlp.Tests.Compute;

/// <summary>`gpumlp devices`: why an OpenCL device is skipped, the fallback that lets ILGPU load
/// Debian's libOpenCL.so.1, and the row shown when there is no OpenCL at all. Everything here runs
/// without OpenCL installed: the reasons and the resolver take fake inputs.</summary>
public sealed class DeviceListTests
{
    private static readonly Assembly Ilgpu = typeof(ILGPU.Context).Assembly;

    [Fact]
    public void OpenCLSkipReason_OpenCLC12Device_NamesItsVersionAndTheOneILGPUNeeds()
    {
        string? reason = ComputeDevice.OpenCLSkipReason(new CLCVersion(1, 2), genericAddressSpace: false);
        Assert.Equal("OpenCL C 1.2 is older than the 2.0 ILGPU needs", reason);
    }

    /// <summary>PoCL 3.1's CPU device: OpenCL 3.0 without the generic address space.</summary>
    [Fact]
    public void OpenCLSkipReason_NoGenericAddressSpace_SaysSo()
    {
        string? reason = ComputeDevice.OpenCLSkipReason(new CLCVersion(3, 0), genericAddressSpace: false);
        Assert.Equal("OpenCL C 3.0 without generic address space support (ILGPU requires it)", reason);
    }

    [Theory]
    [InlineData(2, 0)]
    [InlineData(3, 0)]
    public void OpenCLSkipReason_CapableDevice_IsNull(int major, int minor) =>
        Assert.Null(ComputeDevice.OpenCLSkipReason(new CLCVersion(major, minor), genericAddressSpace: true));

    [Fact]
    public void Resolve_IlgpuOpenCLImport_LoadsTheVersionedLoader()
    {
        var tried = new List<string>();
        IntPtr handle = OpenCLLibrary.Resolve(OpenCLLibrary.ImportName, Ilgpu, Ilgpu, file =>
        {
            tried.Add(file);
            return file == "libOpenCL.so.1" ? 42 : IntPtr.Zero;
        });
        Assert.Equal(42, handle);
        Assert.Equal(["libOpenCL.so.1"], tried);
    }

    /// <summary>No ICD loader installed: zero, so ILGPU's import fails as it always did and ILGPU
    /// reports no OpenCL instead of the process crashing.</summary>
    [Fact]
    public void Resolve_NoLoaderInstalled_ReturnsZero() =>
        Assert.Equal(IntPtr.Zero, OpenCLLibrary.Resolve(OpenCLLibrary.ImportName, Ilgpu, Ilgpu, _ => IntPtr.Zero));

    [Theory]
    [InlineData("cuda", true)]
    [InlineData("OpenCL", false)]
    public void Resolve_OtherLibraryOrAssembly_IsLeftAlone(string library, bool fromIlgpu)
    {
        Assembly requester = fromIlgpu ? Ilgpu : typeof(DeviceListTests).Assembly;
        bool loaded = false;
        IntPtr handle = OpenCLLibrary.Resolve(library, requester, Ilgpu, _ =>
        {
            loaded = true;
            return 42;
        });
        Assert.Equal(IntPtr.Zero, handle);
        Assert.False(loaded, "tried to load a library nobody asked it for");
    }

    [Fact]
    public void Rows_NoOpenCLPlatform_EndWithTheNoRuntimeRow()
    {
        var cpu = new DeviceInfo("cpu", "CPUAccelerator", true, "2 worker threads");
        Assert.Equal([cpu, ComputeDevice.NoOpenCLRuntime], ComputeDevice.Rows([cpu], [], openCLPlatformFound: false));
        Assert.Contains("no OpenCL platform found", ComputeDevice.NoOpenCLRuntime.Detail, StringComparison.Ordinal);
        Assert.False(ComputeDevice.NoOpenCLRuntime.Usable);
    }

    [Fact]
    public void Rows_OpenCLPlatformFound_ListUsableThenSkipped()
    {
        var cpu = new DeviceInfo("cpu", "CPUAccelerator", true, "2 worker threads");
        var pocl = new DeviceInfo("opencl", "pthread", false, "OpenCL C 3.0 without generic address space support (ILGPU requires it)");
        Assert.Equal([cpu, pocl], ComputeDevice.Rows([cpu], [pocl], openCLPlatformFound: true));
    }

    /// <summary>On any machine (CI has no OpenCL; a developer's may have PoCL): the CPU is listed
    /// usable exactly once, and every unusable row is an OpenCL one that says why.</summary>
    [Fact]
    public void List_AnyMachine_HasTheCpuAndAReasonForEverySkip()
    {
        var rows = ComputeDevice.List();
        Assert.Single(rows, row => row is { Kind: "cpu", Usable: true });
        Assert.All(rows.Where(row => !row.Usable), row =>
        {
            Assert.Equal("opencl", row.Kind);
            Assert.False(string.IsNullOrWhiteSpace(row.Detail));
        });
    }

    [Fact]
    public void UnavailableMessage_OpenCLWithSkippedDevice_SaysWhyOnOneLine()
    {
        DeviceInfo[] rows =
        [
            new("cpu", "CPUAccelerator", true, "2 worker threads"),
            new("opencl", "pthread", false, "OpenCL C 3.0 without generic address space support (ILGPU requires it); platform PoCL"),
        ];
        Assert.Equal(
            "no usable opencl device: found cpu (CPUAccelerator); skipped pthread: OpenCL C 3.0 without generic address space " +
            "support (ILGPU requires it); platform PoCL; try --device cpu",
            ComputeDevice.UnavailableMessage(DeviceRequest.OpenCL, rows));
        Assert.Equal("no usable cuda device: found cpu (CPUAccelerator); try --device cpu", ComputeDevice.UnavailableMessage(DeviceRequest.Cuda, rows));
    }

    [Fact]
    public void UnavailableMessage_OpenCLWithoutRuntime_SaysNoPlatform()
    {
        DeviceInfo[] rows = [new("cpu", "CPUAccelerator", true, "2 worker threads"), ComputeDevice.NoOpenCLRuntime];
        Assert.Equal($"no usable opencl device: found cpu (CPUAccelerator); {ComputeDevice.NoOpenCLRuntime.Detail}; try --device cpu",
            ComputeDevice.UnavailableMessage(DeviceRequest.OpenCL, rows));
    }
}
