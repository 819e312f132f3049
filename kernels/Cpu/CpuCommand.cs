// The commands of a fused CPU program (CpuProgram.cs): one recorded launch of a CPU SIMD kernel.
//
// A CpuCommand names its operation and carries that operation's operands in the field of the same
// name, a small struct whose members are named for the kernel parameters they stand for (no member
// changes meaning from one operation to another; the other operations' fields stay zero). Every
// operand is an address in the CPU accelerator's memory, taken on the host from the view when the
// command was recorded; an operand the operation does not read (bias in Store mode, the momentum
// buffer without momentum) may be any address and is never dereferenced. Shapes and what each
// operation overwrites and accumulates are those of its kernel (see the other files of this folder).
namespace GpuMlp.Kernels.Cpu;

/// <summary>Which kernel a CpuCommand runs; its operands are in the CpuCommand field of the same name.</summary>
public enum CpuOperation
{
    /// <summary>CpuDenseKernels.DenseGemmSimdKernel.</summary>
    Gemm = 1,
    /// <summary>CpuDenseKernels.DenseBiasGradientSimdKernel.</summary>
    BiasGradient = 2,
    /// <summary>CpuBatchGatherKernels.GatherBatchSimdKernel.</summary>
    Gather = 3,
    /// <summary>CpuSoftmaxCrossEntropyKernels.SoftmaxCrossEntropySimdKernel.</summary>
    SoftmaxCrossEntropy = 4,
    /// <summary>CpuOptimizerKernels.OptimizerStepSimdKernel: any optimiser's step.</summary>
    OptimizerStep = 5,
    /// <summary>CpuConvolutionKernels.ConvIm2ColCpuKernel.</summary>
    ConvIm2Col = 6,
    /// <summary>CpuConvolutionKernels.ConvNhwcToNchwCpuKernel.</summary>
    ConvNhwcToNchw = 7,
    /// <summary>CpuConvolutionKernels.ConvNchwToNhwcCpuKernel.</summary>
    ConvNchwToNhwc = 8,
    /// <summary>CpuConvolutionKernels.ConvBiasPartialsSimdKernel.</summary>
    ConvBiasPartials = 9,
    /// <summary>CpuConvolutionKernels.ConvCol2ImCpuKernel.</summary>
    ConvCol2Im = 10,
    /// <summary>CpuPoolingKernels.MaxPool2ForwardCpuKernel.</summary>
    MaxPool2Forward = 11,
    /// <summary>CpuPoolingKernels.MaxPool2BackwardCpuKernel.</summary>
    MaxPool2Backward = 12,
    /// <summary>CpuBatchGatherKernels.GatherShiftedBatchCpuKernel.</summary>
    GatherShifted = 13,
    /// <summary>CpuBatchNormKernels.BatchNormStatisticsCpuKernel.</summary>
    BatchNormStatistics = 14,
    /// <summary>CpuBatchNormKernels.BatchNormForwardCpuKernel.</summary>
    BatchNormForward = 15,
    /// <summary>CpuBatchNormKernels.BatchNormParameterGradientsCpuKernel.</summary>
    BatchNormParameterGradients = 16,
    /// <summary>CpuBatchNormKernels.BatchNormInputGradientCpuKernel.</summary>
    BatchNormInputGradient = 17,
    /// <summary>CpuWeightAverageKernels.ExponentialAverageSimdKernel.</summary>
    ExponentialAverage = 18,
    /// <summary>CpuDistortionKernels.DistortBatchCpuKernel.</summary>
    Distort = 19,
    /// <summary>CpuPoolingKernels.MaxPool2ForwardNhwcCpuKernel.</summary>
    MaxPool2ForwardNhwc = 20,
    /// <summary>CpuPoolingKernels.MaxPool2BackwardNhwcCpuKernel.</summary>
    MaxPool2BackwardNhwc = 21,
    /// <summary>CpuConvolutionKernels.ConvInputGradientCpuKernel.</summary>
    ConvInputGradient = 22,
    /// <summary>CpuConvolutionKernels.ConvWeightGradientCpuKernel.</summary>
    ConvWeightGradient = 23,
    /// <summary>CpuConvolutionKernels.ConvForwardRowsCpuKernel.</summary>
    ConvForwardRows = 24,
}

