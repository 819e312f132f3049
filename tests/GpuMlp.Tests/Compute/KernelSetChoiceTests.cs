// DeviceKernels chooses its kernel set (IKernelSet) once, in its constructor: the CPU SIMD set on the CPU
// accelerator with the CPU launch profile unless the SIMD path is off or a portable GEMM variant is
// forced; the portable set everywhere else. Every launch then goes to that set.
using GpuMlp.Compute;

namespace GpuMlp.Tests.Compute;

[Collection(DeviceCollection.Name)]
public sealed class KernelSetChoiceTests(DeviceFixture fixture)
{
    [Fact]
    public void CpuAccelerator_SimdOff_UsesThePortableSet()
    {
        DeviceKernels kernels = fixture.Cpu(CpuSimdRequest.Off).Kernels;
        Assert.Equal(KernelSetKind.Portable, kernels.KernelSetKind);
        Assert.Equal(GemmVariant.RegisterTiled, kernels.Variant);
        Assert.Null(kernels.CpuSimd);
        Assert.Null(kernels.CpuSimdSet);
        Assert.False(kernels.FusesLaunches);
        Assert.Equal(0, kernels.CpuWorkers);
    }

    [Fact]
    public void CpuAccelerator_SimdAuto_UsesTheCpuSimdSet()
    {
        var accelerator = fixture.Cpu(CpuSimdRequest.Off).Accelerator;
        var kernels = new DeviceKernels(accelerator, cpuSimd: CpuSimdRequest.Auto);
        Assert.Equal(KernelSetKind.CpuSimd, kernels.KernelSetKind);
        Assert.Equal(GemmVariant.CpuSimd, kernels.Variant);
        Assert.NotNull(kernels.CpuSimd);
        Assert.NotNull(kernels.CpuSimdSet);
        Assert.True(kernels.FusesLaunches);
        Assert.Equal(kernels.ElementwiseGroupSize * kernels.MaxElementwiseGroups, kernels.CpuWorkers);
    }

    [Theory]
    [InlineData(CpuSimdRequest.Vector512)]
    [InlineData(CpuSimdRequest.Vector256)]
    [InlineData(CpuSimdRequest.Scalar)]
    public void CpuAccelerator_SimdPathNamed_UsesTheCpuSimdSetAtThatWidth(CpuSimdRequest request)
    {
        DeviceKernels kernels = fixture.Cpu(request).Kernels;
        Assert.Equal(KernelSetKind.CpuSimd, kernels.KernelSetKind);
        Assert.Equal(CpuSimdChoice.Resolve(request), kernels.CpuSimd);
    }

    [Fact]
    public void CpuAccelerator_PortableGemmForced_UsesThePortableSet()
    {
        var accelerator = fixture.Cpu(CpuSimdRequest.Off).Accelerator;
        var kernels = new DeviceKernels(accelerator, GemmVariant.SharedTiled2, cpuSimd: CpuSimdRequest.Auto);
        Assert.Equal(KernelSetKind.Portable, kernels.KernelSetKind);
        Assert.Equal(GemmVariant.SharedTiled2, kernels.Variant);
        Assert.Equal(0L, kernels.CpuLaunches);
    }
}
