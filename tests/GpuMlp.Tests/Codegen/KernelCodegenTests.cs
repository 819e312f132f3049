using System.Reflection;
using GpuMlp.Kernels;
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
    /// <summary>Every kernel entry point: public static methods named *Kernel in the kernels
    /// assembly, the shared-memory GEMM instantiated with both tile shapes.</summary>
    public static TheoryData<string> KernelNames()
    {
        var data = new TheoryData<string>();
        foreach (var method in AllKernels())
            data.Add(Describe(method));
        return data;
    }

    private static IEnumerable<MethodInfo> AllKernels()
    {
        foreach (var type in typeof(DenseLayer).Assembly.GetTypes())
        {
            foreach (var method in type.GetMethods(BindingFlags.Public | BindingFlags.Static))
            {
                if (!method.Name.EndsWith("Kernel", StringComparison.Ordinal))
                    continue;
                if (method.IsGenericMethodDefinition)
                {
                    yield return method.MakeGenericMethod(typeof(GemmTile16x16x16));
                    yield return method.MakeGenericMethod(typeof(GemmTile8x8x16));
                    yield return method.MakeGenericMethod(typeof(GemmTile2x2x4));
                }
                else
                {
                    yield return method;
                }
            }
        }
    }

    private static string Describe(MethodInfo method) =>
        $"{method.DeclaringType!.Name}.{method.Name}" +
        (method.IsGenericMethod ? $"<{method.GetGenericArguments()[0].Name}>" : "");

    private static MethodInfo Find(string name) => AllKernels().Single(m => Describe(m) == name);

    private static Context CreateContext() => Context.Create(builder => GpuMlp.Compute.ComputeDevice.Configure(builder));

    [Fact]
    public void EveryLayerFileContributesKernels()
    {
        var names = AllKernels().Select(Describe).ToArray();
        foreach (var expected in new[]
        {
            "DenseLayer.DenseGemmRegisterTiledKernel", "DenseLayer.DenseGemmSharedTiledKernel<GemmTile16x16x16>",
            "DenseLayer.DenseBiasGradientKernel", "ReluLayer.ReluBackwardKernel", "DropoutLayer.DropoutForwardKernel",
            "DropoutLayer.DropoutBackwardKernel", "SoftmaxCrossEntropyLayer.SoftmaxCrossEntropyKernel",
            "AdamOptimizer.AdamKernel", "InputLayer.GatherBatchKernel", "EvaluationLayer.ConfusionKernel",
        })
            Assert.Contains(expected, names);
    }

    [Theory]
    [MemberData(nameof(KernelNames))]
    public void CompilesToPtx(string kernel)
    {
        using var context = CreateContext();
        using var backend = new PTXBackend(context, CudaArchitecture.SM_90, CudaInstructionSet.ISA_80, nvvmAPI: null!);
        var compiled = (PTXCompiledKernel)backend.Compile(
            EntryPointDescription.FromExplicitlyGroupedKernel(Find(kernel)), default);
        Assert.Contains(".entry", compiled.PTXAssembly, StringComparison.Ordinal);
        bool usesShared = compiled.PTXAssembly.Contains(".shared", StringComparison.Ordinal);
        // Only the GPU GEMM stages tiles in shared memory; the CPU GEMM must not (barriers and
        // shared memory are what makes GPU-style kernels unusable on the CPU accelerator).
        Assert.Equal(kernel.Contains("SharedTiled", StringComparison.Ordinal), usesShared);
    }

    [Theory]
    [MemberData(nameof(KernelNames))]
    public void CompilesToOpenCL(string kernel)
    {
        using var context = CreateContext();
        var capabilities = (CLCapabilityContext)typeof(CLCapabilityContext)
            .GetConstructors()
            .Single(c => c.GetParameters().Length > 0 && c.GetParameters().All(p => p.ParameterType == typeof(bool)))
            .Invoke(typeof(CLCapabilityContext).GetConstructors()
                .Single(c => c.GetParameters().Length > 0 && c.GetParameters().All(p => p.ParameterType == typeof(bool)))
                .GetParameters().Select(_ => (object)true).ToArray());
        using var backend = new CLBackend(context, capabilities, CLDeviceVendor.Nvidia, CLBackend.MinimumVersion);
        var compiled = (CLCompiledKernel)backend.Compile(
            EntryPointDescription.FromExplicitlyGroupedKernel(Find(kernel)), default);
        Assert.Contains("kernel", compiled.Source, StringComparison.Ordinal);
    }
}