/// <summary>One recorded launch: Operation, and its operands in the field named after it. Built
/// through the static factories, which set both together.</summary>
public struct CpuCommand
{
    public CpuOperation Operation;
    public GemmCommand Gemm;
    public BiasGradientCommand BiasGradient;
    public GatherCommand Gather;
    public GatherShiftedCommand GatherShifted;
    public DistortCommand Distort;
    public SoftmaxCrossEntropyCommand SoftmaxCrossEntropy;
    public OptimizerCommand OptimizerStep;
    public ConvLayoutCommand ConvIm2Col;
    public ConvLayoutCommand ConvNhwcToNchw;
    public ConvNchwToNhwcCommand ConvNchwToNhwc;
    public ConvLayoutCommand ConvBiasPartials;
    public ConvLayoutCommand ConvCol2Im;
    public MaxPool2ForwardCommand MaxPool2Forward;
    public MaxPool2BackwardCommand MaxPool2Backward;
    public MaxPool2ForwardCommand MaxPool2ForwardNhwc;
    public MaxPool2BackwardNhwcCommand MaxPool2BackwardNhwc;
    public ConvInputGradientCommand ConvInputGradient;
    public ConvWeightGradientCommand ConvWeightGradient;
    public ConvForwardRowsCommand ConvForwardRows;
    public BatchNormCommand BatchNormStatistics;
    public BatchNormCommand BatchNormForward;
    public BatchNormCommand BatchNormParameterGradients;
    public BatchNormCommand BatchNormInputGradient;
    public ExponentialAverageCommand ExponentialAverage;

    public static CpuCommand Of(in GemmCommand operands) => new() { Operation = CpuOperation.Gemm, Gemm = operands };

    public static CpuCommand Of(in BiasGradientCommand operands) => new() { Operation = CpuOperation.BiasGradient, BiasGradient = operands };

    public static CpuCommand Of(in GatherCommand operands) => new() { Operation = CpuOperation.Gather, Gather = operands };

    public static CpuCommand Of(in GatherShiftedCommand operands) => new() { Operation = CpuOperation.GatherShifted, GatherShifted = operands };

    public static CpuCommand Of(in DistortCommand operands) => new() { Operation = CpuOperation.Distort, Distort = operands };

    public static CpuCommand Of(in SoftmaxCrossEntropyCommand operands) =>
        new() { Operation = CpuOperation.SoftmaxCrossEntropy, SoftmaxCrossEntropy = operands };

    public static CpuCommand Of(in OptimizerCommand operands) => new() { Operation = CpuOperation.OptimizerStep, OptimizerStep = operands };

    public static CpuCommand Of(in ConvNchwToNhwcCommand operands) =>
        new() { Operation = CpuOperation.ConvNchwToNhwc, ConvNchwToNhwc = operands };

    public static CpuCommand Of(in MaxPool2ForwardCommand operands) =>
        new() { Operation = CpuOperation.MaxPool2Forward, MaxPool2Forward = operands };

    public static CpuCommand Of(in MaxPool2BackwardCommand operands) =>
        new() { Operation = CpuOperation.MaxPool2Backward, MaxPool2Backward = operands };

    /// <summary>The NHWC forward: X is [B * H * W, C] rows.</summary>
    public static CpuCommand OfNhwc(in MaxPool2ForwardCommand operands) =>
        new() { Operation = CpuOperation.MaxPool2ForwardNhwc, MaxPool2ForwardNhwc = operands };

    public static CpuCommand Of(in ConvInputGradientCommand operands) =>
        new() { Operation = CpuOperation.ConvInputGradient, ConvInputGradient = operands };

    public static CpuCommand Of(in ConvWeightGradientCommand operands) =>
        new() { Operation = CpuOperation.ConvWeightGradient, ConvWeightGradient = operands };

    public static CpuCommand Of(in ConvForwardRowsCommand operands) =>
        new() { Operation = CpuOperation.ConvForwardRows, ConvForwardRows = operands };

    public static CpuCommand Of(in MaxPool2BackwardNhwcCommand operands) =>
        new() { Operation = CpuOperation.MaxPool2BackwardNhwc, MaxPool2BackwardNhwc = operands };

    /// <summary>One of the four batch-normalisation commands (all share BatchNormCommand's operands).</summary>
    public static CpuCommand Of(CpuOperation operation, in BatchNormCommand operands) => operation switch
    {
        CpuOperation.BatchNormStatistics => new() { Operation = operation, BatchNormStatistics = operands },
        CpuOperation.BatchNormForward => new() { Operation = operation, BatchNormForward = operands },
        CpuOperation.BatchNormParameterGradients => new() { Operation = operation, BatchNormParameterGradients = operands },
        CpuOperation.BatchNormInputGradient => new() { Operation = operation, BatchNormInputGradient = operands },
        _ => throw new ArgumentOutOfRangeException(nameof(operation), operation, "not a batch-normalisation command"),
    };
    public static CpuCommand Of(in ExponentialAverageCommand operands) =>
        new() { Operation = CpuOperation.ExponentialAverage, ExponentialAverage = operands };

