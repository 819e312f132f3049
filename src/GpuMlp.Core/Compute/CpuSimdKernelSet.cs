using GpuMlp.Kernels;
using GpuMlp.Kernels.Cpu;
using ILGPU;
using ILGPU.Runtime;

namespace GpuMlp.Compute;

/// <summary>The CPU accelerator's SIMD kernel set (kernels/Cpu): every kernel of a training step with a
/// Vector512, Vector256 or scalar inner loop in an [External] helper. These kernels are persistent:
/// one launch index per worker thread (KernelConfig(groups, group size) = the accelerator's worker
/// threads), each worker owning a fixed share of the outputs, so a launch costs one wake-up of the
/// workers whatever the problem size, and results never depend on scheduling. Each launch checks its
/// operands' lengths against its shape on the host (CpuOperandLengths: the kernels get raw addresses
/// and check no index), then, inside a fused scope, records a CpuCommand; the recorded commands run
/// as one CpuProgram launch (group barriers between them) when the outermost scope ends. Otherwise
/// it launches its kernel now.</summary>
internal sealed class CpuSimdKernelSet : IKernelSet
{
    private readonly CpuSimdWidth width;
    private readonly KernelConfig config;
    private readonly Action<KernelConfig, CpuSimdWidth, ArrayView<CpuCommand>, int> program;
    private readonly Accelerator accelerator;
    // A placeholder for the views a launch does not read.
    private readonly ArrayView<float> unused;
    // The recorded commands, pending[0 .. pendingCount); copied to the device pinned (HostCopy).
    private CpuCommand[] pending = new CpuCommand[32];
    private int pendingCount;
    private MemoryBuffer1D<CpuCommand, Stride1D.Dense>? programBuffer;
    private int fusingDepth;

    public CpuSimdKernelSet(Accelerator accelerator, CpuSimdWidth width, int workers, ArrayView<float> unused)
    {
        this.accelerator = accelerator;
        this.unused = unused;
        this.width = width;
        Workers = workers;
        config = new KernelConfig(accelerator.NumMultiprocessors, workers / accelerator.NumMultiprocessors);
        // A group barrier orders the recorded commands only when every worker is in one group.
        FusesLaunches = accelerator.NumMultiprocessors == 1;
        program = accelerator.LoadStreamKernel<CpuSimdWidth, ArrayView<CpuCommand>, int>(CpuProgram.ProgramSimdKernel);
        gemm = accelerator.LoadStreamKernel<GemmShape, DenseEpilogue, CpuSimdWidth, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, int, ArrayView<float>>(CpuDenseKernels.DenseGemmSimdKernel);
        biasGradient = accelerator.LoadStreamKernel<CpuSimdWidth, ArrayView<float>, int, int, ArrayView<float>>(
            CpuDenseKernels.DenseBiasGradientSimdKernel);
        gather = accelerator.LoadStreamKernel<CpuSimdWidth, ArrayView<byte>, ArrayView<byte>, ArrayView<int>, int, int, int,
            ArrayView<float>, ArrayView<int>>(CpuBatchGatherKernels.GatherBatchSimdKernel);
        softmaxCrossEntropy = accelerator.LoadStreamKernel<CpuSimdWidth, ArrayView<float>, ArrayView<int>, int, int, float, int,
            ArrayView<float>, int, ArrayView<float>, ArrayView<int>, float>(CpuSoftmaxCrossEntropyKernels.SoftmaxCrossEntropySimdKernel);
        optimizerStep = accelerator.LoadStreamKernel<CpuSimdWidth, OptimizerCommand>(CpuOptimizerKernels.OptimizerStepSimdKernel);
        exponentialAverage = accelerator.LoadStreamKernel<CpuSimdWidth, ArrayView<float>, ArrayView<float>, int, float>(
            CpuWeightAverageKernels.ExponentialAverageSimdKernel);
        sumPartials = accelerator.LoadStreamKernel<CpuSimdWidth, ArrayView<float>, ArrayView<int>, ArrayView<byte>, ArrayView<int>,
            int, int, int, ArrayView<double>, ArrayView<int>>(CpuEvaluationKernels.SumPartialsSimdKernel);
        confusion = accelerator.LoadStreamKernel<ArrayView<int>, ArrayView<byte>, ArrayView<int>, int, int, int, ArrayView<int>>(
            CpuEvaluationKernels.ConfusionSimdKernel);
    }

    public KernelSetKind Kind => KernelSetKind.CpuSimd;

    public int Workers { get; }

    public bool FusesLaunches { get; }

    public long Launches { get; private set; }

    private bool Recording => fusingDepth > 0 && FusesLaunches;

    /// <summary>The commands recorded in the open fused scope and not yet run (for the tests).</summary>
    internal ReadOnlySpan<CpuCommand> Recorded => pending.AsSpan(0, pendingCount);

    public void BeforeForeignLaunch()
    {
        RunPending();
        Launches++;
    }

    public void BeginFusing() => fusingDepth++;

    public void EndFusing()
    {
        if (fusingDepth > 0 && --fusingDepth == 0)
            RunPending();
    }

