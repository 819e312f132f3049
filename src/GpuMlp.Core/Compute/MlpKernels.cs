using System.Diagnostics;
using GpuMlp.Kernels;
using ILGPU;
using ILGPU.Runtime;
using GemmKernel = System.Action<GpuMlp.Kernels.GemmShape, GpuMlp.Kernels.DenseEpilogue,
    ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>>;
using GemmLauncher = System.Action<ILGPU.KernelConfig, GpuMlp.Kernels.GemmShape, GpuMlp.Kernels.DenseEpilogue,
    ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>>;

namespace GpuMlp.Compute;

/// <summary>Which dense GEMM implementation runs (see kernels/DenseLayer.cs).</summary>
public enum GemmVariant
{
    /// <summary>Pick per accelerator: register tiles on the CPU, 16x16 shared tiles on GPUs.</summary>
    Auto,
    RegisterTiled,
    SharedTiled16,
    /// <summary>The shared-memory kernel with 2x2-thread groups: the GPU logic at CPU-test size.</summary>
    SharedTiled2,
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

    private readonly GemmLauncher gemm;
    // GPU only: the same kernel with 32x32 blocks, for shapes whose 64x64 blocks cannot fill the
    // device (chosen per launch in GemmLaunch).
    private readonly GemmLauncher? gemmSmallBlocks;
    private readonly Action<KernelConfig, ArrayView<float>, int, int, ArrayView<float>> biasGradient;
    private readonly Action<KernelConfig, ArrayView<byte>, ArrayView<byte>, ArrayView<int>, int, int, int, ArrayView<float>, ArrayView<int>> gather;
    private readonly Action<KernelConfig, ArrayView<float>, ArrayView<int>, int, int, float, int, ArrayView<float>, int, ArrayView<float>, ArrayView<int>> softmaxCrossEntropy;
    private readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, AdamStep> adam;
    private readonly Action<KernelConfig, ArrayView<float>, ArrayView<int>, ArrayView<byte>, ArrayView<int>, int, int, int, ArrayView<double>, ArrayView<int>> sumPartials;
    private readonly Action<KernelConfig, ArrayView<int>, ArrayView<byte>, ArrayView<int>, int, int, int, ArrayView<int>> confusion;
    private readonly MemoryBuffer1D<float, Stride1D.Dense> unused;

    /// <param name="accelerator">Where the kernels run.</param>
    /// <param name="variant">The GEMM implementation (Auto: per launch profile).</param>
    /// <param name="gemmBlock">The GPU GEMM block size; null reads GPUMLP_GEMM_BLOCK (default auto).</param>
    /// <param name="profile">Launch shapes; Gpu on a CPU accelerator needs groups of at least 256 threads.</param>
    public MlpKernels(Accelerator accelerator, GemmVariant variant = GemmVariant.Auto,
        GpuGemmBlock? gemmBlock = null, LaunchProfile profile = LaunchProfile.Auto)
    {
        Accelerator = accelerator;
        IsCpu = profile == LaunchProfile.Auto
            ? accelerator.AcceleratorType == ILGPU.Runtime.AcceleratorType.CPU
            : profile == LaunchProfile.Cpu;
        if (!IsCpu && accelerator.MaxNumThreadsPerGroup < GpuElementwiseGroupSize)
            throw new ArgumentException(
                $"the GPU launch profile needs groups of {GpuElementwiseGroupSize} threads; this accelerator allows {accelerator.MaxNumThreadsPerGroup}");
        Variant = variant == GemmVariant.Auto
            ? IsCpu ? GemmVariant.RegisterTiled : GemmVariant.SharedTiled16
            : variant;
        GemmBlock = gemmBlock ?? GemmBlockFromEnvironment();
        // Groups of one thread on the CPU accelerator (each simulated thread costs ~µs, a group
        // barrier syncs OS threads), as many groups as worker groups; wide groups and enough of
        // them to fill every multiprocessor on a GPU.
        ElementwiseGroupSize = IsCpu ? 1 : GpuElementwiseGroupSize;
        MaxElementwiseGroups = IsCpu
            ? accelerator.NumMultiprocessors
            : accelerator.NumMultiprocessors * Math.Max(1, accelerator.MaxNumThreadsPerMultiprocessor / ElementwiseGroupSize) * 2;

        var watch = Stopwatch.StartNew();
        gemm = Variant switch
        {
            GemmVariant.RegisterTiled => LoadGemm(accelerator, DenseLayer.DenseGemmRegisterTiledKernel),
            GemmVariant.SharedTiled16 => LoadGemm(accelerator, DenseLayer.DenseGemmSharedTiledKernel<GemmTile16x16x16>),
            GemmVariant.SharedTiled2 => LoadGemm(accelerator, DenseLayer.DenseGemmSharedTiledKernel<GemmTile2x2x4>),
            _ => throw new ArgumentOutOfRangeException(nameof(variant)),
        };
        if (Variant == GemmVariant.SharedTiled16 && GemmBlock != GpuGemmBlock.Block64)
            gemmSmallBlocks = LoadGemm(accelerator, DenseLayer.DenseGemmSharedTiledKernel<GemmTile8x8x16>);
        biasGradient = accelerator.LoadStreamKernel<ArrayView<float>, int, int, ArrayView<float>>(DenseLayer.DenseBiasGradientKernel);
        gather = accelerator.LoadStreamKernel<ArrayView<byte>, ArrayView<byte>, ArrayView<int>, int, int, int, ArrayView<float>, ArrayView<int>>(InputLayer.GatherBatchKernel);
        softmaxCrossEntropy = accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<int>, int, int, float, int, ArrayView<float>, int, ArrayView<float>, ArrayView<int>>(SoftmaxCrossEntropyLayer.SoftmaxCrossEntropyKernel);
        adam = accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, AdamStep>(AdamOptimizer.AdamKernel);
        sumPartials = accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<int>, ArrayView<byte>, ArrayView<int>, int, int, int, ArrayView<double>, ArrayView<int>>(EvaluationLayer.SumPartialsKernel);
        confusion = accelerator.LoadStreamKernel<ArrayView<int>, ArrayView<byte>, ArrayView<int>, int, int, int, ArrayView<int>>(EvaluationLayer.ConfusionKernel);
        optimizerKernels = new OptimizerKernels(accelerator);
        CompileSeconds = watch.Elapsed.TotalSeconds;
        unused = accelerator.Allocate1D<float>(1);
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

    /// <summary>The number of partial sums SumPartials produces; the host adds them in order.</summary>
    public int PartialCount => IsCpu ? Accelerator.NumMultiprocessors : GpuPartialCount;

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
    /// DenseLayer.SharedMicroTile times the group's threads in each dimension.</summary>
    private static KernelConfig BlockConfig<TTile>(in GemmShape shape) where TTile : struct, IGemmTile
    {
        var tile = default(TTile);
        int blockRows = DenseLayer.SharedMicroTile * tile.ThreadsY, blockColumns = DenseLayer.SharedMicroTile * tile.ThreadsX;
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
                int tiles = (shape.M + DenseLayer.RegisterTileRows - 1) / DenseLayer.RegisterTileRows
                    * ((shape.N + DenseLayer.RegisterTileColumns - 1) / DenseLayer.RegisterTileColumns);
                return (gemm, Elementwise(tiles));
            case GemmVariant.SharedTiled2:
                return (gemm, BlockConfig<GemmTile2x2x4>(shape));
            default:
                // Fewer 64x64 blocks than multiprocessors: 32x32 blocks keep more of them busy.
                return ChooseGpuBlock(GemmBlock, shape, Accelerator.NumMultiprocessors) == GpuGemmBlock.Block32
                    ? (gemmSmallBlocks!, BlockConfig<GemmTile8x8x16>(shape))
                    : (gemm, BlockConfig<GemmTile16x16x16>(shape));
        }
    }

