using GpuMlp.Kernels;
using ILGPU;

namespace GpuMlp.Compute;

/// <summary>Which kernel set an DeviceKernels runs (chosen once, when it is built).</summary>
public enum KernelSetKind
{
    /// <summary>The portable kernels of kernels/*.cs: what the GPUs run, and the CPU accelerator
    /// with the GPU launch profile, a forced GEMM variant or --cpu-simd off.</summary>
    Portable,
    /// <summary>The CPU accelerator's SIMD kernels of kernels/Cpu, recorded into one fused program
    /// inside a FuseLaunches scope.</summary>
    CpuSimd,
}

/// <summary>Every primitive launch of training and evaluation, declared once. The two sets are
/// PortableKernelSet (kernels/*.cs with their launch shapes) and CpuSimdKernelSet (kernels/Cpu, with
/// host checks of every operand's length and recording into a fused program). DeviceKernels chooses one
/// when it is built, checks shapes, and writes the composite operations (the convolutions, the
/// weight gradient's contract) over this interface. Each operation's shapes, and what it overwrites
/// and accumulates, are those of its kernels (see the kernel files named on each member). Callers
/// pass problem sizes and views; launch shapes are the set's.</summary>
internal interface IKernelSet
{
    KernelSetKind Kind { get; }

    // ---- launch fusion (a CPU SIMD concern; the portable set's members do nothing)

    /// <summary>Worker threads of one launch (CPU SIMD set; 0 on the portable set).</summary>
    int Workers { get; }

    /// <summary>Launches issued so far, a fused program counting as one (CPU SIMD set; 0 on the portable set).</summary>
    long Launches { get; }

    /// <summary>Whether BeginFusing/EndFusing record and fuse launches here.</summary>
    bool FusesLaunches { get; }

    /// <summary>Opens a fused scope (scopes nest).</summary>
    void BeginFusing();

    /// <summary>Closes a fused scope; the outermost runs what it recorded.</summary>
    void EndFusing();

    /// <summary>Called before a kernel from outside the set (UnfusedKernels) is launched beside it:
    /// what was recorded so far runs first, and the launch is counted.</summary>
    void BeforeForeignLaunch();

    // ---- lazily compiled groups (idempotent; no training step should include a compilation)

    /// <summary>Compiles the convolution and pooling kernels.</summary>
    void LoadConvolution();

    /// <summary>Compiles the shifted batch gather.</summary>
    void LoadShiftedGather();

    /// <summary>Compiles the batch-normalisation kernels.</summary>
    void LoadBatchNorm();
    /// <summary>Compiles the distorting gather.</summary>
    void LoadDistortion();

    // ---- dense (kernels/DenseKernels.cs, kernels/Cpu/CpuDenseKernels.cs)

    /// <summary>C[M,N] = epilogue(op(A) * op(B)).</summary>
    void Gemm(in GemmShape shape, in DenseEpilogue epilogue, ArrayView<float> a, ArrayView<float> b,
        ArrayView<float> c, ArrayView<float> bias, ArrayView<float> aux);

    /// <summary>dW = op(A) * op(B) (Store) and db[n] = the column sums of B, dense [K, N].</summary>
    void WeightGradient(in GemmShape shape, ArrayView<float> a, ArrayView<float> b, ArrayView<float> dW, ArrayView<float> db);

    /// <summary>db [columns] = the column sums of dz [rows, columns].</summary>
    void BiasGradient(ArrayView<float> dz, int rows, int columns, ArrayView<float> db);

    // ---- batch gathers (kernels/BatchGatherKernels.cs, kernels/Cpu/CpuBatchGatherKernels.cs)

    void Gather(ArrayView<byte> images, ArrayView<byte> labels, ArrayView<int> order,
        int first, int rows, int features, ArrayView<float> x, ArrayView<int> y);

    void GatherShifted(ArrayView<byte> images, ArrayView<byte> labels, ArrayView<int> order, int first, int rows,
        int height, int width, int maxShift, uint seed, uint step, ArrayView<float> x, ArrayView<int> y);