    /// <summary>Runs the recorded commands as one program launch.</summary>
    private void RunPending()
    {
        if (pendingCount == 0)
            return;
        // One zeroed slot after the commands: the workers' barrier state (CpuProgram.cs).
        if (pendingCount == pending.Length)
            Array.Resize(ref pending, 2 * pending.Length);
        pending[pendingCount] = default;
        if (programBuffer is null || programBuffer.Length < pendingCount + 1)
        {
            programBuffer?.Dispose();
            programBuffer = accelerator.Allocate1D<CpuCommand>(Math.Max(32, 2 * (pendingCount + 1)));
        }
        HostCopy.ToDevice(programBuffer.View, pending, pendingCount + 1);
        program(new KernelConfig(1, Workers), width, programBuffer.View, pendingCount);
        pendingCount = 0;
        Launches++;
    }

    private static long Address<T>(ArrayView<T> view)
        where T : unmanaged => view.LoadEffectiveAddressAsPtr().ToInt64();

    private readonly Action<KernelConfig, GemmShape, DenseEpilogue, CpuSimdWidth, ArrayView<float>, ArrayView<float>, ArrayView<float>,
        ArrayView<float>, ArrayView<float>, int, ArrayView<float>> gemm;

    public void Gemm(in GemmShape shape, in DenseEpilogue epilogue, ArrayView<float> a, ArrayView<float> b,
        ArrayView<float> c, ArrayView<float> bias, ArrayView<float> aux) =>
        Gemm(shape, epilogue, a, b, c, bias, aux, unused, sumBColumns: false);

    /// <summary>One launch: the GEMM's k loop also sums B's columns into db.</summary>
    public void WeightGradient(in GemmShape shape, ArrayView<float> a, ArrayView<float> b, ArrayView<float> dW, ArrayView<float> db) =>
        Gemm(shape, DenseEpilogue.Of(EpilogueMode.Store), a, b, dW, unused, unused, db, sumBColumns: true);

    /// <summary>The GEMM kernel's own launch: with sumBColumns, bColumnSums [N] = the column sums of B.</summary>
    public void Gemm(in GemmShape shape, in DenseEpilogue epilogue, ArrayView<float> a, ArrayView<float> b, ArrayView<float> c,
        ArrayView<float> bias, ArrayView<float> aux, ArrayView<float> bColumnSums, bool sumBColumns)
    {
        CpuOperandLengths.Gemm(shape, epilogue, a, b, c, bias, aux, bColumnSums, sumBColumns);
        if (TryRecord(CpuCommand.Of(new GemmCommand
        {
            Shape = shape,
            Epilogue = epilogue,
            A = Address(a),
            B = Address(b),
            C = Address(c),
            Bias = Address(bias),
            Aux = Address(aux),
            ColumnSums = Address(bColumnSums),
            SumBColumns = sumBColumns ? 1 : 0,
        })))
            return;
        gemm(config, shape, epilogue, width, a, b, c, bias, aux, sumBColumns ? 1 : 0, bColumnSums);
        Launches++;
    }

    private readonly Action<KernelConfig, CpuSimdWidth, ArrayView<float>, int, int, ArrayView<float>> biasGradient;

    public void BiasGradient(ArrayView<float> dz, int rows, int columns, ArrayView<float> db)
    {
        CpuOperandLengths.BiasGradient(dz, rows, columns, db);
        if (TryRecord(CpuCommand.Of(new BiasGradientCommand { Dz = Address(dz), Db = Address(db), Rows = rows, Columns = columns })))
            return;
        biasGradient(config, width, dz, rows, columns, db);
        Launches++;
    }

    private readonly Action<KernelConfig, CpuSimdWidth, ArrayView<byte>, ArrayView<byte>, ArrayView<int>, int, int, int,
        ArrayView<float>, ArrayView<int>> gather;

    public void Gather(ArrayView<byte> images, ArrayView<byte> labels, ArrayView<int> order,
        int first, int rows, int features, ArrayView<float> x, ArrayView<int> y)
    {
        CpuOperandLengths.Gather("gather", images, labels, order, first, rows, features, x, y);
        if (TryRecord(CpuCommand.Of(new GatherCommand
        {
            Batch = BatchOperandsOf(images, labels, order, x, y),
            First = first,
            Rows = rows,
            Features = features,
        })))
            return;
        gather(config, width, images, labels, order, first, rows, features, x, y);
        Launches++;
    }

    private readonly Action<KernelConfig, CpuSimdWidth, ArrayView<float>, ArrayView<int>, int, int, float, int, ArrayView<float>,
        int, ArrayView<float>, ArrayView<int>, float> softmaxCrossEntropy;