    /// <summary>One of the four convolution commands that read one view and overwrite another.</summary>
    public static CpuCommand Of(CpuOperation operation, in ConvLayoutCommand operands) => operation switch
    {
        CpuOperation.ConvIm2Col => new() { Operation = operation, ConvIm2Col = operands },
        CpuOperation.ConvNhwcToNchw => new() { Operation = operation, ConvNhwcToNchw = operands },
        CpuOperation.ConvBiasPartials => new() { Operation = operation, ConvBiasPartials = operands },
        CpuOperation.ConvCol2Im => new() { Operation = operation, ConvCol2Im = operands },
        _ => throw new ArgumentOutOfRangeException(nameof(operation), operation, "not a convolution layout command"),
    };
}

/// <summary>Average [Count] = Decay * Average + (1 - Decay) * Weights [Count].</summary>
public struct ExponentialAverageCommand
{
    public long Average;
    public long Weights;
    public int Count;
    public float Decay;
}

/// <summary>C [M, N] = epilogue(op(A) * op(B)) (bias [N], aux the epilogue's mask input); with
/// SumBColumns also ColumnSums [N] = the column sums of B [K, N].</summary>
public struct GemmCommand
{
    public GemmShape Shape;
    public DenseEpilogue Epilogue;
    public long A;
    public long B;
    public long C;
    public long Bias;
    public long Aux;
    public long ColumnSums;
    /// <summary>Nonzero: also the column sums. The flags here are ints: ILGPU takes only blittable
    /// element types, and bool is not one.</summary>
    public int SumBColumns;
}

/// <summary>Db [Columns] = the column sums of Dz [Rows, Columns].</summary>
public struct BiasGradientCommand
{
    public long Dz;
    public long Db;
    public int Rows;
    public int Columns;
}

/// <summary>The operands every batch gather reads and writes: images [samples, features] and labels
/// [samples] uint8, order [samples] int32; X [rows, features] float and Y [rows] int32 overwritten.</summary>
public struct BatchOperands
{
    public long Images;
    public long Labels;
    public long Order;
    public long X;
    public long Y;
}

/// <summary>Rows rows of Features features from order[First ..].</summary>
public struct GatherCommand
{
    public BatchOperands Batch;
    public int First;
    public int Rows;
    public int Features;
}

/// <summary>Rows [Height, Width] images from order[First ..], each moved by up to MaxShift pixels
/// drawn from (Seed, Step, row).</summary>
public struct GatherShiftedCommand
{
    public BatchOperands Batch;
    public int First;
    public int Rows;
    public int Height;
    public int Width;
    public int MaxShift;
    public uint Seed;
    public uint Step;
}

/// <summary>Rows [Channels, Height, Width] images from order[First ..], each distorted as Shape says
/// (drawn from its Seed, Step and the row); Field [Rows, 2, H + 2R, W] overwritten with elastic distortion.</summary>
public struct DistortCommand
{
    public BatchOperands Batch;
    public int First;
    public int Rows;
    public DistortionShape Shape;
    public long Field;
}

/// <summary>Logits [Rows, Classes], Labels [Rows] int32; Loss and Prediction written at [First ..
/// First + Rows); DLogits [Rows, Classes] = GradientScale * (softmax - target) when WriteGradient, the
/// one-hot target smoothed by LabelSmoothing.</summary>
public struct SoftmaxCrossEntropyCommand
{
    public long Logits;
    public long Labels;
    public long DLogits;
    public long Loss;
    public long Prediction;
    public int Rows;
    public int Classes;
    public int First;
    public float GradientScale;
    /// <summary>Nonzero: DLogits is written.</summary>
    public int WriteGradient;
    /// <summary>ε of the smoothed target (1 - ε) onehot + ε / Classes; 0: plain cross-entropy.</summary>
    public float LabelSmoothing;
}

/// <summary>An optimiser step over Count elements: Parameters and the state buffers in use (State1 ..
/// State3, in the update's slot order) updated in place by the IOptimizerUpdate numbered Update
/// (CpuOptimizerUpdates.Command makes the command, CpuOptimizerUpdates.Step reads the update back),
/// whose per-step scalars Step holds.</summary>
public struct OptimizerCommand
{
    /// <summary>Which update: its number in CpuOptimizerUpdates (0 in a zeroed command: none).</summary>
    public int Update;
    public long Parameters;
    public long Gradients;
    public long State1;
    public long State2;
    public long State3;
    public int Count;
    public OptimizerStepBlob Step;
}

