using System.Reflection;
using GpuMlp.Kernels;
using GpuMlp.Kernels.Cpu;
using ILGPU;
using ILGPU.Backends;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.OpenCL;
using ILGPU.Backends.PTX;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;
using ILGPU.Runtime.OpenCL;

namespace GpuMlp.Tests.Codegen;

/// <summary>Compiles every kernel with ILGPU's PTX and OpenCL backends, which need no device. No
/// GPU is available in CI, so this is where a construct the GPU backends reject (a shared-memory
/// allocation whose size is not a compile-time constant, an unsupported intrinsic, a managed
/// call) is caught before anyone reaches a GPU.</summary>
public sealed class KernelCodegenTests
{
    /// <summary>Every portable kernel entry point: public static methods named *Kernel in the kernels
    /// assembly, the shared-memory GEMM instantiated with each tile shape, except the CPU-only SIMD
    /// kernels ([CpuOnlyKernel], kernels/Cpu), whose [External] helpers no GPU backend can compile.</summary>
    public static TheoryData<string> KernelNames()
    {
        var data = new TheoryData<string>();
        foreach (var method in AllKernels())
            data.Add(Describe(method));
        return data;
    }

    internal static IEnumerable<MethodInfo> AllKernels() =>
        KernelMethods().Where(method => !IsCpuOnly(method));

    /// <summary>The kernels the GPU codegen tests skip: exactly those marked [CpuOnlyKernel].</summary>
    internal static IEnumerable<MethodInfo> CpuOnlyKernels() => KernelMethods().Where(IsCpuOnly);

    private static bool IsCpuOnly(MethodInfo method) =>
        (method.IsGenericMethod ? method.GetGenericMethodDefinition() : method).IsDefined(typeof(CpuOnlyKernelAttribute), inherit: false);

    /// <summary>Every public static *Kernel method of the kernels assembly.</summary>
    private static IEnumerable<MethodInfo> KernelMethods()
    {
        foreach (var type in typeof(DenseKernels).Assembly.GetTypes())
        {
            foreach (var method in type.GetMethods(BindingFlags.Public | BindingFlags.Static))
            {
                if (!method.Name.EndsWith("Kernel", StringComparison.Ordinal))
                    continue;
                if (method.IsGenericMethodDefinition)
                {
                    foreach (Type argument in TypeArguments(method))
                        yield return method.MakeGenericMethod(argument);
                }
                else
                {
                    yield return method;
                }
            }
        }
    }

    /// <summary>What a generic kernel is compiled with: each GEMM tile shape, or every optimiser
    /// update of the kernels assembly (by the interface its type parameter is constrained to).</summary>
    private static IEnumerable<Type> TypeArguments(MethodInfo kernel)
    {
        Type[] constraints = kernel.GetGenericArguments().Single().GetGenericParameterConstraints();
        if (constraints.Contains(typeof(IGemmTile)))
            return [typeof(GemmTile16x16x16), typeof(GemmTile8x8x16), typeof(GemmTile2x2x4)];
        if (constraints.Contains(typeof(IOptimizerUpdate)))
            return OptimizerKernels.UpdateTypes;
        throw new InvalidOperationException($"no type arguments known for the generic kernel {kernel.DeclaringType!.Name}.{kernel.Name}");
    }

    internal static string Describe(MethodInfo method) =>
        $"{method.DeclaringType!.Name}.{method.Name}" +
        (method.IsGenericMethod ? $"<{method.GetGenericArguments()[0].Name}>" : "");

    internal static MethodInfo Find(string name) => AllKernels().Single(m => Describe(m) == name);

    private static Context CreateContext() => Context.Create(builder => GpuMlp.Compute.ComputeDevice.Configure(builder));