    public void SoftmaxCrossEntropy(ArrayView<float> logits, ArrayView<int> labels, int rows, int classes, float gradientScale,
        bool writeGradient, ArrayView<float> dLogits, int first, ArrayView<float> loss, ArrayView<int> prediction, float labelSmoothing)
    {
        CpuOperandLengths.SoftmaxCrossEntropy(logits, labels, rows, classes, writeGradient, dLogits, first, loss, prediction);
        if (TryRecord(CpuCommand.Of(new SoftmaxCrossEntropyCommand
        {
            Logits = Address(logits),
            Labels = Address(labels),
            DLogits = Address(dLogits),
            Loss = Address(loss),
            Prediction = Address(prediction),
            Rows = rows,
            Classes = classes,
            First = first,
            GradientScale = gradientScale,
            WriteGradient = writeGradient ? 1 : 0,
            LabelSmoothing = labelSmoothing,
        })))
            return;
        softmaxCrossEntropy(config, width, logits, labels, rows, classes, gradientScale, writeGradient ? 1 : 0, dLogits, first, loss, prediction,
            labelSmoothing);
        Launches++;
    }

    private readonly Action<KernelConfig, CpuSimdWidth, ArrayView<float>, ArrayView<float>, int, float> exponentialAverage;

    public void ExponentialAverage(ArrayView<float> average, ArrayView<float> weights, int count, float decay)
    {
        CpuOperandLengths.ExponentialAverage(average, weights, count);
        if (TryRecord(CpuCommand.Of(new ExponentialAverageCommand { Average = Address(average), Weights = Address(weights), Count = count, Decay = decay })))
            return;
        exponentialAverage(config, width, average, weights, count, decay);
        Launches++;
    }

    private readonly Action<KernelConfig, CpuSimdWidth, OptimizerCommand> optimizerStep;

    public void OptimizerStep<TUpdate>(in OptimizerOperands operands, int count, TUpdate update)
        where TUpdate : unmanaged, IOptimizerUpdate
    {
        CpuOperandLengths.Optimizer(update, count, operands);
        var command = CpuOptimizerUpdates.Command(update, Address(operands.Parameters), Address(operands.Gradients),
            Address(operands.State1), Address(operands.State2), Address(operands.State3), count);
        if (TryRecord(CpuCommand.Of(command)))
            return;
        optimizerStep(config, width, command);
        Launches++;
    }

    private CpuConvolutionLaunchers? convolution;

    /// <summary>The convolution and pooling kernels' standalone launches, compiled on first use
    /// (a network without convolutions never loads them; inside a fused scope they are recorded
    /// and run by the program kernel, which needs no more compiling).</summary>
    private CpuConvolutionLaunchers Convolution => convolution ??= new CpuConvolutionLaunchers(accelerator);

    public void LoadConvolution() => _ = Convolution;

    /// <summary>Records the command inside a fused scope (true), or leaves it to the caller to
    /// launch now (false).</summary>
    private bool TryRecord(in CpuCommand command)
    {
        if (!Recording)
            return false;
        if (pendingCount == pending.Length)
            Array.Resize(ref pending, 2 * pending.Length);
        pending[pendingCount++] = command;
        return true;
    }

    public void ConvIm2Col(in ConvShape shape, ArrayView<float> x, ArrayView<float> cols)
    {
        CpuOperandLengths.Conv("im2col", x, shape.InputLength, "x", cols, shape.ColumnsLength, "cols");
        ConvLayoutChange(CpuOperation.ConvIm2Col, shape, x, cols, Convolution.Im2Col);
    }

    /// <summary>One launch, cols not written: per image, the GEMM's tiles read x through offset tables
    /// (CpuDenseSimd.ConvForwardRows); the two launches of the portable set when Patch is longer than
    /// the fused kernel packs.</summary>
    public void ConvForwardRows(in ConvShape shape, bool relu, ArrayView<float> x, ArrayView<float> weights, ArrayView<float> bias,
        ArrayView<float> cols, ArrayView<float> nhwc) =>
        ConvForwardFused(shape, relu, x, weights, bias, cols, nhwc, pooled: false, default, unused, unused.Cast<int>());

    /// <summary>One launch, neither cols nor nhwc written: each image's rows stay in a worker's buffer,
    /// which the pool reads (CpuDenseSimd.ConvForwardRows with a pool).</summary>
    public void ConvPoolForward(in ConvShape shape, bool relu, ArrayView<float> x, ArrayView<float> weights, ArrayView<float> bias,
        ArrayView<float> cols, ArrayView<float> nhwc, in PoolShape pool, ArrayView<float> y, ArrayView<int> argmax)
    {
        CpuOperandLengths.Pool(pool, "max-pool forward (fused)", nhwc, pool.InputLength, "nhwc", argmax, y, pool.OutputLength, "y");
        ConvForwardFused(shape, relu, x, weights, bias, cols, nhwc, pooled: true, pool, y, argmax);
    }

