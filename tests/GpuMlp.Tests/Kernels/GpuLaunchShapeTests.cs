// Every GPU launch shape, executed numerically without a GPU.
//
// DeviceKernels launches differently on a GPU: 256-thread element-wise groups with grid-stride loops,
// 1024 evaluation partials, the 16x16- and 8x8-thread shared-memory GEMM with a per-launch block
// choice. On the CPU these classes rerun the element-wise, evaluation and whole-network tests with
// LaunchProfile.Gpu on a CPU accelerator whose groups hold 256 threads
// (ComputeDevice.CpuGpuGroupShape); the GEMM tests cover GemmPath.GpuBlock64/GpuBlock32 the same way.
// On a GPU (GPUMLP_TEST_DEVICE=cuda) they run on the GPU with the 32x32 block forced, so a GPU test
// run covers both block sizes (Auto picks 64x64 for the large shapes).
using GpuMlp.Compute;
using GpuMlp.Kernels;
using GpuMlp.Tests.Training;

namespace GpuMlp.Tests.Kernels;

[Collection(DeviceCollection.Name)]
public sealed class GatherOnGpuLaunchShapesTests(DeviceFixture fixture) : GatherTests(fixture)
{
    protected override KernelSet Set => Fixture.GpuProfile;
}

[Collection(DeviceCollection.Name)]
public sealed class SoftmaxCrossEntropyOnGpuLaunchShapesTests(DeviceFixture fixture) : SoftmaxCrossEntropyTests(fixture)
{
    protected override KernelSet Set => Fixture.GpuProfile;
}

[Collection(DeviceCollection.Name)]
public sealed class AdamOnGpuLaunchShapesTests(DeviceFixture fixture) : AdamTests(fixture)
{
    protected override KernelSet Set => Fixture.GpuProfile;
}

[Collection(DeviceCollection.Name)]
public sealed class EvaluationOnGpuLaunchShapesTests(DeviceFixture fixture) : EvaluationTests(fixture)
{
    protected override KernelSet Set => Fixture.GpuProfile;

    [Fact]
    public void GpuProfile_OnTheTestDevice_UsesGpuLaunchShapes()
    {
        DeviceKernels kernels = Set.Kernels;
        Assert.False(kernels.IsCpu);
        Assert.Equal(DeviceKernels.GpuPartialCount, kernels.PartialCount);
        Assert.Equal(DeviceKernels.GpuElementwiseGroupSize, kernels.ElementwiseGroupSize);
        Assert.Equal(GemmVariant.SharedTiled16, kernels.Variant);
        Assert.Equal(GpuGemmBlock.Block32, kernels.GemmBlock);
    }
}

[Collection(DeviceCollection.Name)]
public sealed class NetworkGradientOnGpuLaunchShapesTests(DeviceFixture fixture) : NetworkGradientTests(fixture)
{
    protected override KernelSet Set => Fixture.GpuProfile;
}

/// <summary>The per-launch block choice of the GPU GEMM, as pure launch math.</summary>
public sealed class GpuGemmBlockChoiceTests
{
    /// <summary>An H200 has 132 multiprocessors: every GEMM of a batch-128 training step of the
    /// report's network has fewer 64x64 blocks than that, so all of them take 32x32 blocks.</summary>
    [Theory]
    [InlineData(128, 512, 784)]
    [InlineData(128, 256, 512)]
    [InlineData(128, 10, 256)]
    [InlineData(784, 512, 128)]
    [InlineData(512, 256, 128)]
    [InlineData(128, 512, 256)]
    public void ChooseGpuBlock_BatchOf128OnH200_Picks32(int m, int n, int k) =>
        Assert.Equal(GpuGemmBlock.Block32, DeviceKernels.ChooseGpuBlock(GpuGemmBlock.Auto, GemmShape.Plain(m, n, k), 132));

    [Fact]
    public void ChooseGpuBlock_EnoughBlocksFor64_Picks64() =>
        Assert.Equal(GpuGemmBlock.Block64, DeviceKernels.ChooseGpuBlock(GpuGemmBlock.Auto, GemmShape.Plain(1024, 784, 512), 132));

    [Theory]
    [InlineData(GpuGemmBlock.Block64)]
    [InlineData(GpuGemmBlock.Block32)]
    public void ChooseGpuBlock_Forced_IsObeyed(GpuGemmBlock forced)
    {
        Assert.Equal(forced, DeviceKernels.ChooseGpuBlock(forced, GemmShape.Plain(128, 10, 256), 132));
        Assert.Equal(forced, DeviceKernels.ChooseGpuBlock(forced, GemmShape.Plain(4096, 4096, 16), 132));
    }

    [Theory]
    [InlineData(null, GpuGemmBlock.Auto)]
    [InlineData("", GpuGemmBlock.Auto)]
    [InlineData(" Auto ", GpuGemmBlock.Auto)]
    [InlineData("64", GpuGemmBlock.Block64)]
    [InlineData("32", GpuGemmBlock.Block32)]
    public void ParseGemmBlock_KnownValues_Parse(string? text, GpuGemmBlock expected) =>
        Assert.Equal(expected, DeviceKernels.ParseGemmBlock(text));

    [Fact]
    public void ParseGemmBlock_UnknownValue_NamesTheVariable()
    {
        var error = Assert.Throws<ArgumentException>(() => DeviceKernels.ParseGemmBlock("16"));
        Assert.Contains(DeviceKernels.GemmBlockVariable, error.Message, StringComparison.Ordinal);
    }
}