    [Fact]
    public void KernelsAssembly_EveryLayerFile_ContributesKernels()
    {
        var names = AllKernels().Select(Describe).ToArray();
        foreach (var expected in new[]
        {
            "DenseKernels.DenseGemmRegisterTiledKernel", "DenseKernels.DenseGemmSharedTiledKernel<GemmTile16x16x16>",
            "DenseKernels.DenseBiasGradientKernel", "ReluKernels.ReluBackwardKernel", "DropoutKernels.DropoutMaskKernel",
            "SoftmaxCrossEntropyKernels.SoftmaxCrossEntropyKernel",
            "OptimizerKernels.OptimizerStepKernel<AdamStep>", "OptimizerKernels.OptimizerStepKernel<AdamWStep>",
            "OptimizerKernels.OptimizerStepKernel<SgdStep>", "OptimizerKernels.OptimizerStepKernel<RmspropStep>",
            "BatchGatherKernels.GatherBatchKernel", "BatchGatherKernels.GatherShiftedBatchKernel", "EvaluationKernels.ConfusionKernel",
            "ConvolutionKernels.ConvIm2ColKernel", "ConvolutionKernels.ConvCol2ImKernel", "ConvolutionKernels.ConvNhwcToNchwKernel",
            "ConvolutionKernels.ConvNchwToNhwcKernel", "ConvolutionKernels.ConvBiasPartialsKernel",
            "PoolingKernels.MaxPool2ForwardKernel", "PoolingKernels.MaxPool2BackwardKernel",
            "PoolingKernels.MaxPool2ForwardNhwcKernel", "PoolingKernels.MaxPool2BackwardNhwcKernel",
            "BatchNormKernels.BatchNormStatisticsKernel", "BatchNormKernels.BatchNormForwardKernel",
            "BatchNormKernels.BatchNormParameterGradientsKernel", "BatchNormKernels.BatchNormInputGradientKernel",
            "WeightAverageKernels.ExponentialAverageKernel",
            "DistortionKernels.ElasticFieldRowsKernel", "DistortionKernels.DistortBatchKernel",
        })
            Assert.Contains(expected, names);
    }

    /// <summary>The exclusion from the GPU codegen tests is explicit: the skipped kernels are exactly
    /// the CPU SIMD set, every one of them lives in kernels/Cpu (GpuMlp.Kernels.Cpu), and nothing
    /// outside that namespace is skipped.</summary>
    [Fact]
    public void CodegenDiscovery_CpuOnlyKernels_AreExactlyTheCpuSimdSet()
    {
        string[] skipped = CpuOnlyKernels().Select(Describe).Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(
        [
            "CpuBatchGatherKernels.GatherBatchSimdKernel",
            "CpuBatchGatherKernels.GatherShiftedBatchCpuKernel",
            "CpuBatchNormKernels.BatchNormForwardCpuKernel",
            "CpuBatchNormKernels.BatchNormInputGradientCpuKernel",
            "CpuBatchNormKernels.BatchNormParameterGradientsCpuKernel",
            "CpuBatchNormKernels.BatchNormStatisticsCpuKernel",
            "CpuConvolutionKernels.ConvBiasPartialsSimdKernel",
            "CpuConvolutionKernels.ConvCol2ImCpuKernel",
            "CpuConvolutionKernels.ConvForwardRowsCpuKernel",
            "CpuConvolutionKernels.ConvIm2ColCpuKernel",
            "CpuConvolutionKernels.ConvInputGradientCpuKernel",
            "CpuConvolutionKernels.ConvNchwToNhwcCpuKernel",
            "CpuConvolutionKernels.ConvNhwcToNchwCpuKernel",
            "CpuConvolutionKernels.ConvWeightGradientCpuKernel",
            "CpuDenseKernels.DenseBiasGradientSimdKernel",
            "CpuDenseKernels.DenseGemmSimdKernel",
            "CpuDistortionKernels.DistortBatchCpuKernel",
            "CpuEvaluationKernels.ConfusionSimdKernel",
            "CpuEvaluationKernels.SumPartialsSimdKernel",
            "CpuOptimizerKernels.OptimizerStepSimdKernel",
            "CpuPoolingKernels.MaxPool2BackwardCpuKernel",
            "CpuPoolingKernels.MaxPool2BackwardNhwcCpuKernel",
            "CpuPoolingKernels.MaxPool2ForwardCpuKernel",
            "CpuPoolingKernels.MaxPool2ForwardNhwcCpuKernel",
            "CpuProgram.ProgramSimdKernel",
            "CpuSoftmaxCrossEntropyKernels.SoftmaxCrossEntropySimdKernel",
            "CpuWeightAverageKernels.ExponentialAverageSimdKernel",
        ], skipped);
        Assert.All(CpuOnlyKernels(), m => Assert.Equal("GpuMlp.Kernels.Cpu", m.DeclaringType!.Namespace));
        Assert.All(AllKernels(), m => Assert.NotEqual("GpuMlp.Kernels.Cpu", m.DeclaringType!.Namespace));
    }