    /// <summary>The distorting gather (kernels/DistortionKernels.cs, kernels/Cpu/CpuDistortionKernels.cs):
    /// field [rows, 2, H + 2R, W] overwritten with elastic distortion, x and y as the gathers.</summary>
    void Distort(ArrayView<byte> images, ArrayView<byte> labels, ArrayView<int> order, int first, int rows,
        in DistortionShape shape, ArrayView<float> field, ArrayView<float> x, ArrayView<int> y);

    // ---- loss (kernels/SoftmaxCrossEntropyKernels.cs, kernels/Cpu/CpuSoftmaxCrossEntropyKernels.cs)

    void SoftmaxCrossEntropy(ArrayView<float> logits, ArrayView<int> labels, int rows, int classes, float gradientScale,
        bool writeGradient, ArrayView<float> dLogits, int first, ArrayView<float> loss, ArrayView<int> prediction, float labelSmoothing);

    // ---- the weights' moving average (kernels/WeightAverageKernels.cs, kernels/Cpu/CpuWeightAverageKernels.cs)

    /// <summary>average [count] = decay * average + (1 - decay) * weights [count].</summary>
    void ExponentialAverage(ArrayView<float> average, ArrayView<float> weights, int count, float decay);

    // ---- optimisers (kernels/OptimizerKernels.cs with each update's file, kernels/Cpu/CpuOptimizerKernels.cs)

    /// <summary>One step of the optimiser `update` over `count` elements: parameters and the state
    /// slots the update uses (IOptimizerUpdate.StateName) updated in place.</summary>
    void OptimizerStep<TUpdate>(in OptimizerOperands operands, int count, TUpdate update)
        where TUpdate : unmanaged, IOptimizerUpdate;

    // ---- evaluation (kernels/EvaluationKernels.cs, kernels/Cpu/CpuEvaluationKernels.cs); read back right away

    void SumPartials(ArrayView<float> losses, ArrayView<int> predictions, ArrayView<byte> labels, ArrayView<int> order,
        int first, int count, int partialCount, ArrayView<double> lossPartials, ArrayView<int> correctPartials);

    void Confusion(ArrayView<int> predictions, ArrayView<byte> labels, ArrayView<int> order,
        int first, int count, int classes, ArrayView<int> matrix);

    // ---- convolution and pooling (kernels/{Convolution,Pooling}Kernels.cs, kernels/Cpu/Cpu{Convolution,Pooling}Kernels.cs)

    /// <summary>cols [Rows, Patch] = im2col(x).</summary>
    void ConvIm2Col(in ConvShape shape, ArrayView<float> x, ArrayView<float> cols);

    /// <summary>nhwc [Rows, OutChannels] = relu?(im2col(x) x weights^T + bias), weights [O, Patch].
    /// cols [Rows, Patch] is scratch for im2col(x), which a set may leave untouched (the CPU set
    /// builds each image's rows in L2: ConvWeightGradient and ConvInputGradient do not read cols
    /// there).</summary>
    void ConvForwardRows(in ConvShape shape, bool relu, ArrayView<float> x, ArrayView<float> weights, ArrayView<float> bias,
        ArrayView<float> cols, ArrayView<float> nhwc);

    /// <summary>ConvForwardRows, then MaxPool2ForwardNhwc of those rows (pool: the convolution's output
    /// shape) into y and argmax. nhwc is scratch for the rows, which a set may leave untouched (the CPU
    /// set pools each image's rows from a worker's buffer); the pool's backward does not read them.</summary>
    void ConvPoolForward(in ConvShape shape, bool relu, ArrayView<float> x, ArrayView<float> weights, ArrayView<float> bias,
        ArrayView<float> cols, ArrayView<float> nhwc, in PoolShape pool, ArrayView<float> y, ArrayView<int> argmax);

    /// <summary>y (NCHW) = nhwc [Rows, OutChannels] reordered.</summary>
    void ConvNhwcToNchw(in ConvShape shape, ArrayView<float> nhwc, ArrayView<float> y);

