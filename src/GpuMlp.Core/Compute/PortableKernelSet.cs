using System.Reflection;
using GpuMlp.Kernels;
using ILGPU;
using ILGPU.Runtime;
using GemmKernel = System.Action<GpuMlp.Kernels.GemmShape, GpuMlp.Kernels.DenseEpilogue,
    ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>>;
using GemmLauncher = System.Action<ILGPU.KernelConfig, GpuMlp.Kernels.GemmShape, GpuMlp.Kernels.DenseEpilogue,
    ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>>;

namespace GpuMlp.Compute;

/// <summary>Grid-stride launch shape of the element-wise kernels: groups of GroupSize threads, at
/// most MaxGroups of them.</summary>
internal readonly record struct ElementwiseShape(int GroupSize, int MaxGroups)
{
    /// <summary>The launch for `count` independent work items.</summary>
    public KernelConfig For(int count)
    {
        int groups = (int)Math.Min(MaxGroups, Math.Max(1L, ((long)count + GroupSize - 1) / GroupSize));
        return new KernelConfig(groups, GroupSize);
    }
}

/// <summary>The portable kernel set (kernels/*.cs): plain ILGPU kernels that compile to PTX and OpenCL
/// C, each launched with its launch shape. Everything but the convolution/pooling kernels and the
/// shifted gather is compiled when the set is built; those two groups on first use or their Load
/// call. Launches go straight to the accelerator's stream (nothing is recorded or fused).</summary>
internal sealed class PortableKernelSet : IKernelSet
{
    private readonly Accelerator accelerator;
    private readonly ElementwiseShape elementwise;
    private readonly GemmVariant variant;
    private readonly GpuGemmBlock gemmBlock;
    private readonly ArrayView<float> unused;

    /// <param name="variant">RegisterTiled, SharedTiled16 or SharedTiled2 (Auto resolved by the caller).</param>
    /// <param name="unused">A placeholder for the views a launch does not read.</param>
    public PortableKernelSet(Accelerator accelerator, GemmVariant variant, GpuGemmBlock gemmBlock, ElementwiseShape elementwise,
        ArrayView<float> unused)
    {
        this.accelerator = accelerator;
        this.unused = unused;
        this.variant = variant;
        this.gemmBlock = gemmBlock;
        this.elementwise = elementwise;
        switch (variant)
        {
            case GemmVariant.RegisterTiled:
                gemm = LoadGemm(DenseKernels.DenseGemmRegisterTiledKernel);
                break;
            case GemmVariant.SharedTiled16:
                gemm = LoadGemm(DenseKernels.DenseGemmSharedTiledKernel<GemmTile16x16x16>);
                if (gemmBlock != GpuGemmBlock.Block64)
                    gemmSmallBlocks = LoadGemm(DenseKernels.DenseGemmSharedTiledKernel<GemmTile8x8x16>);
                break;
            case GemmVariant.SharedTiled2:
                gemm = LoadGemm(DenseKernels.DenseGemmSharedTiledKernel<GemmTile2x2x4>);
                break;
            case GemmVariant.Auto:
            case GemmVariant.CpuSimd:
            default:
                throw new ArgumentOutOfRangeException(nameof(variant), variant, "the portable set needs a resolved portable GEMM variant");
        }
        biasGradient = accelerator.LoadStreamKernel<ArrayView<float>, int, int, ArrayView<float>>(DenseKernels.DenseBiasGradientKernel);
        gather = accelerator.LoadStreamKernel<ArrayView<byte>, ArrayView<byte>, ArrayView<int>, int, int, int, ArrayView<float>, ArrayView<int>>(
            BatchGatherKernels.GatherBatchKernel);
        softmaxCrossEntropy = accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<int>, int, int, float, int, ArrayView<float>, int,
            ArrayView<float>, ArrayView<int>, float>(SoftmaxCrossEntropyKernels.SoftmaxCrossEntropyKernel);
        exponentialAverage = accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, int, float>(WeightAverageKernels.ExponentialAverageKernel);
        foreach (Type update in OptimizerKernels.UpdateTypes)
        {
            optimizerSteps[update] = (Delegate)LoadOptimizerStepMethod.MakeGenericMethod(update)
                .Invoke(this, BindingFlags.DoNotWrapExceptions, binder: null, parameters: null, culture: null)!;
        }
        sumPartials = accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<int>, ArrayView<byte>, ArrayView<int>, int, int, int,
            ArrayView<double>, ArrayView<int>>(EvaluationKernels.SumPartialsKernel);
        confusion = accelerator.LoadStreamKernel<ArrayView<int>, ArrayView<byte>, ArrayView<int>, int, int, int, ArrayView<int>>(
            EvaluationKernels.ConfusionKernel);
    }

