using System.Diagnostics;
using GpuMlp.Kernels;
using GpuMlp.Kernels.Cpu;
using ILGPU;
using ILGPU.Runtime;

namespace GpuMlp.Compute;

/// <summary>Which dense GEMM implementation runs (see kernels/DenseKernels.cs).</summary>
public enum GemmVariant
{
    /// <summary>Pick per accelerator: register tiles on the CPU, 16x16 shared tiles on GPUs.</summary>
    Auto,
    RegisterTiled,
    SharedTiled16,
    /// <summary>The shared-memory kernel with 2x2-thread groups: the GPU logic at CPU-test size.</summary>
    SharedTiled2,
    /// <summary>The CPU accelerator's SIMD kernel set (kernels/Cpu; see CpuSimdKernelSet.cs): what
    /// Auto picks on the CPU unless the SIMD path is off.</summary>
    CpuSimd,
}

/// <summary>Which block size the GPU GEMM (GemmVariant.SharedTiled16) uses. Auto picks per launch;
/// the forced sizes exist so that each instantiation can be run and measured on purpose.</summary>
public enum GpuGemmBlock
{
    /// <summary>64x64 blocks, or 32x32 when 64x64 blocks would not give every multiprocessor one.</summary>
    Auto,
    /// <summary>Always 64x64 blocks of 16x16 threads (GemmTile16x16x16).</summary>
    Block64,
    /// <summary>Always 32x32 blocks of 8x8 threads (GemmTile8x8x16).</summary>
    Block32,
}

/// <summary>Launch shapes: the CPU accelerator's (one-thread groups, one partial per worker group)
/// or a GPU's (256-thread groups, 1024 partials). A CPU accelerator shaped for 256-thread groups can
/// be given the GPU profile, so every GPU launch shape runs numerically in CI.</summary>
public enum LaunchProfile
{
    /// <summary>By accelerator kind: Cpu on the CPU accelerator, Gpu otherwise.</summary>
    Auto,
    Cpu,
    Gpu,
}

/// <summary>The single entry point for every launch. It chooses the kernel set once, when it is built
/// (IKernelSet: the portable kernels or the CPU SIMD ones), which loads its kernels then; after that
/// it checks shapes and delegates, and writes the composite operations (the convolutions) once over
/// the set. Callers pass problem sizes and views, never grid or group sizes.</summary>
public sealed partial class DeviceKernels
{
    /// <summary>Environment variable that forces the GPU GEMM block size: auto (default), 64 or 32.</summary>
    public const string GemmBlockVariable = "GPUMLP_GEMM_BLOCK";

    /// <summary>Threads per group of the GPU element-wise launches.</summary>
    public const int GpuElementwiseGroupSize = 256;

    /// <summary>Partial sums of the GPU evaluation reduction (SumPartials).</summary>
    public const int GpuPartialCount = 1024;

    // The kernel set, chosen in the constructor and never again.
    private readonly IKernelSet set;
    private readonly ElementwiseShape elementwise;
    private readonly MemoryBuffer1D<float, Stride1D.Dense> unused;