    private void ConvForwardFused(in ConvShape shape, bool relu, ArrayView<float> x, ArrayView<float> weights, ArrayView<float> bias,
        ArrayView<float> cols, ArrayView<float> nhwc, bool pooled, in PoolShape pool, ArrayView<float> y, ArrayView<int> argmax)
    {
        if (shape.Patch > CpuConvolutionKernels.MaxFusedPatch)
        {
            ConvIm2Col(shape, x, cols);
            Gemm(GemmShape.TransposedB(shape.Rows, shape.OutChannels, shape.Patch),
                DenseEpilogue.Of(relu ? EpilogueMode.BiasRelu : EpilogueMode.Bias), cols, weights, nhwc, bias, unused);
            if (pooled)
                MaxPool2ForwardNhwc(pool, nhwc, y, argmax);
            return;
        }
        const string launch = "convolution forward";
        CpuOperandLengths.Require(x, shape.InputLength, "x", launch);
        CpuOperandLengths.Require(weights, shape.WeightLength, "weights", launch);
        CpuOperandLengths.Require(bias, shape.OutChannels, "bias", launch);
        CpuOperandLengths.Require(nhwc, shape.OutputLength, "nhwc", launch);
        if (TryRecord(CpuCommand.Of(new ConvForwardRowsCommand
        {
            Shape = shape,
            Relu = relu ? 1 : 0,
            X = Address(x),
            Weights = Address(weights),
            Bias = Address(bias),
            Nhwc = Address(nhwc),
            Pooled = pooled ? 1 : 0,
            Pool = pool,
            Y = pooled ? Address(y) : 0,
            Argmax = pooled ? Address(argmax) : 0,
        })))
        {
            return;
        }
        Convolution.ForwardRows(config, shape, relu ? 1 : 0, width, x, weights, bias, nhwc, pooled ? 1 : 0, pool, y, argmax);
        Launches++;
    }

    public void ConvNhwcToNchw(in ConvShape shape, ArrayView<float> nhwc, ArrayView<float> y)
    {
        CpuOperandLengths.Conv("NHWC to NCHW", nhwc, shape.OutputLength, "nhwc", y, shape.OutputLength, "y");
        ConvLayoutChange(CpuOperation.ConvNhwcToNchw, shape, nhwc, y, Convolution.NhwcToNchw);
    }

    /// <summary>A convolution kernel that reads one view (source) and overwrites another (target):
    /// recorded, or launched now with `kernel`.</summary>
    private void ConvLayoutChange(CpuOperation operation, in ConvShape shape, ArrayView<float> source, ArrayView<float> target,
        Action<KernelConfig, ConvShape, ArrayView<float>, ArrayView<float>> kernel)
    {
        if (TryRecord(CpuCommand.Of(operation, new ConvLayoutCommand { Shape = shape, Source = Address(source), Target = Address(target) })))
            return;
        kernel(config, shape, source, target);
        Launches++;
    }

    public void ConvNchwToNhwc(in ConvShape shape, ArrayView<float> dy, ArrayView<float> y, bool relu, ArrayView<float> dz)
    {
        CpuOperandLengths.Conv("NCHW to NHWC", dy, shape.OutputLength, "dy", dz, shape.OutputLength, "dz");
        if (relu)
            CpuOperandLengths.Require(y, shape.OutputLength, "y", "NCHW to NHWC with the ReLU mask");
        if (TryRecord(CpuCommand.Of(new ConvNchwToNhwcCommand
        {
            Shape = shape,
            Dy = Address(dy),
            Y = Address(y),
            Dz = Address(dz),
            ReluMask = relu ? 1 : 0,
        })))
            return;
        Convolution.NchwToNhwc(config, shape, dy, y, relu ? 1 : 0, dz);
        Launches++;
    }

    public void ConvBiasPartials(in ConvShape shape, ArrayView<float> dz, ArrayView<float> partials)
    {
        CpuOperandLengths.Conv("bias partials", dz, shape.OutputLength, "dz", partials, (long)shape.Batch * shape.OutChannels, "partials");
        if (TryRecord(CpuCommand.Of(CpuOperation.ConvBiasPartials, new ConvLayoutCommand { Shape = shape, Source = Address(dz), Target = Address(partials) })))
            return;
        Convolution.BiasPartials(config, shape, width, dz, partials);
        Launches++;
    }

    public void ConvCol2Im(in ConvShape shape, ArrayView<float> dCols, ArrayView<float> dx)
    {
        CpuOperandLengths.Conv("col2im", dCols, shape.ColumnsLength, "dCols", dx, shape.InputLength, "dx");
        ConvLayoutChange(CpuOperation.ConvCol2Im, shape, dCols, dx, Convolution.Col2Im);
    }

    public void MaxPool2Forward(in PoolShape shape, ArrayView<float> x, ArrayView<float> y, ArrayView<int> argmax)
    {
        CpuOperandLengths.Pool(shape, "max-pool forward", x, shape.InputLength, "x", argmax, y, shape.OutputLength, "y");
        if (TryRecord(CpuCommand.Of(new MaxPool2ForwardCommand { Shape = shape, X = Address(x), Y = Address(y), Argmax = Address(argmax) })))
            return;
        Convolution.PoolForward(config, shape, x, y, argmax);
        Launches++;
    }