    public KernelSetKind Kind => KernelSetKind.Portable;

    // Launches are not recorded here: nothing to fuse, count or run first.
    public int Workers => 0;

    public long Launches => 0;

    public bool FusesLaunches => false;

    public void BeginFusing()
    {
    }

    public void EndFusing()
    {
    }

    public void BeforeForeignLaunch()
    {
    }

    // ---- dense

    private readonly GemmLauncher gemm;
    // SharedTiled16 only: the same kernel with 32x32 blocks, for shapes whose 64x64 blocks cannot
    // fill the device (chosen per launch in GemmLaunch).
    private readonly GemmLauncher? gemmSmallBlocks;
    private readonly Action<KernelConfig, ArrayView<float>, int, int, ArrayView<float>> biasGradient;

    private GemmLauncher LoadGemm(GemmKernel kernel) => accelerator.LoadStreamKernel(kernel);

    /// <summary>One group per block of the shared-memory GEMM with tile TTile: the block is
    /// DenseKernels.SharedMicroTile times the group's threads in each dimension.</summary>
    internal static KernelConfig BlockConfig<TTile>(in GemmShape shape) where TTile : struct, IGemmTile
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
        switch (variant)
        {
            case GemmVariant.RegisterTiled:
                int tiles = (shape.M + DenseKernels.RegisterTileRows - 1) / DenseKernels.RegisterTileRows
                    * ((shape.N + DenseKernels.RegisterTileColumns - 1) / DenseKernels.RegisterTileColumns);
                return (gemm, elementwise.For(tiles));
            case GemmVariant.SharedTiled2:
                return (gemm, BlockConfig<GemmTile2x2x4>(shape));
            case GemmVariant.SharedTiled16:
                // Fewer 64x64 blocks than multiprocessors: 32x32 blocks keep more of them busy.
                return DeviceKernels.ChooseGpuBlock(gemmBlock, shape, accelerator.NumMultiprocessors) == GpuGemmBlock.Block32
                    ? (gemmSmallBlocks!, BlockConfig<GemmTile8x8x16>(shape))
                    : (gemm, BlockConfig<GemmTile16x16x16>(shape));
            case GemmVariant.Auto:
            case GemmVariant.CpuSimd:
            default:
                throw new InvalidOperationException($"GEMM variant {variant} is not a portable one");
        }
    }

    public void Gemm(in GemmShape shape, in DenseEpilogue epilogue, ArrayView<float> a, ArrayView<float> b,
        ArrayView<float> c, ArrayView<float> bias, ArrayView<float> aux)
    {
        var (kernel, config) = GemmLaunch(shape);
        kernel(config, shape, epilogue, a, b, c, bias, aux);
    }

    /// <summary>Two launches here: the GEMM, then the bias gradient over B.</summary>
    public void WeightGradient(in GemmShape shape, ArrayView<float> a, ArrayView<float> b, ArrayView<float> dW, ArrayView<float> db)
    {
        Gemm(shape, DenseEpilogue.Of(EpilogueMode.Store), a, b, dW, unused, unused);
        BiasGradient(b, shape.K, shape.N, db);
    }

    public void BiasGradient(ArrayView<float> dz, int rows, int columns, ArrayView<float> db) =>
        biasGradient(elementwise.For(columns), dz, rows, columns, db);

    // ---- batch gathers

    private readonly Action<KernelConfig, ArrayView<byte>, ArrayView<byte>, ArrayView<int>, int, int, int, ArrayView<float>, ArrayView<int>> gather;
    private Action<KernelConfig, ArrayView<byte>, ArrayView<byte>, ArrayView<int>, int, int, int, int, int, uint, uint,
        ArrayView<float>, ArrayView<int>>? gatherShifted;

    public void Gather(ArrayView<byte> images, ArrayView<byte> labels, ArrayView<int> order,
        int first, int rows, int features, ArrayView<float> x, ArrayView<int> y) =>
        gather(elementwise.For(rows * features), images, labels, order, first, rows, features, x, y);

    public void LoadShiftedGather() =>
        gatherShifted ??= accelerator.LoadStreamKernel<ArrayView<byte>, ArrayView<byte>, ArrayView<int>, int, int, int, int, int, uint, uint,
            ArrayView<float>, ArrayView<int>>(BatchGatherKernels.GatherShiftedBatchKernel);

    public void GatherShifted(ArrayView<byte> images, ArrayView<byte> labels, ArrayView<int> order, int first, int rows,
        int height, int width, int maxShift, uint seed, uint step, ArrayView<float> x, ArrayView<int> y)
    {
        LoadShiftedGather();
        gatherShifted!(elementwise.For(rows * height * width), images, labels, order, first, rows, height, width, maxShift, seed, step, x, y);
    }

    // ---- distorting gather

    private Action<KernelConfig, DistortionShape, int, ArrayView<float>>? elasticFieldRows;
    private Action<KernelConfig, ArrayView<byte>, ArrayView<byte>, ArrayView<int>, int, int, DistortionShape,
        ArrayView<float>, ArrayView<float>, ArrayView<int>>? distort;

    public void LoadDistortion()
    {
        elasticFieldRows ??= accelerator.LoadStreamKernel<DistortionShape, int, ArrayView<float>>(DistortionKernels.ElasticFieldRowsKernel);
        distort ??= accelerator.LoadStreamKernel<ArrayView<byte>, ArrayView<byte>, ArrayView<int>, int, int, DistortionShape,
            ArrayView<float>, ArrayView<float>, ArrayView<int>>(DistortionKernels.DistortBatchKernel);
    }

    public void Distort(ArrayView<byte> images, ArrayView<byte> labels, ArrayView<int> order, int first, int rows,
        in DistortionShape shape, ArrayView<float> field, ArrayView<float> x, ArrayView<int> y)
    {
        LoadDistortion();
        if (shape.ElasticAlpha > 0f)
            elasticFieldRows!(elementwise.For((int)(rows * shape.FieldPerRow)), shape, rows, field);
        distort!(elementwise.For(rows * shape.Height * shape.Width), images, labels, order, first, rows, shape, field, x, y);
    }

    // ---- loss

    private readonly Action<KernelConfig, ArrayView<float>, ArrayView<int>, int, int, float, int, ArrayView<float>, int,
        ArrayView<float>, ArrayView<int>, float> softmaxCrossEntropy;

    public void SoftmaxCrossEntropy(ArrayView<float> logits, ArrayView<int> labels, int rows, int classes, float gradientScale,
        bool writeGradient, ArrayView<float> dLogits, int first, ArrayView<float> loss, ArrayView<int> prediction, float labelSmoothing) =>
        softmaxCrossEntropy(elementwise.For(rows), logits, labels, rows, classes, gradientScale, writeGradient ? 1 : 0, dLogits, first, loss, prediction,
            labelSmoothing);

    // ---- the weights' moving average

    private readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, int, float> exponentialAverage;

    public void ExponentialAverage(ArrayView<float> average, ArrayView<float> weights, int count, float decay) =>
        exponentialAverage(elementwise.For(count), average, weights, count, decay);

    // ---- optimisers: one element-wise launch over the flat parameter buffer, OptimizerStepKernel
    // compiled for every update type of the kernels assembly when the set is built

    private readonly Dictionary<Type, Delegate> optimizerSteps = [];

    private static readonly MethodInfo LoadOptimizerStepMethod =
        typeof(PortableKernelSet).GetMethod(nameof(LoadOptimizerStep), BindingFlags.NonPublic | BindingFlags.Instance)!;

    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, TUpdate>
        LoadOptimizerStep<TUpdate>()
        where TUpdate : unmanaged, IOptimizerUpdate =>
        accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, TUpdate>(
            OptimizerKernels.OptimizerStepKernel);

    public void OptimizerStep<TUpdate>(in OptimizerOperands operands, int count, TUpdate update)
        where TUpdate : unmanaged, IOptimizerUpdate
    {
        if (!optimizerSteps.TryGetValue(typeof(TUpdate), out Delegate? loaded))
            throw new InvalidOperationException($"{typeof(TUpdate).Name} is not an optimizer update of the kernels assembly (none other is compiled)");
        var step = (Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, TUpdate>)loaded;
        step(elementwise.For(count), operands.Parameters, operands.Gradients, operands.State1, operands.State2, operands.State3, count, update);
    }

    // ---- evaluation

    private readonly Action<KernelConfig, ArrayView<float>, ArrayView<int>, ArrayView<byte>, ArrayView<int>, int, int, int,
        ArrayView<double>, ArrayView<int>> sumPartials;
    private readonly Action<KernelConfig, ArrayView<int>, ArrayView<byte>, ArrayView<int>, int, int, int, ArrayView<int>> confusion;

    public void SumPartials(ArrayView<float> losses, ArrayView<int> predictions, ArrayView<byte> labels, ArrayView<int> order,
        int first, int count, int partialCount, ArrayView<double> lossPartials, ArrayView<int> correctPartials) =>
        sumPartials(elementwise.For(partialCount), losses, predictions, labels, order, first, count, partialCount, lossPartials, correctPartials);

    public void Confusion(ArrayView<int> predictions, ArrayView<byte> labels, ArrayView<int> order,
        int first, int count, int classes, ArrayView<int> matrix) =>
        confusion(elementwise.For(classes * classes), predictions, labels, order, first, count, classes, matrix);

    // ---- batch normalisation, compiled on first use (a network without it never pays for it)

    private BatchNormLaunchers? batchNorm;

    private BatchNormLaunchers BatchNorm => batchNorm ??= new BatchNormLaunchers(accelerator);

    public void LoadBatchNorm() => _ = BatchNorm;

    public void BatchNormStatistics(in BatchNormShape shape, ArrayView<float> x, ArrayView<float> mean, ArrayView<float> variance,
        ArrayView<float> runningMean, ArrayView<float> runningVariance, ArrayView<float> numBatchesTracked) =>
        BatchNorm.Statistics(elementwise.For(shape.Channels), shape, x, mean, variance, runningMean, runningVariance, numBatchesTracked);

    public void BatchNormForward(in BatchNormShape shape, bool relu, ArrayView<float> x, ArrayView<float> mean, ArrayView<float> variance,
        ArrayView<float> weight, ArrayView<float> bias, ArrayView<float> y) =>
        BatchNorm.Forward(elementwise.For(shape.Length), shape, relu ? 1 : 0, x, mean, variance, weight, bias, y);

    public void BatchNormParameterGradients(in BatchNormShape shape, bool relu, ArrayView<float> dy, ArrayView<float> y, ArrayView<float> x,
        ArrayView<float> mean, ArrayView<float> variance, ArrayView<float> dWeight, ArrayView<float> dBias) =>
        BatchNorm.ParameterGradients(elementwise.For(shape.Channels), shape, relu ? 1 : 0, dy, y, x, mean, variance, dWeight, dBias);

    public void BatchNormInputGradient(in BatchNormShape shape, bool relu, bool maskInput, float keepScale, in BatchNormOperands operands) =>
        BatchNorm.InputGradient(elementwise.For(shape.Length), shape, relu ? 1 : 0, maskInput ? 1 : 0, keepScale, operands.Dy, operands.Y,
            operands.X, operands.Mean, operands.Variance, operands.Weight, operands.DWeight, operands.DBias, operands.Dx);

    /// <summary>The batch-normalisation kernels of one accelerator.</summary>
    private sealed class BatchNormLaunchers(Accelerator accelerator)
    {
        public readonly Action<KernelConfig, BatchNormShape, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>> Statistics =
            accelerator.LoadStreamKernel<BatchNormShape, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
                ArrayView<float>, ArrayView<float>>(BatchNormKernels.BatchNormStatisticsKernel);

        public readonly Action<KernelConfig, BatchNormShape, int, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>> Forward =
            accelerator.LoadStreamKernel<BatchNormShape, int, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
                ArrayView<float>, ArrayView<float>>(BatchNormKernels.BatchNormForwardKernel);

        public readonly Action<KernelConfig, BatchNormShape, int, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>> ParameterGradients =
            accelerator.LoadStreamKernel<BatchNormShape, int, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
                ArrayView<float>, ArrayView<float>, ArrayView<float>>(BatchNormKernels.BatchNormParameterGradientsKernel);

        public readonly Action<KernelConfig, BatchNormShape, int, int, float, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>> InputGradient =
            accelerator.LoadStreamKernel<BatchNormShape, int, int, float, ArrayView<float>, ArrayView<float>, ArrayView<float>,
                ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>>(
                BatchNormKernels.BatchNormInputGradientKernel);
    }

    // ---- convolution and pooling, compiled on first use (a network without them never pays for them)

    private ConvolutionLaunchers? convolution;

    private ConvolutionLaunchers Convolution => convolution ??= new ConvolutionLaunchers(accelerator);

    public void LoadConvolution() => _ = Convolution;

    public void ConvIm2Col(in ConvShape shape, ArrayView<float> x, ArrayView<float> cols) =>
        Convolution.Im2Col(elementwise.For(shape.ColumnsLength), shape, x, cols);

    /// <summary>Two launches: im2col into cols, then the GEMM.</summary>
    public void ConvForwardRows(in ConvShape shape, bool relu, ArrayView<float> x, ArrayView<float> weights, ArrayView<float> bias,
        ArrayView<float> cols, ArrayView<float> nhwc)
    {
        ConvIm2Col(shape, x, cols);
        Gemm(GemmShape.TransposedB(shape.Rows, shape.OutChannels, shape.Patch),
            DenseEpilogue.Of(relu ? EpilogueMode.BiasRelu : EpilogueMode.Bias), cols, weights, nhwc, bias, unused);
    }

    /// <summary>Three launches: im2col, the GEMM, the pool reading its rows.</summary>
    public void ConvPoolForward(in ConvShape shape, bool relu, ArrayView<float> x, ArrayView<float> weights, ArrayView<float> bias,
        ArrayView<float> cols, ArrayView<float> nhwc, in PoolShape pool, ArrayView<float> y, ArrayView<int> argmax)
    {
        ConvForwardRows(shape, relu, x, weights, bias, cols, nhwc);
        MaxPool2ForwardNhwc(pool, nhwc, y, argmax);
    }

    public void ConvNhwcToNchw(in ConvShape shape, ArrayView<float> nhwc, ArrayView<float> y) =>
        Convolution.NhwcToNchw(elementwise.For(shape.OutputLength), shape, nhwc, y);

    public void ConvNchwToNhwc(in ConvShape shape, ArrayView<float> dy, ArrayView<float> y, bool relu, ArrayView<float> dz) =>
        Convolution.NchwToNhwc(elementwise.For(shape.OutputLength), shape, dy, y, relu ? 1 : 0, dz);

    public void ConvBiasPartials(in ConvShape shape, ArrayView<float> dz, ArrayView<float> partials) =>
        Convolution.BiasPartials(elementwise.For(shape.Batch * shape.OutChannels), shape, dz, partials);

    public void ConvCol2Im(in ConvShape shape, ArrayView<float> dCols, ArrayView<float> dx) =>
        Convolution.Col2Im(elementwise.For(shape.InputLength), shape, dCols, dx);

    public void MaxPool2Forward(in PoolShape shape, ArrayView<float> x, ArrayView<float> y, ArrayView<int> argmax) =>
        Convolution.PoolForward(elementwise.For(shape.OutputLength), shape, x, y, argmax);

    public void MaxPool2Backward(in PoolShape shape, ArrayView<float> dy, ArrayView<int> argmax, ArrayView<float> dx) =>
        Convolution.PoolBackward(elementwise.For(shape.InputLength), shape, dy, argmax, dx);

    /// <summary>One GEMM on the forward's cols straight into dWeights; x is not read.</summary>
    public void ConvWeightGradient(in ConvShape shape, ArrayView<float> dz, ArrayView<float> x, ArrayView<float> cols,
        ArrayView<float> dWeights) =>
        Gemm(GemmShape.TransposedA(shape.OutChannels, shape.Patch, shape.Rows), DenseEpilogue.Of(EpilogueMode.Store), dz, cols, dWeights,
            unused, unused);

    /// <summary>Two launches: the GEMM into dCols, then col2im.</summary>
    public void ConvInputGradient(in ConvShape shape, ArrayView<float> dz, ArrayView<float> weights, ArrayView<float> dCols,
        ArrayView<float> dx)
    {
        Gemm(GemmShape.Plain(shape.Rows, shape.Patch, shape.OutChannels), DenseEpilogue.Of(EpilogueMode.Store), dz, weights, dCols,
            unused, unused);
        ConvCol2Im(shape, dCols, dx);
    }

    public void MaxPool2ForwardNhwc(in PoolShape shape, ArrayView<float> x, ArrayView<float> y, ArrayView<int> argmax) =>
        Convolution.PoolForwardNhwc(elementwise.For(shape.OutputLength), shape, x, y, argmax);

    /// <summary>Two launches: the NHWC backward, then the bias partials of dx read as the output rows
    /// of a 1x1 convolution with Channels outputs on the H x W map.</summary>
    public void MaxPool2BackwardNhwc(in PoolShape shape, bool relu, ArrayView<float> dy, ArrayView<int> argmax, ArrayView<float> y,
        ArrayView<float> dx, ArrayView<float> partials)
    {
        Convolution.PoolBackwardNhwc(elementwise.For(shape.InputLength), shape, relu ? 1 : 0, dy, argmax, y, dx);
        ConvBiasPartials(new ConvShape(shape.Batch, 1, shape.Height, shape.Width, shape.Channels, 1, 1, 0), dx, partials);
    }

    /// <summary>The convolution and pooling kernels of one accelerator.</summary>
    private sealed class ConvolutionLaunchers(Accelerator accelerator)
    {
        public readonly Action<KernelConfig, ConvShape, ArrayView<float>, ArrayView<float>> Im2Col =
            accelerator.LoadStreamKernel<ConvShape, ArrayView<float>, ArrayView<float>>(ConvolutionKernels.ConvIm2ColKernel);

        public readonly Action<KernelConfig, ConvShape, ArrayView<float>, ArrayView<float>> NhwcToNchw =
            accelerator.LoadStreamKernel<ConvShape, ArrayView<float>, ArrayView<float>>(ConvolutionKernels.ConvNhwcToNchwKernel);

        public readonly Action<KernelConfig, ConvShape, ArrayView<float>, ArrayView<float>, int, ArrayView<float>> NchwToNhwc =
            accelerator.LoadStreamKernel<ConvShape, ArrayView<float>, ArrayView<float>, int, ArrayView<float>>(ConvolutionKernels.ConvNchwToNhwcKernel);

        public readonly Action<KernelConfig, ConvShape, ArrayView<float>, ArrayView<float>> BiasPartials =
            accelerator.LoadStreamKernel<ConvShape, ArrayView<float>, ArrayView<float>>(ConvolutionKernels.ConvBiasPartialsKernel);

        public readonly Action<KernelConfig, ConvShape, ArrayView<float>, ArrayView<float>> Col2Im =
            accelerator.LoadStreamKernel<ConvShape, ArrayView<float>, ArrayView<float>>(ConvolutionKernels.ConvCol2ImKernel);

        public readonly Action<KernelConfig, PoolShape, ArrayView<float>, ArrayView<float>, ArrayView<int>> PoolForward =
            accelerator.LoadStreamKernel<PoolShape, ArrayView<float>, ArrayView<float>, ArrayView<int>>(PoolingKernels.MaxPool2ForwardKernel);

        public readonly Action<KernelConfig, PoolShape, ArrayView<float>, ArrayView<int>, ArrayView<float>> PoolBackward =
            accelerator.LoadStreamKernel<PoolShape, ArrayView<float>, ArrayView<int>, ArrayView<float>>(PoolingKernels.MaxPool2BackwardKernel);

        public readonly Action<KernelConfig, PoolShape, ArrayView<float>, ArrayView<float>, ArrayView<int>> PoolForwardNhwc =
            accelerator.LoadStreamKernel<PoolShape, ArrayView<float>, ArrayView<float>, ArrayView<int>>(PoolingKernels.MaxPool2ForwardNhwcKernel);

        public readonly Action<KernelConfig, PoolShape, int, ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>> PoolBackwardNhwc =
            accelerator.LoadStreamKernel<PoolShape, int, ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>>(
                PoolingKernels.MaxPool2BackwardNhwcKernel);
    }
}