    /// <param name="accelerator">Where the kernels run.</param>
    /// <param name="variant">The GEMM implementation (Auto: per launch profile).</param>
    /// <param name="gemmBlock">The GPU GEMM block size; null reads GPUMLP_GEMM_BLOCK (default auto).</param>
    /// <param name="profile">Launch shapes; Gpu on a CPU accelerator needs groups of at least 256 threads.</param>
    /// <param name="cpuSimd">The CPU SIMD path; null reads GPUMLP_CPU_SIMD (default auto). Used only on
    /// the CPU accelerator with the CPU launch profile and GemmVariant Auto or CpuSimd.</param>
    public DeviceKernels(Accelerator accelerator, GemmVariant variant = GemmVariant.Auto,
        GpuGemmBlock? gemmBlock = null, LaunchProfile profile = LaunchProfile.Auto, CpuSimdRequest? cpuSimd = null)
    {
        Accelerator = accelerator;
        IsCpu = profile == LaunchProfile.Auto
            ? accelerator.AcceleratorType == ILGPU.Runtime.AcceleratorType.CPU
            : profile == LaunchProfile.Cpu;
        if (!IsCpu && accelerator.MaxNumThreadsPerGroup < GpuElementwiseGroupSize)
            throw new ArgumentException(
                $"the GPU launch profile needs groups of {GpuElementwiseGroupSize} threads; this accelerator allows {accelerator.MaxNumThreadsPerGroup}");
        CpuSimd = IsCpu && accelerator.AcceleratorType == ILGPU.Runtime.AcceleratorType.CPU
            && variant is GemmVariant.Auto or GemmVariant.CpuSimd
            ? CpuSimdChoice.Resolve(cpuSimd ?? CpuSimdChoice.FromEnvironment())
            : null;
        if (variant == GemmVariant.CpuSimd && CpuSimd is null)
            throw new ArgumentException("the CPU SIMD kernels need the CPU accelerator, the CPU launch profile and a SIMD path other than off");
        Variant = CpuSimd is not null
            ? GemmVariant.CpuSimd
            : variant == GemmVariant.Auto
                ? IsCpu ? GemmVariant.RegisterTiled : GemmVariant.SharedTiled16
                : variant;
        GemmBlock = gemmBlock ?? GemmBlockFromEnvironment();
        // On the CPU accelerator one group of as many threads as it has workers (a worker is an OS
        // thread; ComputeDevice.CpuDeviceShape puts them all in one multiprocessor, whose launches
        // are the cheapest); wide groups and enough of them to fill every multiprocessor on a GPU.
        ElementwiseGroupSize = IsCpu ? accelerator.MaxNumThreadsPerGroup : GpuElementwiseGroupSize;
        MaxElementwiseGroups = IsCpu
            ? accelerator.NumMultiprocessors
            : accelerator.NumMultiprocessors * Math.Max(1, accelerator.MaxNumThreadsPerMultiprocessor / ElementwiseGroupSize) * 2;

        elementwise = new ElementwiseShape(ElementwiseGroupSize, MaxElementwiseGroups);

        var watch = Stopwatch.StartNew();
        unused = accelerator.Allocate1D<float>(1);
        set = CpuSimd is CpuSimdWidth width
            ? new CpuSimdKernelSet(accelerator, width, ElementwiseGroupSize * MaxElementwiseGroups, unused.View)
            : new PortableKernelSet(accelerator, Variant, GemmBlock, elementwise, unused.View);
        CompileSeconds = watch.Elapsed.TotalSeconds;
    }

    public Accelerator Accelerator { get; }
    public bool IsCpu { get; }
    public GemmVariant Variant { get; }

    /// <summary>Which kernel set runs every launch (chosen once, in the constructor).</summary>
    public KernelSetKind KernelSetKind => set.Kind;

    /// <summary>The GPU GEMM block choice (only used by GemmVariant.SharedTiled16).</summary>
    public GpuGemmBlock GemmBlock { get; }
    public int ElementwiseGroupSize { get; }
    public int MaxElementwiseGroups { get; }

    /// <summary>Wall time spent compiling (loading) every kernel.</summary>
    public double CompileSeconds { get; }

    /// <summary>The number of partial sums SumPartials produces (one per CPU worker thread); the
    /// host adds them in order.</summary>
    public int PartialCount => IsCpu ? ElementwiseGroupSize * MaxElementwiseGroups : GpuPartialCount;

    /// <summary>Parses GPUMLP_GEMM_BLOCK: unset, empty or "auto" is Auto; "64" and "32" force a size.</summary>
    public static GpuGemmBlock GemmBlockFromEnvironment() =>
        ParseGemmBlock(Environment.GetEnvironmentVariable(GemmBlockVariable));

    public static GpuGemmBlock ParseGemmBlock(string? text) => text?.Trim().ToLowerInvariant() switch
    {
        null or "" or "auto" => GpuGemmBlock.Auto,
        "64" => GpuGemmBlock.Block64,
        "32" => GpuGemmBlock.Block32,
        _ => throw new ArgumentException($"{GemmBlockVariable}='{text}' is not auto, 64 or 32"),
    };

    /// <summary>The GPU GEMM block for one problem: 32x32 when forced, or (Auto) when 64x64 blocks
    /// would leave multiprocessors idle (fewer blocks than multiprocessors).</summary>
    public static GpuGemmBlock ChooseGpuBlock(GpuGemmBlock forced, in GemmShape shape, int multiprocessors)
    {
        if (forced != GpuGemmBlock.Auto)
            return forced;
        return PortableKernelSet.BlockConfig<GemmTile16x16x16>(shape).GridDim.Size < multiprocessors
            ? GpuGemmBlock.Block32
            : GpuGemmBlock.Block64;
    }

