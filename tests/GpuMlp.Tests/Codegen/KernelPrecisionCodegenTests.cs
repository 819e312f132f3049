// What the GPU backends make of each kernel's numeric types and operations, read from the real
// generated PTX (sm_90, the instruction set a CUDA 13.0 driver selects) and OpenCL C.
//
// The CPU accelerator runs the original .NET code, so CI can never see a backend that quietly
// changes a kernel's arithmetic. Two such changes were real: MathMode.Fast32BitOnly made every
// double a float on PTX/OpenCL (the evaluation's ArrayView<double> partials were stored with
// st.global.f32 at a 4-byte stride, and the gather's exact division by 255.0 became
// div.approx.ftz.f32). These tests fail on either.
using System.Reflection;
using System.Text.RegularExpressions;
using ILGPU;

namespace GpuMlp.Tests.Codegen;

public sealed partial class KernelPrecisionCodegenTests
{
    /// <summary>Kernels that declare a double anywhere: an ArrayView&lt;double&gt; or double parameter,
    /// or a double local.</summary>
    public static TheoryData<string> DoubleKernels()
    {
        var data = new TheoryData<string>();
        foreach (var method in KernelCodegenTests.AllKernels().Where(DeclaresDouble))
            data.Add(KernelCodegenTests.Describe(method));
        return data;
    }

    private static bool IsDoubleView(Type type) => type == typeof(ArrayView<double>);

    private static bool DeclaresDouble(MethodInfo method) =>
        method.GetParameters().Any(p => p.ParameterType == typeof(double) || IsDoubleView(p.ParameterType))
        || (method.GetMethodBody()?.LocalVariables.Any(l => l.LocalType == typeof(double)) ?? false);

    [Fact]
    public void DoubleKernels_AllKernels_AreOnlyTheEvaluationReduction()
    {
        // Exactly this set: it guards the discovery (had it found nothing, the double tests below would
        // pass vacuously), and a kernel that starts declaring a double must be looked at here (is the
        // double meant, and is it kept f64 on PTX and OpenCL?) before it joins the list.
        Assert.Equal(["EvaluationKernels.SumPartialsKernel"], DoubleKernels().Select(row => (string)row.Data).Order(StringComparer.Ordinal));
    }

    /// <summary>Every double a kernel declares stays a 64-bit float: f64 registers and arithmetic,
    /// f64 loads/stores, and 8-byte strides for each double view.</summary>
    [Theory]
    [MemberData(nameof(DoubleKernels))]
    public void DoubleKernel_Ptx_KeepsF64LoadsStoresAndEightByteStrides(string kernel)
    {
        string ptx = KernelCodegenTests.Ptx(kernel);
        Assert.Contains(".reg .f64", ptx, StringComparison.Ordinal);
        Assert.Matches(@"\badd\.(rn\.)?f64\b", ptx);
        int doubleViews = KernelCodegenTests.Find(kernel).GetParameters().Count(p => IsDoubleView(p.ParameterType));
        if (doubleViews > 0)
        {
            Assert.True(Regex.Count(ptx, @"\b(st|ld)\.global\.f64\b") >= doubleViews,
                $"{kernel}: expected f64 global loads/stores for {doubleViews} double view(s)\n{ptx}");
            Assert.Matches(@"mul\.wide\.[su]32\s+%rd\d+, %r\d+, 8;", ptx);
        }
    }

    /// <summary>The evaluation reduction stores only its double loss partials and int counts: an f32
    /// store would be a double turned float.</summary>
    [Fact]
    public void SumPartialsKernel_Ptx_StoresNoFloat()
    {
        string ptx = KernelCodegenTests.Ptx("EvaluationKernels.SumPartialsKernel");
        Assert.DoesNotMatch(@"\bst\.global\.f32\b", ptx);
        Assert.Matches(@"\bst\.global\.f64\b", ptx);
    }

    [Theory]
    [MemberData(nameof(DoubleKernels))]
    public void DoubleKernel_OpenCL_KeepsDoubleViewsAndArithmetic(string kernel)
    {
        string source = KernelCodegenTests.OpenCLSource(kernel);
        Assert.Contains("double ", source, StringComparison.Ordinal);
        int doubleViews = KernelCodegenTests.Find(kernel).GetParameters().Count(p => IsDoubleView(p.ParameterType));
        if (doubleViews > 0)
            Assert.Contains("global double*", source, StringComparison.Ordinal);
    }