    public void MaxPool2Backward(in PoolShape shape, ArrayView<float> dy, ArrayView<int> argmax, ArrayView<float> dx)
    {
        CpuOperandLengths.Pool(shape, "max-pool backward", dy, shape.OutputLength, "dy", argmax, dx, shape.InputLength, "dx");
        if (TryRecord(CpuCommand.Of(new MaxPool2BackwardCommand { Shape = shape, Dy = Address(dy), Argmax = Address(argmax), Dx = Address(dx) })))
            return;
        Convolution.PoolBackward(config, shape, dy, argmax, dx);
        Launches++;
    }

    /// <summary>One launch, cols not read: the transposed GEMM [Patch, O] = cols^T x dz (Patch / 6 row
    /// tiles over one panel of O columns share out evenly over the workers, where O / 6 tiles over
    /// Patch / 64 panels do not), its A read from x through offset tables image by image, and its
    /// tiles stored transposed into dWeights (CpuDenseSimd.ConvWeightGradient). At the CNN preset's
    /// conv2 the materialised cols was 80 MB, read back from memory here.</summary>
    public void ConvWeightGradient(in ConvShape shape, ArrayView<float> dz, ArrayView<float> x, ArrayView<float> cols,
        ArrayView<float> dWeights)
    {
        const string launch = "convolution weight gradient";
        CpuOperandLengths.Require(dz, shape.OutputLength, "dz", launch);
        CpuOperandLengths.Require(x, shape.InputLength, "x", launch);
        CpuOperandLengths.Require(dWeights, shape.WeightLength, "dWeights", launch);
        if (TryRecord(CpuCommand.Of(new ConvWeightGradientCommand { Shape = shape, Dz = Address(dz), X = Address(x), DWeights = Address(dWeights) })))
            return;
        Convolution.WeightGradient(config, shape, width, dz, x, dWeights);
        Launches++;
    }

    /// <summary>One launch, per image, dCols not touched: one GEMM over zero-bordered dz straight into
    /// dx (CpuDenseSimd.ConvInputGradient), or, for a padding wider than the kernel less one, the GEMM
    /// into a worker's buffer, then col2im from it (CpuConvolution.InputGradient).</summary>
    public void ConvInputGradient(in ConvShape shape, ArrayView<float> dz, ArrayView<float> weights, ArrayView<float> dCols,
        ArrayView<float> dx)
    {
        const string launch = "convolution input gradient";
        CpuOperandLengths.Require(dz, shape.OutputLength, "dz", launch);
        CpuOperandLengths.Require(weights, shape.WeightLength, "weights", launch);
        CpuOperandLengths.Require(dx, shape.InputLength, "dx", launch);
        if (TryRecord(CpuCommand.Of(new ConvInputGradientCommand { Shape = shape, Dz = Address(dz), Weights = Address(weights), Dx = Address(dx) })))
            return;
        Convolution.InputGradient(config, shape, width, dz, weights, dx);
        Launches++;
    }

    public void MaxPool2ForwardNhwc(in PoolShape shape, ArrayView<float> x, ArrayView<float> y, ArrayView<int> argmax)
    {
        CpuOperandLengths.Pool(shape, "max-pool forward (NHWC)", x, shape.InputLength, "x", argmax, y, shape.OutputLength, "y");
        if (TryRecord(CpuCommand.OfNhwc(new MaxPool2ForwardCommand { Shape = shape, X = Address(x), Y = Address(y), Argmax = Address(argmax) })))
            return;
        Convolution.PoolForwardNhwc(config, shape, x, y, argmax);
        Launches++;
    }

    /// <summary>One launch: dx and its bias partials together.</summary>
    public void MaxPool2BackwardNhwc(in PoolShape shape, bool relu, ArrayView<float> dy, ArrayView<int> argmax, ArrayView<float> y,
        ArrayView<float> dx, ArrayView<float> partials)
    {
        const string launch = "max-pool backward (NHWC)";
        CpuOperandLengths.Pool(shape, launch, dy, shape.OutputLength, "dy", argmax, dx, shape.InputLength, "dx");
        if (relu)
            CpuOperandLengths.Require(y, shape.OutputLength, "y", launch);
        CpuOperandLengths.Require(partials, (long)shape.Batch * shape.Channels, "partials", launch);
        if (TryRecord(CpuCommand.Of(new MaxPool2BackwardNhwcCommand
        {
            Shape = shape,
            Dy = Address(dy),
            Argmax = Address(argmax),
            Y = Address(y),
            Dx = Address(dx),
            Partials = Address(partials),
            ReluMask = relu ? 1 : 0,
        })))
            return;
        Convolution.PoolBackwardNhwc(config, shape, relu ? 1 : 0, dy, argmax, y, dx, partials);
        Launches++;
    }

    // ---- batch normalisation: one BatchNormCommand per launch, kernels compiled on first use

    private BatchNormLaunchers? batchNorm;

    private BatchNormLaunchers BatchNorm => batchNorm ??= new BatchNormLaunchers(accelerator);

    public void LoadBatchNorm() => _ = BatchNorm;