/// <summary>An optimiser update struct's bytes (its per-step scalars), at most 64: a larger update is
/// refused when its first command is made, and the optimiser tests make a command of every one.</summary>
public struct OptimizerStepBlob
{
    public long Bytes0;
    public long Bytes8;
    public long Bytes16;
    public long Bytes24;
    public long Bytes32;
    public long Bytes40;
    public long Bytes48;
    public long Bytes56;
}

/// <summary>A convolution kernel that reads Source and overwrites Target: im2col (x → cols),
/// NHWC to NCHW (nhwc → y), bias partials (dz → partials [Batch, OutChannels]), col2im (dCols → dx).</summary>
public struct ConvLayoutCommand
{
    public ConvShape Shape;
    public long Source;
    public long Target;
}

/// <summary>Dz [Rows, OutChannels] = Dy (NCHW) in NHWC order, times the ReLU mask of Y when ReluMask.</summary>
public struct ConvNchwToNhwcCommand
{
    public ConvShape Shape;
    public long Dy;
    public long Y;
    public long Dz;
    /// <summary>Nonzero: through the ReLU mask of Y.</summary>
    public int ReluMask;
}

/// <summary>Y and Argmax [B, C, H/2, W/2] = the 2x2 maxima of X [B, C, H, W] and where they are.</summary>
public struct MaxPool2ForwardCommand
{
    public PoolShape Shape;
    public long X;
    public long Y;
    public long Argmax;
}

/// <summary>Dx [B, C, H, W] = Dy routed to each window's Argmax, 0 elsewhere.</summary>
public struct MaxPool2BackwardCommand
{
    public PoolShape Shape;
    public long Dy;
    public long Argmax;
    public long Dx;
}

/// <summary>Dx [B, C, H, W] = col2im(Dz [Rows, OutChannels] x Weights [OutChannels, Patch]).</summary>
public struct ConvInputGradientCommand
{
    public ConvShape Shape;
    public long Dz;
    public long Weights;
    public long Dx;
}

/// <summary>Nhwc [Rows, OutChannels] = relu?(im2col(X) x Weights^T + Bias) (Relu != 0), with no im2col
/// stored; with Pooled != 0, those rows' 2x2 pool (Pool) into Y and Argmax instead, Nhwc untouched.</summary>
public struct ConvForwardRowsCommand
{
    public ConvShape Shape;
    public int Relu;
    public long X;
    public long Weights;
    public long Bias;
    public long Nhwc;
    public int Pooled;
    public PoolShape Pool;
    public long Y;
    public long Argmax;
}

/// <summary>DWeights [OutChannels, Patch] = Dz^T [OutChannels, Rows] x im2col(X) [Rows, Patch], with no im2col stored.</summary>
public struct ConvWeightGradientCommand
{
    public ConvShape Shape;
    public long Dz;
    public long X;
    public long DWeights;
}

/// <summary>Dx [B * H * W, C] = Dy routed to each window's Argmax (0 elsewhere, and 0 where ReluMask and
/// Y is not positive); Partials [B, C] = per image, the sum of its rows of Dx.</summary>
public struct MaxPool2BackwardNhwcCommand
{
    public PoolShape Shape;
    public long Dy;
    public long Argmax;
    public long Y;
    public long Dx;
    public long Partials;
    /// <summary>Nonzero: through the ReLU mask of Y.</summary>
    public int ReluMask;
}

/// <summary>A batch-normalisation kernel's operands (kernels/BatchNormKernels.cs), named after its
/// parameters; each kernel reads and writes only its own (see CpuBatchNormKernels.cs): statistics X →
/// Mean, Variance and the running state; forward X, Mean, Variance, Weight, Bias → Y; parameter
/// gradients Dy, Y, X, Mean, Variance → DWeight, DBias; input gradient all of those and Weight → Dx.</summary>
public struct BatchNormCommand
{
    public BatchNormShape Shape;
    /// <summary>Nonzero: the layer's output goes through ReLU (forward), so its gradient through [Y &gt; 0].</summary>
    public int Relu;
    /// <summary>Nonzero: Dx through the previous dense layer's ReLU/dropout mask ([X &gt; 0] * KeepScale).</summary>
    public int MaskInput;
    public float KeepScale;
    public long X;
    public long Y;
    public long Dy;
    public long Dx;
    public long Mean;
    public long Variance;
    public long Weight;
    public long Bias;
    public long RunningMean;
    public long RunningVariance;
    public long NumBatchesTracked;
    public long DWeight;
    public long DBias;
}