    /// <summary>A placeholder for views a kernel mode does not read (bias in Store mode, aux
    /// outside ActiveMask mode).</summary>
    public ArrayView<float> Unused => unused.View;

    /// <summary>Grid-stride launch shape for `count` independent work items.</summary>
    public KernelConfig Elementwise(int count) => elementwise.For(count);

    /// <summary>C[M,N] = epilogue(op(A) * op(B)); see DenseKernels.cs for the modes.</summary>
    public void Gemm(GemmShape shape, DenseEpilogue epilogue, ArrayView<float> a, ArrayView<float> b,
        ArrayView<float> c, ArrayView<float> bias, ArrayView<float> aux)
    {
        CheckNotEmpty(shape);
        set.Gemm(shape, epilogue, a, b, c, bias, aux);
    }

    /// <summary>dW = op(A) * op(B) (Store) and db[n] = sum over k of op(B)[k, n], the weight and bias
    /// gradients of a layer (dW = X^T dZ with GemmShape.TransposedA, db = column sums of dZ). B must be
    /// dense [K, N] row-major. One launch on the CPU SIMD set, a GEMM and a bias-gradient launch on the
    /// portable one.</summary>
    public void WeightGradient(GemmShape shape, ArrayView<float> a, ArrayView<float> b, ArrayView<float> dW, ArrayView<float> db)
    {
        if (shape.BStrideK != shape.N || shape.BStrideN != 1)
            throw new ArgumentException("WeightGradient needs B dense [K, N] row-major");
        CheckNotEmpty(shape);
        set.WeightGradient(shape, a, b, dW, db);
    }

    private static void CheckNotEmpty(in GemmShape shape)
    {
        if (shape.M <= 0 || shape.N <= 0 || shape.K <= 0)
            throw new ArgumentException($"empty GEMM {shape.M}x{shape.N}x{shape.K}");
    }

    public void BiasGradient(ArrayView<float> dz, int rows, int columns, ArrayView<float> db) =>
        set.BiasGradient(dz, rows, columns, db);

    public void Gather(ArrayView<byte> images, ArrayView<byte> labels, ArrayView<int> order,
        int first, int rows, int features, ArrayView<float> x, ArrayView<int> y) =>
        set.Gather(images, labels, order, first, rows, features, x, y);

    /// <summary>Compiles the shifted gather now (idempotent), so that no training step includes it.</summary>
    public void LoadAugmentation() => set.LoadShiftedGather();

    /// <summary>Gather with random shifts (BatchGatherKernels.GatherShiftedBatchKernel): each row's
    /// [height, width] image moved by up to maxShift pixels in x and y, drawn from (seed, step, row).
    /// Compiled on first use; used by training with augmentation only.</summary>
    public void GatherShifted(ArrayView<byte> images, ArrayView<byte> labels, ArrayView<int> order, int first, int rows,
        int height, int width, int maxShift, uint seed, uint step, ArrayView<float> x, ArrayView<int> y)
    {
        if (maxShift < 0 || height < 1 || width < 1)
            throw new ArgumentOutOfRangeException(nameof(maxShift), $"shifted gather of {height}x{width} images by {maxShift}");
        set.GatherShifted(images, labels, order, first, rows, height, width, maxShift, seed, step, x, y);
    }

    /// <summary>Compiles the distorting gather now (idempotent), so that no training step includes it.</summary>
    public void LoadDistortion() => set.LoadDistortion();