    public void BatchNormStatistics(in BatchNormShape shape, ArrayView<float> x, ArrayView<float> mean, ArrayView<float> variance,
        ArrayView<float> runningMean, ArrayView<float> runningVariance, ArrayView<float> numBatchesTracked)
    {
        const string launch = "batch-norm statistics";
        CpuOperandLengths.Require(x, shape.Length, "x", launch);
        CpuOperandLengths.BatchNormChannels(shape, launch, (mean, "mean"), (variance, "variance"), (runningMean, "runningMean"),
            (runningVariance, "runningVariance"));
        CpuOperandLengths.Require(numBatchesTracked, 1, "numBatchesTracked", launch);
        RunBatchNorm(CpuOperation.BatchNormStatistics, launchers => launchers.Statistics, new BatchNormCommand
        {
            Shape = shape,
            X = Address(x),
            Mean = Address(mean),
            Variance = Address(variance),
            RunningMean = Address(runningMean),
            RunningVariance = Address(runningVariance),
            NumBatchesTracked = Address(numBatchesTracked),
        });
    }

    public void BatchNormForward(in BatchNormShape shape, bool relu, ArrayView<float> x, ArrayView<float> mean, ArrayView<float> variance,
        ArrayView<float> weight, ArrayView<float> bias, ArrayView<float> y)
    {
        const string launch = "batch-norm forward";
        CpuOperandLengths.Require(x, shape.Length, "x", launch);
        CpuOperandLengths.Require(y, shape.Length, "y", launch);
        CpuOperandLengths.BatchNormChannels(shape, launch, (mean, "mean"), (variance, "variance"), (weight, "weight"), (bias, "bias"));
        RunBatchNorm(CpuOperation.BatchNormForward, launchers => launchers.Forward, new BatchNormCommand
        {
            Shape = shape,
            Relu = relu ? 1 : 0,
            X = Address(x),
            Mean = Address(mean),
            Variance = Address(variance),
            Weight = Address(weight),
            Bias = Address(bias),
            Y = Address(y),
        });
    }

    public void BatchNormParameterGradients(in BatchNormShape shape, bool relu, ArrayView<float> dy, ArrayView<float> y, ArrayView<float> x,
        ArrayView<float> mean, ArrayView<float> variance, ArrayView<float> dWeight, ArrayView<float> dBias)
    {
        const string launch = "batch-norm parameter gradients";
        CpuOperandLengths.Require(dy, shape.Length, "dy", launch);
        CpuOperandLengths.Require(y, shape.Length, "y", launch);
        CpuOperandLengths.Require(x, shape.Length, "x", launch);
        CpuOperandLengths.BatchNormChannels(shape, launch, (mean, "mean"), (variance, "variance"), (dWeight, "dWeight"), (dBias, "dBias"));
        RunBatchNorm(CpuOperation.BatchNormParameterGradients, launchers => launchers.ParameterGradients, new BatchNormCommand
        {
            Shape = shape,
            Relu = relu ? 1 : 0,
            Dy = Address(dy),
            Y = Address(y),
            X = Address(x),
            Mean = Address(mean),
            Variance = Address(variance),
            DWeight = Address(dWeight),
            DBias = Address(dBias),
        });
    }

    public void BatchNormInputGradient(in BatchNormShape shape, bool relu, bool maskInput, float keepScale, in BatchNormOperands operands)
    {
        const string launch = "batch-norm input gradient";
        CpuOperandLengths.Require(operands.Dy, shape.Length, "dy", launch);
        CpuOperandLengths.Require(operands.Y, shape.Length, "y", launch);
        CpuOperandLengths.Require(operands.X, shape.Length, "x", launch);
        CpuOperandLengths.Require(operands.Dx, shape.Length, "dx", launch);
        CpuOperandLengths.BatchNormChannels(shape, launch, (operands.Mean, "mean"), (operands.Variance, "variance"),
            (operands.Weight, "weight"), (operands.DWeight, "dWeight"));
        CpuOperandLengths.Require(operands.DBias, shape.Channels, "dBias", launch);
        RunBatchNorm(CpuOperation.BatchNormInputGradient, launchers => launchers.InputGradient, new BatchNormCommand
        {
            Shape = shape,
            Relu = relu ? 1 : 0,
            MaskInput = maskInput ? 1 : 0,
            KeepScale = keepScale,
            Dy = Address(operands.Dy),
            Y = Address(operands.Y),
            X = Address(operands.X),
            Mean = Address(operands.Mean),
            Variance = Address(operands.Variance),
            Weight = Address(operands.Weight),
            DWeight = Address(operands.DWeight),
            DBias = Address(operands.DBias),
            Dx = Address(operands.Dx),
        });
    }

    /// <summary>Records the command in a fused scope, else launches its kernel (the operation's, picked
    /// from the launchers, which compile on first use) now.</summary>
    private void RunBatchNorm(CpuOperation operation, Func<BatchNormLaunchers, Action<KernelConfig, BatchNormCommand>> kernel,
        in BatchNormCommand command)
    {
        if (TryRecord(CpuCommand.Of(operation, command)))
            return;
        kernel(BatchNorm)(config, command);
        Launches++;
    }

