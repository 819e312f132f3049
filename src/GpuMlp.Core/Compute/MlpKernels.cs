using System.Diagnostics;
using GpuMlp.Kernels;
using GpuMlp.Kernels.Cpu;
using ILGPU;
using ILGPU.Runtime;
using GemmKernel = System.Action<GpuMlp.Kernels.GemmShape, GpuMlp.Kernels.DenseEpilogue,
    ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>>;
using GemmLauncher = System.Action<ILGPU.KernelConfig, GpuMlp.Kernels.GemmShape, GpuMlp.Kernels.DenseEpilogue,
    ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>>;

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
    /// <summary>The CPU accelerator's SIMD kernel set (kernels/Cpu; see MlpKernels.CpuSimd.cs): what
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

/// <summary>Loads every kernel once and owns all launch math: callers pass problem sizes and
/// views, never grid or group sizes.</summary>
public sealed partial class MlpKernels
{
    /// <summary>Environment variable that forces the GPU GEMM block size: auto (default), 64 or 32.</summary>
    public const string GemmBlockVariable = "GPUMLP_GEMM_BLOCK";

    /// <summary>Threads per group of the GPU element-wise launches.</summary>
    public const int GpuElementwiseGroupSize = 256;

    /// <summary>Partial sums of the GPU evaluation reduction (SumPartials).</summary>
    public const int GpuPartialCount = 1024;

    // The portable kernels (every launcher below is null when the CPU SIMD set runs instead).
    private readonly GemmLauncher? gemm;
    // GPU only: the same kernel with 32x32 blocks, for shapes whose 64x64 blocks cannot fill the
    // device (chosen per launch in GemmLaunch).
    private readonly GemmLauncher? gemmSmallBlocks;
    private readonly Action<KernelConfig, ArrayView<float>, int, int, ArrayView<float>>? biasGradient;
    private readonly Action<KernelConfig, ArrayView<byte>, ArrayView<byte>, ArrayView<int>, int, int, int, ArrayView<float>, ArrayView<int>>? gather;
    private readonly Action<KernelConfig, ArrayView<float>, ArrayView<int>, int, int, float, int, ArrayView<float>, int, ArrayView<float>, ArrayView<int>>? softmaxCrossEntropy;
    private readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, AdamStep>? adam;
    private readonly Action<KernelConfig, ArrayView<float>, ArrayView<int>, ArrayView<byte>, ArrayView<int>, int, int, int, ArrayView<double>, ArrayView<int>>? sumPartials;
    private readonly Action<KernelConfig, ArrayView<int>, ArrayView<byte>, ArrayView<int>, int, int, int, ArrayView<int>>? confusion;
    private readonly MemoryBuffer1D<float, Stride1D.Dense> unused;

    /// <param name="accelerator">Where the kernels run.</param>
    /// <param name="variant">The GEMM implementation (Auto: per launch profile).</param>
    /// <param name="gemmBlock">The GPU GEMM block size; null reads GPUMLP_GEMM_BLOCK (default auto).</param>
    /// <param name="profile">Launch shapes; Gpu on a CPU accelerator needs groups of at least 256 threads.</param>
    /// <param name="cpuSimd">The CPU SIMD path; null reads GPUMLP_CPU_SIMD (default auto). Used only on
    /// the CPU accelerator with the CPU launch profile and GemmVariant Auto or CpuSimd.</param>
    public MlpKernels(Accelerator accelerator, GemmVariant variant = GemmVariant.Auto,
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

        var watch = Stopwatch.StartNew();
        unused = accelerator.Allocate1D<float>(1);
        if (CpuSimd is CpuSimdWidth width)
        {
            simd = new CpuSimdLaunchers(accelerator, width, ElementwiseGroupSize * MaxElementwiseGroups);
            CompileSeconds = watch.Elapsed.TotalSeconds;
            return;
        }
        gemm = Variant switch
        {
            GemmVariant.RegisterTiled => LoadGemm(accelerator, DenseKernels.DenseGemmRegisterTiledKernel),
            GemmVariant.SharedTiled16 => LoadGemm(accelerator, DenseKernels.DenseGemmSharedTiledKernel<GemmTile16x16x16>),
            GemmVariant.SharedTiled2 => LoadGemm(accelerator, DenseKernels.DenseGemmSharedTiledKernel<GemmTile2x2x4>),
            _ => throw new ArgumentOutOfRangeException(nameof(variant)),
        };
        if (Variant == GemmVariant.SharedTiled16 && GemmBlock != GpuGemmBlock.Block64)
            gemmSmallBlocks = LoadGemm(accelerator, DenseKernels.DenseGemmSharedTiledKernel<GemmTile8x8x16>);
        biasGradient = accelerator.LoadStreamKernel<ArrayView<float>, int, int, ArrayView<float>>(DenseKernels.DenseBiasGradientKernel);
        gather = accelerator.LoadStreamKernel<ArrayView<byte>, ArrayView<byte>, ArrayView<int>, int, int, int, ArrayView<float>, ArrayView<int>>(BatchGatherKernels.GatherBatchKernel);
        softmaxCrossEntropy = accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<int>, int, int, float, int, ArrayView<float>, int, ArrayView<float>, ArrayView<int>>(SoftmaxCrossEntropyKernels.SoftmaxCrossEntropyKernel);
        adam = accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, AdamStep>(AdamKernels.AdamKernel);
        sumPartials = accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<int>, ArrayView<byte>, ArrayView<int>, int, int, int, ArrayView<double>, ArrayView<int>>(EvaluationKernels.SumPartialsKernel);
        confusion = accelerator.LoadStreamKernel<ArrayView<int>, ArrayView<byte>, ArrayView<int>, int, int, int, ArrayView<int>>(EvaluationKernels.ConfusionKernel);
        optimizerKernels = new OptimizerKernels(accelerator);
        CompileSeconds = watch.Elapsed.TotalSeconds;
    }