    /// <summary>Gather with random affine and elastic distortion (DistortionKernels.cs): each row's
    /// C x H x W image resampled bilinearly through the map drawn from (shape.Seed, shape.Step, row);
    /// field [rows, 2, H + 2R, W] is the elastic field's workspace (overwritten; unused without elastic
    /// distortion). Used by training with distortion only.</summary>
    public void Distort(ArrayView<byte> images, ArrayView<byte> labels, ArrayView<int> order, int first, int rows,
        in DistortionShape shape, ArrayView<float> field, ArrayView<float> x, ArrayView<int> y)
    {
        if (shape.Channels < 1 || shape.Height < 1 || shape.Width < 1 || shape.MaxShift < 0
            || (shape.ElasticAlpha > 0f && shape.ElasticRadius is < 0 or > DistortionKernels.MaxElasticRadius))
            throw new ArgumentOutOfRangeException(nameof(shape), $"distorting gather of {shape.Channels}x{shape.Height}x{shape.Width} images, radius {shape.ElasticRadius}");
        if (shape.ElasticAlpha > 0f && field.Length < rows * shape.FieldPerRow)
            throw new ArgumentException($"the elastic field holds {field.Length} floats; {rows} rows need {rows * shape.FieldPerRow}", nameof(field));
        set.Distort(images, labels, order, first, rows, shape, field, x, y);
    }

    public void SoftmaxCrossEntropy(ArrayView<float> logits, ArrayView<int> labels, int rows, int classes,
        bool writeGradient, ArrayView<float> dLogits, int first, ArrayView<float> loss, ArrayView<int> prediction) =>
        SoftmaxCrossEntropy(logits, labels, rows, classes, writeGradient, dLogits, first, loss, prediction, labelSmoothing: 0f);

    /// <summary>Softmax cross-entropy against targets smoothed by <paramref name="labelSmoothing"/> ε in
    /// [0, 1] (torch's CrossEntropyLoss(label_smoothing=ε)); ε = 0 is plain cross-entropy, bit for bit.</summary>
    public void SoftmaxCrossEntropy(ArrayView<float> logits, ArrayView<int> labels, int rows, int classes,
        bool writeGradient, ArrayView<float> dLogits, int first, ArrayView<float> loss, ArrayView<int> prediction, float labelSmoothing)
    {
        if (!(labelSmoothing is >= 0f and <= 1f))
            throw new ArgumentOutOfRangeException(nameof(labelSmoothing), labelSmoothing, "label smoothing must be in [0, 1]");
        set.SoftmaxCrossEntropy(logits, labels, rows, classes, 1f / rows, writeGradient, dLogits, first, loss, prediction, labelSmoothing);
    }

    /// <summary>The weights' exponential moving average: average [count] = decay * average + (1 - decay)
    /// * weights [count], average overwritten (gpumlp train --ema; timm's ModelEmaV2 update).</summary>
    public void ExponentialAverage(ArrayView<float> average, ArrayView<float> weights, int count, float decay)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        if (!(decay is >= 0f and < 1f))
            throw new ArgumentOutOfRangeException(nameof(decay), decay, "the decay must be in [0, 1)");
        Require(average, count, "average");
        Require(weights, count, "weights");
        set.ExponentialAverage(average, weights, count, decay);
    }

    public void SumPartials(ArrayView<float> losses, ArrayView<int> predictions, ArrayView<byte> labels,
        ArrayView<int> order, int first, int count, ArrayView<double> lossPartials, ArrayView<int> correctPartials) =>
        set.SumPartials(losses, predictions, labels, order, first, count, PartialCount, lossPartials, correctPartials);

    public void Confusion(ArrayView<int> predictions, ArrayView<byte> labels, ArrayView<int> order,
        int first, int count, int classes, ArrayView<int> matrix) =>
        set.Confusion(predictions, labels, order, first, count, classes, matrix);
}

/// <summary>Host-side description of one dropout mask (see kernels/DropoutKernels.cs).</summary>
public readonly record struct DropoutMask(uint Seed, uint Step, uint Layer, uint DropThreshold, float KeepScale)
{
    public static DropoutMask For(float rate, uint seed, uint step, uint layer)
    {
        if (rate is < 0f or >= 1f)
            throw new ArgumentOutOfRangeException(nameof(rate), rate, "dropout rate must be in [0, 1)");
        return new DropoutMask(seed, step, layer, Threshold(rate), 1f / (1f - rate));
    }

    /// <summary>round(rate * 2^32): an element is dropped when its hash is below this.</summary>
    public static uint Threshold(float rate) => (uint)Math.Min(uint.MaxValue, Math.Round(rate * 4294967296.0));

    public DenseEpilogue Epilogue(EpilogueMode mode) => new()
    {
        Mode = mode,
        Seed = Seed,
        Step = Step,
        Layer = Layer,
        DropThreshold = DropThreshold,
        KeepScale = KeepScale,
    };
}