    /// <summary>The CPU batch-normalisation kernels (kernels/Cpu/CpuBatchNormKernels.cs) of one accelerator.</summary>
    private sealed class BatchNormLaunchers(Accelerator accelerator)
    {
        public readonly Action<KernelConfig, BatchNormCommand> Statistics =
            accelerator.LoadStreamKernel<BatchNormCommand>(CpuBatchNormKernels.BatchNormStatisticsCpuKernel);

        public readonly Action<KernelConfig, BatchNormCommand> Forward =
            accelerator.LoadStreamKernel<BatchNormCommand>(CpuBatchNormKernels.BatchNormForwardCpuKernel);

        public readonly Action<KernelConfig, BatchNormCommand> ParameterGradients =
            accelerator.LoadStreamKernel<BatchNormCommand>(CpuBatchNormKernels.BatchNormParameterGradientsCpuKernel);

        public readonly Action<KernelConfig, BatchNormCommand> InputGradient =
            accelerator.LoadStreamKernel<BatchNormCommand>(CpuBatchNormKernels.BatchNormInputGradientCpuKernel);
    }

    private Action<KernelConfig, ArrayView<byte>, ArrayView<byte>, ArrayView<int>, int, int, int, int, int, uint, uint,
        ArrayView<float>, ArrayView<int>>? gatherShifted;

    /// <summary>The operands both gathers share.</summary>
    private static BatchOperands BatchOperandsOf(ArrayView<byte> images, ArrayView<byte> labels, ArrayView<int> order,
        ArrayView<float> x, ArrayView<int> y) => new()
        {
            Images = Address(images),
            Labels = Address(labels),
            Order = Address(order),
            X = Address(x),
            Y = Address(y),
        };

    public void LoadShiftedGather() =>
        gatherShifted ??= accelerator.LoadStreamKernel<ArrayView<byte>, ArrayView<byte>, ArrayView<int>, int, int, int, int, int, uint, uint,
            ArrayView<float>, ArrayView<int>>(CpuBatchGatherKernels.GatherShiftedBatchCpuKernel);

    public void GatherShifted(ArrayView<byte> images, ArrayView<byte> labels, ArrayView<int> order, int first, int rows,
        int height, int width, int maxShift, uint seed, uint step, ArrayView<float> x, ArrayView<int> y)
    {
        CpuOperandLengths.Gather("shifted gather", images, labels, order, first, rows, (long)height * width, x, y);
        if (TryRecord(CpuCommand.Of(new GatherShiftedCommand
        {
            Batch = BatchOperandsOf(images, labels, order, x, y),
            First = first,
            Rows = rows,
            Height = height,
            Width = width,
            MaxShift = maxShift,
            Seed = seed,
            Step = step,
        })))
            return;
        LoadShiftedGather();
        gatherShifted!(config, images, labels, order, first, rows, height, width, maxShift, seed, step, x, y);
        Launches++;
    }

    private Action<KernelConfig, ArrayView<byte>, ArrayView<byte>, ArrayView<int>, int, int, DistortionShape,
        ArrayView<float>, ArrayView<float>, ArrayView<int>>? distort;

    public void LoadDistortion() =>
        distort ??= accelerator.LoadStreamKernel<ArrayView<byte>, ArrayView<byte>, ArrayView<int>, int, int, DistortionShape,
            ArrayView<float>, ArrayView<float>, ArrayView<int>>(CpuDistortionKernels.DistortBatchCpuKernel);

    public void Distort(ArrayView<byte> images, ArrayView<byte> labels, ArrayView<int> order, int first, int rows,
        in DistortionShape shape, ArrayView<float> field, ArrayView<float> x, ArrayView<int> y)
    {
        CpuOperandLengths.Distort(images, labels, order, first, rows, shape, field, x, y);
        if (TryRecord(CpuCommand.Of(new DistortCommand
        {
            Batch = BatchOperandsOf(images, labels, order, x, y),
            First = first,
            Rows = rows,
            Shape = shape,
            Field = Address(field),
        })))
            return;
        LoadDistortion();
        distort!(config, images, labels, order, first, rows, shape, field, x, y);
        Launches++;
    }

    private readonly Action<KernelConfig, CpuSimdWidth, ArrayView<float>, ArrayView<int>, ArrayView<byte>, ArrayView<int>,
        int, int, int, ArrayView<double>, ArrayView<int>> sumPartials;
    private readonly Action<KernelConfig, ArrayView<int>, ArrayView<byte>, ArrayView<int>, int, int, int, ArrayView<int>> confusion;

    // The evaluation reductions are read back by the host right away: never recorded.
    public void SumPartials(ArrayView<float> losses, ArrayView<int> predictions, ArrayView<byte> labels, ArrayView<int> order,
        int first, int count, int partialCount, ArrayView<double> lossPartials, ArrayView<int> correctPartials)
    {
        const string launch = "evaluation sums";
        CpuOperandLengths.Require(losses, count, "losses", launch);
        CpuOperandLengths.EvaluationRows(launch, predictions, labels, order, first, count);
        CpuOperandLengths.Require(lossPartials, partialCount, "lossPartials", launch);
        CpuOperandLengths.Require(correctPartials, partialCount, "correctPartials", launch);
        RunPending();
        sumPartials(config, width, losses, predictions, labels, order, first, count, partialCount, lossPartials, correctPartials);
        Launches++;
    }