    public Accelerator Accelerator { get; }
    public bool IsCpu { get; }
    public GemmVariant Variant { get; }

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
        return BlockConfig<GemmTile16x16x16>(shape).GridDim.Size < multiprocessors
            ? GpuGemmBlock.Block32
            : GpuGemmBlock.Block64;
    }

    /// <summary>A placeholder for views a kernel mode does not read (bias in Store mode, aux
    /// outside ActiveMask mode).</summary>
    public ArrayView<float> Unused => unused.View;

    /// <summary>Grid-stride launch shape for `count` independent work items.</summary>
    public KernelConfig Elementwise(int count)
    {
        int groups = (int)Math.Min(MaxElementwiseGroups, Math.Max(1L, ((long)count + ElementwiseGroupSize - 1) / ElementwiseGroupSize));
        return new KernelConfig(groups, ElementwiseGroupSize);
    }

    private static GemmLauncher LoadGemm(Accelerator accelerator, GemmKernel kernel) => accelerator.LoadStreamKernel(kernel);

    /// <summary>One group per block of the shared-memory GEMM with tile TTile: the block is
    /// DenseKernels.SharedMicroTile times the group's threads in each dimension.</summary>
    private static KernelConfig BlockConfig<TTile>(in GemmShape shape) where TTile : struct, IGemmTile
    {
        var tile = default(TTile);
        int blockRows = DenseKernels.SharedMicroTile * tile.ThreadsY, blockColumns = DenseKernels.SharedMicroTile * tile.ThreadsX;
        return new KernelConfig(
            new Index2D((shape.N + blockColumns - 1) / blockColumns, (shape.M + blockRows - 1) / blockRows),
            new Index2D(tile.ThreadsX, tile.ThreadsY));
    }

    /// <summary>The GEMM kernel and launch shape for one problem size.</summary>
    private (GemmLauncher Kernel, KernelConfig Config) GemmLaunch(in GemmShape shape)
    {
        switch (Variant)
        {
            case GemmVariant.RegisterTiled:
                int tiles = (shape.M + DenseKernels.RegisterTileRows - 1) / DenseKernels.RegisterTileRows
                    * ((shape.N + DenseKernels.RegisterTileColumns - 1) / DenseKernels.RegisterTileColumns);
                return (gemm!, Elementwise(tiles));
            case GemmVariant.SharedTiled2:
                return (gemm!, BlockConfig<GemmTile2x2x4>(shape));
            default:
                // Fewer 64x64 blocks than multiprocessors: 32x32 blocks keep more of them busy.
                return ChooseGpuBlock(GemmBlock, shape, Accelerator.NumMultiprocessors) == GpuGemmBlock.Block32
                    ? (gemmSmallBlocks!, BlockConfig<GemmTile8x8x16>(shape))
                    : (gemm!, BlockConfig<GemmTile16x16x16>(shape));
        }
    }

    /// <summary>C[M,N] = epilogue(op(A) * op(B)); see DenseKernels.cs for the modes.</summary>
    public void Gemm(GemmShape shape, DenseEpilogue epilogue, ArrayView<float> a, ArrayView<float> b,
        ArrayView<float> c, ArrayView<float> bias, ArrayView<float> aux)
    {
        if (shape.M <= 0 || shape.N <= 0 || shape.K <= 0)
            throw new ArgumentException($"empty GEMM {shape.M}x{shape.N}x{shape.K}");
        if (simd is not null)
        {
            simd.Gemm(shape, epilogue, a, b, c, bias, aux, Unused, sumBColumns: false);
            return;
        }
        var (kernel, config) = GemmLaunch(shape);
        kernel(config, shape, epilogue, a, b, c, bias, aux);
    }

    /// <summary>dW = op(A) * op(B) (Store) and db[n] = sum over k of op(B)[k, n], the weight and bias
    /// gradients of a layer (dW = X^T dZ with GemmShape.TransposedA, db = column sums of dZ). B must be
    /// dense [K, N] row-major. One launch on the CPU SIMD path, a GEMM and a bias-gradient launch
    /// otherwise.</summary>
    public void WeightGradient(GemmShape shape, ArrayView<float> a, ArrayView<float> b, ArrayView<float> dW, ArrayView<float> db)
    {
        if (shape.BStrideK != shape.N || shape.BStrideN != 1)
            throw new ArgumentException("WeightGradient needs B dense [K, N] row-major");
        if (simd is not null)
        {
            if (shape.M <= 0 || shape.N <= 0 || shape.K <= 0)
                throw new ArgumentException($"empty GEMM {shape.M}x{shape.N}x{shape.K}");
            simd.Gemm(shape, DenseEpilogue.Of(EpilogueMode.Store), a, b, dW, Unused, Unused, db, sumBColumns: true);
            return;
        }
        Gemm(shape, DenseEpilogue.Of(EpilogueMode.Store), a, b, dW, Unused, Unused);
        BiasGradient(b, shape.K, shape.N, db);
    }

    public void BiasGradient(ArrayView<float> dz, int rows, int columns, ArrayView<float> db)
    {
        if (simd is not null)
            simd.BiasGradient(dz, rows, columns, db);
        else
            biasGradient!(Elementwise(columns), dz, rows, columns, db);
    }

    public void Gather(ArrayView<byte> images, ArrayView<byte> labels, ArrayView<int> order,
        int first, int rows, int features, ArrayView<float> x, ArrayView<int> y)
    {
        if (simd is not null)
            simd.Gather(images, labels, order, first, rows, features, x, y);
        else
            gather!(Elementwise(rows * features), images, labels, order, first, rows, features, x, y);
    }

    private Action<KernelConfig, ArrayView<byte>, ArrayView<byte>, ArrayView<int>, int, int, int, int, int, uint, uint,
        ArrayView<float>, ArrayView<int>>? gatherShifted;

    /// <summary>Compiles the shifted gather now (idempotent), so that no training step includes it.</summary>
    public void LoadAugmentation()
    {
        if (simd is not null)
            simd.LoadGatherShifted();
        else
            gatherShifted ??= Accelerator.LoadStreamKernel<ArrayView<byte>, ArrayView<byte>, ArrayView<int>, int, int, int, int, int, uint, uint,
                ArrayView<float>, ArrayView<int>>(BatchGatherKernels.GatherShiftedBatchKernel);
    }

    /// <summary>Gather with random shifts (BatchGatherKernels.GatherShiftedBatchKernel): each row's
    /// [height, width] image moved by up to maxShift pixels in x and y, drawn from (seed, step, row).
    /// Compiled on first use; used by training with augmentation only.</summary>
    public void GatherShifted(ArrayView<byte> images, ArrayView<byte> labels, ArrayView<int> order, int first, int rows,
        int height, int width, int maxShift, uint seed, uint step, ArrayView<float> x, ArrayView<int> y)
    {
        if (maxShift < 0 || height < 1 || width < 1)
            throw new ArgumentOutOfRangeException(nameof(maxShift), $"shifted gather of {height}x{width} images by {maxShift}");
        if (simd is not null)
        {
            simd.GatherShifted(images, labels, order, first, rows, height, width, maxShift, seed, step, x, y);
            return;
        }
        BeforePortableLaunch();
        LoadAugmentation();
        gatherShifted!(Elementwise(rows * height * width), images, labels, order, first, rows, height, width, maxShift, seed, step, x, y);
    }

    public void SoftmaxCrossEntropy(ArrayView<float> logits, ArrayView<int> labels, int rows, int classes,
        bool writeGradient, ArrayView<float> dLogits, int first, ArrayView<float> loss, ArrayView<int> prediction)
    {
        if (simd is not null)
        {
            simd.SoftmaxCrossEntropy(logits, labels, rows, classes, 1f / rows, writeGradient ? 1 : 0, dLogits, first, loss, prediction);
            return;
        }
        softmaxCrossEntropy!(Elementwise(rows), logits, labels, rows, classes, 1f / rows,
            writeGradient ? 1 : 0, dLogits, first, loss, prediction);
    }

    public void Adam(ArrayView<float> parameters, ArrayView<float> gradients, ArrayView<float> firstMoment,
        ArrayView<float> secondMoment, int count, AdamStep step)
    {
        if (simd is not null)
            simd.Adam(parameters, gradients, firstMoment, secondMoment, count, step);
        else
            adam!(Elementwise(count), parameters, gradients, firstMoment, secondMoment, count, step);
    }

    public void SumPartials(ArrayView<float> losses, ArrayView<int> predictions, ArrayView<byte> labels,
        ArrayView<int> order, int first, int count, ArrayView<double> lossPartials, ArrayView<int> correctPartials)
    {
        if (simd is not null)
        {
            simd.SumPartials(losses, predictions, labels, order, first, count, PartialCount, lossPartials, correctPartials);
            return;
        }
        sumPartials!(Elementwise(PartialCount), losses, predictions, labels, order, first, count, PartialCount,
            lossPartials, correctPartials);
    }

    public void Confusion(ArrayView<int> predictions, ArrayView<byte> labels, ArrayView<int> order,
        int first, int count, int classes, ArrayView<int> matrix)
    {
        if (simd is not null)
            simd.Confusion(predictions, labels, order, first, count, classes, matrix);
        else
            confusion!(Elementwise(classes * classes), predictions, labels, order, first, count, classes, matrix);
    }
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