    /// <summary>C[M,N] = epilogue(op(A) * op(B)); see DenseLayer.cs for the modes.</summary>
    public void Gemm(GemmShape shape, DenseEpilogue epilogue, ArrayView<float> a, ArrayView<float> b,
        ArrayView<float> c, ArrayView<float> bias, ArrayView<float> aux)
    {
        if (shape.M <= 0 || shape.N <= 0 || shape.K <= 0)
            throw new ArgumentException($"empty GEMM {shape.M}x{shape.N}x{shape.K}");
        var (kernel, config) = GemmLaunch(shape);
        kernel(config, shape, epilogue, a, b, c, bias, aux);
    }

    public void BiasGradient(ArrayView<float> dz, int rows, int columns, ArrayView<float> db) =>
        biasGradient(Elementwise(columns), dz, rows, columns, db);

    public void Gather(ArrayView<byte> images, ArrayView<byte> labels, ArrayView<int> order,
        int first, int rows, int features, ArrayView<float> x, ArrayView<int> y) =>
        gather(Elementwise(rows * features), images, labels, order, first, rows, features, x, y);

    public void SoftmaxCrossEntropy(ArrayView<float> logits, ArrayView<int> labels, int rows, int classes,
        bool writeGradient, ArrayView<float> dLogits, int first, ArrayView<float> loss, ArrayView<int> prediction) =>
        softmaxCrossEntropy(Elementwise(rows), logits, labels, rows, classes, 1f / rows,
            writeGradient ? 1 : 0, dLogits, first, loss, prediction);

    public void Adam(ArrayView<float> parameters, ArrayView<float> gradients, ArrayView<float> firstMoment,
        ArrayView<float> secondMoment, int count, AdamStep step) =>
        adam(Elementwise(count), parameters, gradients, firstMoment, secondMoment, count, step);

    public void SumPartials(ArrayView<float> losses, ArrayView<int> predictions, ArrayView<byte> labels,
        ArrayView<int> order, int first, int count, ArrayView<double> lossPartials, ArrayView<int> correctPartials) =>
        sumPartials(Elementwise(PartialCount), losses, predictions, labels, order, first, count, PartialCount,
            lossPartials, correctPartials);

    public void Confusion(ArrayView<int> predictions, ArrayView<byte> labels, ArrayView<int> order,
        int first, int count, int classes, ArrayView<int> matrix) =>
        confusion(Elementwise(classes * classes), predictions, labels, order, first, count, classes, matrix);
}

/// <summary>Host-side description of one dropout mask (see kernels/DropoutLayer.cs).</summary>
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