    public void Confusion(ArrayView<int> predictions, ArrayView<byte> labels, ArrayView<int> order,
        int first, int count, int classes, ArrayView<int> matrix)
    {
        const string launch = "confusion matrix";
        CpuOperandLengths.EvaluationRows(launch, predictions, labels, order, first, count);
        CpuOperandLengths.Require(matrix, (long)classes * classes, "matrix", launch);
        RunPending();
        confusion(config, predictions, labels, order, first, count, classes, matrix);
        Launches++;
    }

    /// <summary>The CPU convolution and pooling kernels (kernels/Cpu/CpuConvolutionKernels.cs,
    /// CpuPoolingKernels.cs) of one accelerator.</summary>
    private sealed class CpuConvolutionLaunchers(Accelerator accelerator)
    {
        public readonly Action<KernelConfig, ConvShape, ArrayView<float>, ArrayView<float>> Im2Col =
            accelerator.LoadStreamKernel<ConvShape, ArrayView<float>, ArrayView<float>>(CpuConvolutionKernels.ConvIm2ColCpuKernel);

        public readonly Action<KernelConfig, ConvShape, ArrayView<float>, ArrayView<float>> NhwcToNchw =
            accelerator.LoadStreamKernel<ConvShape, ArrayView<float>, ArrayView<float>>(CpuConvolutionKernels.ConvNhwcToNchwCpuKernel);

        public readonly Action<KernelConfig, ConvShape, ArrayView<float>, ArrayView<float>, int, ArrayView<float>> NchwToNhwc =
            accelerator.LoadStreamKernel<ConvShape, ArrayView<float>, ArrayView<float>, int, ArrayView<float>>(CpuConvolutionKernels.ConvNchwToNhwcCpuKernel);

        public readonly Action<KernelConfig, ConvShape, CpuSimdWidth, ArrayView<float>, ArrayView<float>> BiasPartials =
            accelerator.LoadStreamKernel<ConvShape, CpuSimdWidth, ArrayView<float>, ArrayView<float>>(CpuConvolutionKernels.ConvBiasPartialsSimdKernel);

        public readonly Action<KernelConfig, ConvShape, ArrayView<float>, ArrayView<float>> Col2Im =
            accelerator.LoadStreamKernel<ConvShape, ArrayView<float>, ArrayView<float>>(CpuConvolutionKernels.ConvCol2ImCpuKernel);

        public readonly Action<KernelConfig, PoolShape, ArrayView<float>, ArrayView<float>, ArrayView<int>> PoolForward =
            accelerator.LoadStreamKernel<PoolShape, ArrayView<float>, ArrayView<float>, ArrayView<int>>(CpuPoolingKernels.MaxPool2ForwardCpuKernel);

        public readonly Action<KernelConfig, PoolShape, ArrayView<float>, ArrayView<int>, ArrayView<float>> PoolBackward =
            accelerator.LoadStreamKernel<PoolShape, ArrayView<float>, ArrayView<int>, ArrayView<float>>(CpuPoolingKernels.MaxPool2BackwardCpuKernel);

        public readonly Action<KernelConfig, ConvShape, CpuSimdWidth, ArrayView<float>, ArrayView<float>, ArrayView<float>> InputGradient =
            accelerator.LoadStreamKernel<ConvShape, CpuSimdWidth, ArrayView<float>, ArrayView<float>, ArrayView<float>>(
                CpuConvolutionKernels.ConvInputGradientCpuKernel);

        public readonly Action<KernelConfig, ConvShape, int, CpuSimdWidth, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            int, PoolShape, ArrayView<float>, ArrayView<int>> ForwardRows =
            accelerator.LoadStreamKernel<ConvShape, int, CpuSimdWidth, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
                int, PoolShape, ArrayView<float>, ArrayView<int>>(CpuConvolutionKernels.ConvForwardRowsCpuKernel);

        public readonly Action<KernelConfig, ConvShape, CpuSimdWidth, ArrayView<float>, ArrayView<float>, ArrayView<float>> WeightGradient =
            accelerator.LoadStreamKernel<ConvShape, CpuSimdWidth, ArrayView<float>, ArrayView<float>, ArrayView<float>>(
                CpuConvolutionKernels.ConvWeightGradientCpuKernel);

        public readonly Action<KernelConfig, PoolShape, ArrayView<float>, ArrayView<float>, ArrayView<int>> PoolForwardNhwc =
            accelerator.LoadStreamKernel<PoolShape, ArrayView<float>, ArrayView<float>, ArrayView<int>>(CpuPoolingKernels.MaxPool2ForwardNhwcCpuKernel);

        public readonly Action<KernelConfig, PoolShape, int, ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>, ArrayView<float>> PoolBackwardNhwc =
            accelerator.LoadStreamKernel<PoolShape, int, ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>, ArrayView<float>>(
                CpuPoolingKernels.MaxPool2BackwardNhwcCpuKernel);
    }
}