    /// <summary>dz [Rows, OutChannels] = dy (NCHW) reordered, through the ReLU mask of y when relu.</summary>
    void ConvNchwToNhwc(in ConvShape shape, ArrayView<float> dy, ArrayView<float> y, bool relu, ArrayView<float> dz);

    /// <summary>partials [Batch, OutChannels] = per-image channel sums of dz.</summary>
    void ConvBiasPartials(in ConvShape shape, ArrayView<float> dz, ArrayView<float> partials);

    /// <summary>dx [B, C, H, W] = col2im(dCols).</summary>
    void ConvCol2Im(in ConvShape shape, ArrayView<float> dCols, ArrayView<float> dx);

    /// <summary>dWeights [OutChannels, Patch] = dz^T [OutChannels, Rows] x cols [Rows, Patch], every
    /// element summed over the rows in order, where cols = im2col(x) as the forward pass left it. A set
    /// may rebuild cols from x instead of reading it (the CPU set does, one image at a time in L2,
    /// computing the transpose, whose tiles share the work out more evenly: each element is the same
    /// k-ordered sum of the same products).</summary>
    void ConvWeightGradient(in ConvShape shape, ArrayView<float> dz, ArrayView<float> x, ArrayView<float> cols,
        ArrayView<float> dWeights);

    /// <summary>dx (NCHW) = col2im(dz [Rows, OutChannels] x weights [OutChannels, Patch]); dCols
    /// [Rows, Patch] is scratch that a set may leave untouched.</summary>
    void ConvInputGradient(in ConvShape shape, ArrayView<float> dz, ArrayView<float> weights, ArrayView<float> dCols, ArrayView<float> dx);

    void MaxPool2Forward(in PoolShape shape, ArrayView<float> x, ArrayView<float> y, ArrayView<int> argmax);

    void MaxPool2Backward(in PoolShape shape, ArrayView<float> dy, ArrayView<int> argmax, ArrayView<float> dx);

    /// <summary>MaxPool2Forward from x as [B * H * W, C] rows (a convolution's nhwc output).</summary>
    void MaxPool2ForwardNhwc(in PoolShape shape, ArrayView<float> x, ArrayView<float> y, ArrayView<int> argmax);

    /// <summary>dx [B * H * W, C] = dy routed to each window's argmax, 0 elsewhere and, when relu, 0
    /// where the pooled y is not positive (a convolution's dz); partials [B, C] = per-image channel
    /// sums of dx, rows ascending (that convolution's bias partials).</summary>
    void MaxPool2BackwardNhwc(in PoolShape shape, bool relu, ArrayView<float> dy, ArrayView<int> argmax, ArrayView<float> y,
        ArrayView<float> dx, ArrayView<float> partials);

    // ---- batch normalisation (kernels/BatchNormKernels.cs, kernels/Cpu/CpuBatchNormKernels.cs)

    /// <summary>mean, variance [C] = the batch statistics of x (variance biased); the running
    /// statistics and the batch count updated in place.</summary>
    void BatchNormStatistics(in BatchNormShape shape, ArrayView<float> x, ArrayView<float> mean, ArrayView<float> variance,
        ArrayView<float> runningMean, ArrayView<float> runningVariance, ArrayView<float> numBatchesTracked);

    /// <summary>y = relu?((x - mean) / sqrt(variance + eps) * weight + bias).</summary>
    void BatchNormForward(in BatchNormShape shape, bool relu, ArrayView<float> x, ArrayView<float> mean, ArrayView<float> variance,
        ArrayView<float> weight, ArrayView<float> bias, ArrayView<float> y);

    /// <summary>dWeight, dBias [C] overwritten from dy (through [y > 0] when relu).</summary>
    void BatchNormParameterGradients(in BatchNormShape shape, bool relu, ArrayView<float> dy, ArrayView<float> y, ArrayView<float> x,
        ArrayView<float> mean, ArrayView<float> variance, ArrayView<float> dWeight, ArrayView<float> dBias);

    /// <summary>dx overwritten (through [x > 0] * keepScale when maskInput).</summary>
    void BatchNormInputGradient(in BatchNormShape shape, bool relu, bool maskInput, float keepScale, in BatchNormOperands operands);
}