    /// <summary>No kernel gets an approximate division, square root or reciprocal, nor flushes
    /// denormals to zero (the CPU accelerator does neither, so results would differ by more than
    /// rounding). The one documented exception: XMath.Exp/Log lower to ex2/lg2.approx.f32 on PTX
    /// in every math mode; only the softmax kernel uses them (see PtxSoftmax test).</summary>
    [Theory]
    [MemberData(nameof(KernelCodegenTests.KernelNames), MemberType = typeof(KernelCodegenTests))]
    public void Kernel_Ptx_HasNoApproximateOrFlushingArithmetic(string kernel)
    {
        string ptx = KernelCodegenTests.Ptx(kernel);
        var approximate = ApproximateOps().Matches(ptx).Select(m => m.Value).Distinct().ToArray();
        string[] allowed = kernel.StartsWith("SoftmaxCrossEntropyKernels.", StringComparison.Ordinal)
            ? ["ex2.approx.f32", "lg2.approx.f32"]
            : [];
        Assert.Empty(approximate.Except(allowed));
        Assert.DoesNotMatch(@"\.ftz\b", ptx);
        Assert.DoesNotMatch(@"\bdiv\.full\.", ptx);
    }

    /// <summary>The softmax uses exp and log whose error the tolerance allows for: PTX ex2.approx.f32
    /// and lg2.approx.f32 (about 2 ulp, no flush to zero; Tolerance.SoftmaxLoss/SoftmaxGradient
    /// give GPUs 4x the CPU bound), never the CORDIC double path or an ftz variant; the gradient's
    /// 1/sum is correctly rounded. OpenCL uses the full-precision exp/log builtins, not native_*.</summary>
    [Fact]
    public void SoftmaxKernel_Ptx_UsesExpAndLogOfTheDocumentedPrecision()
    {
        const string kernel = "SoftmaxCrossEntropyKernels.SoftmaxCrossEntropyKernel";
        string ptx = KernelCodegenTests.Ptx(kernel);
        Assert.Contains("ex2.approx.f32", ptx, StringComparison.Ordinal);
        Assert.Contains("lg2.approx.f32", ptx, StringComparison.Ordinal);
        Assert.DoesNotContain(".f64", ptx, StringComparison.Ordinal);
        Assert.Matches(@"\b(div|rcp)\.rn\.f32\b", ptx);
        string source = KernelCodegenTests.OpenCLSource(kernel);
        Assert.Matches(@"\bexp \(", source);
        Assert.Matches(@"\blog \(", source);
        Assert.DoesNotMatch(@"\b(native|half)_(exp|log|divide|recip|sqrt)", source);
    }

    /// <summary>The gathers promise exactly the float nearest b / 255 (as PyTorch): the division is
    /// done in double, correctly rounded, and rounded to float once.</summary>
    [Theory]
    [InlineData("BatchGatherKernels.GatherBatchKernel")]
    [InlineData("BatchGatherKernels.GatherShiftedBatchKernel")]
    [InlineData("DistortionKernels.DistortBatchKernel")]
    public void GatherKernel_Ptx_DividesExactlyInDouble(string kernel)
    {
        string ptx = KernelCodegenTests.Ptx(kernel);
        Assert.Contains("div.rn.f64", ptx, StringComparison.Ordinal);
        Assert.Contains("cvt.rn.f32.f64", ptx, StringComparison.Ordinal);
        Assert.DoesNotMatch(@"\bdiv\.[a-z.]*f32\b", ptx);
        string source = KernelCodegenTests.OpenCLSource(kernel);
        Assert.Matches(@"\(double\)\(\(double\) var\d+ / +\(double\)255\)", source);
    }

    /// <summary>The optimisers' square roots and divisions are IEEE (sqrt.rn, div.rn on PTX; the
    /// full-precision builtins, never native_*/half_*, in OpenCL C), as on the CPU.</summary>
    [Theory]
    [InlineData("OptimizerKernels.OptimizerStepKernel<AdamStep>")]
    [InlineData("OptimizerKernels.OptimizerStepKernel<AdamWStep>")]
    [InlineData("OptimizerKernels.OptimizerStepKernel<RmspropStep>")]
    public void OptimizerKernel_Ptx_UsesCorrectlyRoundedSqrtAndDivision(string kernel)
    {
        string ptx = KernelCodegenTests.Ptx(kernel);
        Assert.Contains("sqrt.rn.f32", ptx, StringComparison.Ordinal);
        Assert.Matches(@"\bdiv\.rn\.f32\b", ptx);
        string source = KernelCodegenTests.OpenCLSource(kernel);
        Assert.Matches(@"\bsqrt \(", source);
        Assert.DoesNotMatch(@"\b(native|half)_(divide|recip|sqrt|rsqrt)", source);
    }

    /// <summary>SGD is multiplies and adds only: no division or square root may appear, and no double.</summary>
    [Fact]
    public void SgdKernel_Ptx_HasNoDivisionSqrtOrDouble()
    {
        string ptx = KernelCodegenTests.Ptx("OptimizerKernels.OptimizerStepKernel<SgdStep>");
        Assert.DoesNotMatch(@"\b(div|sqrt|rcp|rsqrt)\.", ptx);
        Assert.DoesNotContain(".f64", ptx, StringComparison.Ordinal);
    }

    [GeneratedRegex(@"\b[a-z0-9]+\.approx(\.[a-z0-9]+)+\b")]
    private static partial Regex ApproximateOps();
}