    /// <summary>Why they are skipped: the PTX backend rejects the [External] SIMD helper a CPU-only
    /// kernel calls (so were one of them launched on a GPU by mistake, it would fail to load, not run
    /// wrongly).</summary>
    [Fact]
    public void CpuOnlyKernel_PtxBackend_DoesNotCompile()
    {
        MethodInfo gemm = CpuOnlyKernels().Single(m => m.Name == nameof(CpuDenseKernels.DenseGemmSimdKernel));
        using var context = CreateContext();
        using var backend = new PTXBackend(context, CudaArchitecture.SM_90, TargetInstructionSet, nvvmAPI: null!);
        Assert.Throws<InternalCompilerException>(() => backend.Compile(EntryPointDescription.FromExplicitlyGroupedKernel(gemm), default));
    }

    /// <summary>The driver the GPU machines run (CUDA 13.0) and the instruction set ILGPU picks for
    /// an H100/H200 (sm_90) with it: the PTX the tests read is the PTX the runtime will load.</summary>
    internal static readonly CudaDriverVersion TargetDriver = CudaDriverVersion.FromMajorMinor(13, 0);

    internal static CudaInstructionSet TargetInstructionSet =>
        CudaAccelerator.GetInstructionSet(CudaArchitecture.SM_90, TargetDriver);

    /// <summary>The PTX of one kernel as ComputeDevice's settings generate it for sm_90 and the
    /// instruction set the target driver selects.</summary>
    internal static string Ptx(string kernel)
    {
        using var context = CreateContext();
        using var backend = new PTXBackend(context, CudaArchitecture.SM_90, TargetInstructionSet, nvvmAPI: null!);
        return ((PTXCompiledKernel)backend.Compile(
            EntryPointDescription.FromExplicitlyGroupedKernel(Find(kernel)), default)).PTXAssembly;
    }

    /// <summary>The OpenCL C of one kernel (a device with every capability, fp64 included).</summary>
    internal static string OpenCLSource(string kernel)
    {
        using var context = CreateContext();
        var constructor = typeof(CLCapabilityContext)
            .GetConstructors()
            .Single(c => c.GetParameters().Length > 0 && c.GetParameters().All(p => p.ParameterType == typeof(bool)));
        var capabilities = (CLCapabilityContext)constructor.Invoke(
            constructor.GetParameters().Select(_ => (object)true).ToArray());
        using var backend = new CLBackend(context, capabilities, CLDeviceVendor.Nvidia, CLBackend.MinimumVersion);
        return ((CLCompiledKernel)backend.Compile(
            EntryPointDescription.FromExplicitlyGroupedKernel(Find(kernel)), default)).Source;
    }

    [Fact]
    public void TargetInstructionSet_ForSm90WithDriver13_IsIsa88()
    {
        Assert.Equal(CudaInstructionSet.ISA_88, TargetInstructionSet);
        Assert.Contains(".version 8.8", Ptx("OptimizerKernels.OptimizerStepKernel<AdamStep>"), StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(KernelNames))]
    public void Kernel_PtxBackend_Compiles(string kernel)
    {
        string ptx = Ptx(kernel);
        Assert.Contains(".entry", ptx, StringComparison.Ordinal);
        bool usesShared = ptx.Contains(".shared", StringComparison.Ordinal);
        // Only the GPU GEMM stages tiles in shared memory; the CPU GEMM must not (barriers and
        // shared memory are what makes GPU-style kernels unusable on the CPU accelerator).
        Assert.Equal(kernel.Contains("SharedTiled", StringComparison.Ordinal), usesShared);
    }

    [Theory]
    [MemberData(nameof(KernelNames))]
    public void Kernel_OpenCLBackend_Compiles(string kernel) =>
        Assert.Contains("kernel", OpenCLSource(kernel), StringComparison.Ordinal);

}
