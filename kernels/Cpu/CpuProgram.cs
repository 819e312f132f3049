// A recorded sequence of CPU SIMD launches run as ONE launch (the CPU accelerator's answer to launch
// overhead: a launch wakes every worker thread and waits for all of them, ~25-50 µs, while a group
// barrier between two steps of the same launch costs a few µs).
//
// program [length] CpuCommand, read only. Each command is one of the CPU SIMD kernels of this folder
// with its arguments, its operands given as addresses in the CPU accelerator's memory (taken on the
// host from the views when the command was recorded). ProgramSimdKernel runs the commands in order;
// every worker runs its share of command i (the same share the kernel's own launch would give it),
// then waits at a group barrier, so command i + 1 sees everything command i wrote. The launch must be
// ONE group holding every worker (Group.Barrier synchronises a group, not the grid); MlpKernels only
// records programs on such an accelerator. What each command writes and accumulates is that of its
// kernel (see the other files of this folder).
using System.Runtime.CompilerServices;
using ILGPU;

namespace GpuMlp.Kernels.Cpu;

/// <summary>Which kernel a CpuCommand runs.</summary>
public enum CpuOperation
{
    /// <summary>CpuDenseKernels.DenseGemmSimdKernel: Operands A, B, C, Bias, Aux, ColumnSums; Flag = sumBColumns.</summary>
    Gemm = 1,
    /// <summary>CpuDenseKernels.DenseBiasGradientSimdKernel: A = dz, C = db; Rows, Columns.</summary>
    BiasGradient = 2,
    /// <summary>CpuBatchGatherKernels.GatherBatchSimdKernel: A = images, B = labels, Aux = order, C = x, Bias = y; First, Rows, Columns = features.</summary>
    Gather = 3,
    /// <summary>CpuSoftmaxCrossEntropyKernels.SoftmaxCrossEntropySimdKernel: A = logits, B = labels, C = dLogits,
    /// Bias = loss, Aux = prediction; Rows, Columns = classes, Scale, Flag = writeGradient, First.</summary>
    SoftmaxCrossEntropy = 4,
    /// <summary>CpuOptimizerKernels.AdamSimdKernel: A = parameters, B = gradients, C = first moment, Aux = second moment; Count, AdamStep.</summary>
    Adam = 5,
    /// <summary>CpuConvolutionKernels.ConvIm2ColCpuKernel: Conv; A = x, C = cols.</summary>
    ConvIm2Col = 6,
    /// <summary>CpuConvolutionKernels.ConvNhwcToNchwCpuKernel: Conv; A = nhwc, C = y.</summary>
    ConvNhwcToNchw = 7,
    /// <summary>CpuConvolutionKernels.ConvNchwToNhwcCpuKernel: Conv; A = dy, B = y, C = dz; Flag = reluMask.</summary>
    ConvNchwToNhwc = 8,
    /// <summary>CpuConvolutionKernels.ConvBiasPartialsSimdKernel: Conv; A = dz, C = partials.</summary>
    ConvBiasPartials = 9,
    /// <summary>CpuConvolutionKernels.ConvCol2ImCpuKernel: Conv; A = dCols, C = dx.</summary>
    ConvCol2Im = 10,
    /// <summary>CpuPoolingKernels.MaxPool2ForwardCpuKernel: Pool; A = x, C = y, Aux = argmax.</summary>
    MaxPool2Forward = 11,
    /// <summary>CpuPoolingKernels.MaxPool2BackwardCpuKernel: Pool; A = dy, Aux = argmax, C = dx.</summary>
    MaxPool2Backward = 12,
    /// <summary>CpuBatchGatherKernels.GatherShiftedBatchCpuKernel: A = images, B = labels, Aux = order, C = x, Bias = y;
    /// First, Rows, Count = height, Columns = width, Flag = maxShift, HashSeed, HashStep.</summary>
    GatherShifted = 13,
    /// <summary>CpuOptimizerKernels.AdamWSimdKernel: A = parameters, B = gradients, C = first moment, Aux = second moment; Count, AdamWStep.</summary>
    AdamW = 14,
    /// <summary>CpuOptimizerKernels.SgdSimdKernel: A = parameters, B = gradients, C = momentum buffer; Count, SgdStep.</summary>
    Sgd = 15,
    /// <summary>CpuOptimizerKernels.RmspropSimdKernel: A = parameters, B = gradients, C = square average, Aux = momentum buffer,
    /// Bias = gradient average; Count, RmspropStep.</summary>
    Rmsprop = 16,
}

/// <summary>One recorded launch. Operand addresses are in the CPU accelerator's memory; which field
/// holds which operand is listed per CpuOperation.</summary>
public struct CpuCommand
{
    public CpuOperation Operation;
    public GemmShape Shape;
    public DenseEpilogue Epilogue;
    /// <summary>The optimiser commands' per-step scalars, one typed field per optimiser (only the
    /// command's own is read).</summary>
    public AdamStep AdamStep;
    public AdamWStep AdamWStep;
    public SgdStep SgdStep;
    public RmspropStep RmspropStep;
    public ConvShape Conv;
    public PoolShape Pool;
    public uint HashSeed;
    public uint HashStep;
    public int Rows;
    public int Columns;
    public int First;
    public int Count;
    public int Flag;
    public float Scale;
    public long A;
    public long B;
    public long C;
    public long Bias;
    public long Aux;
    public long ColumnSums;
}

public static class CpuProgram
{
    [CpuOnlyKernel]
    public static void ProgramSimdKernel(CpuSimdWidth width, ArrayView<CpuCommand> program, int length)
    {
        for (int i = 0; i < length; i++)
        {
            CpuProgramSimd.Execute(Group.IdxX, Group.DimX, width, program, i);
            Group.Barrier();
        }
    }
}

internal static class CpuProgramSimd
{
    [ILGPU.Frontend.External("gpumlp_cpu_program_step")]
    public static void Execute(int worker, int workers, CpuSimdWidth width, ArrayView<CpuCommand> program, int index)
    {
        ref CpuCommand command = ref Unsafe.Add(ref Simd.Ref(program), index);
        switch (command.Operation)
        {
            case CpuOperation.Gemm:
                CpuDenseSimd.Gemm(worker, workers, command.Shape, command.Epilogue, width, new CpuDenseSimd.GemmOperands(
                    ref At<float>(command.A), ref At<float>(command.B), ref At<float>(command.C), ref At<float>(command.Bias),
                    ref At<float>(command.Aux), ref At<float>(command.ColumnSums), command.Flag != 0));
                break;
            case CpuOperation.BiasGradient:
                CpuDenseSimd.BiasGradient(worker, workers, width, ref At<float>(command.A), command.Rows, command.Columns, ref At<float>(command.C));
                break;
            case CpuOperation.Gather:
                CpuBatchGatherSimd.Gather(worker, workers, width, BatchOf(command), command.First, command.Rows, command.Columns);
                break;
            case CpuOperation.SoftmaxCrossEntropy:
                CpuSoftmaxSimd.Run(worker, workers, width, new CpuSoftmaxSimd.Buffers(
                    ref At<float>(command.A), ref At<int>(command.B), ref At<float>(command.C),
                    ref Unsafe.Add(ref At<float>(command.Bias), command.First), ref Unsafe.Add(ref At<int>(command.Aux), command.First),
                    command.Flag != 0), command.Rows, command.Columns, command.Scale);
                break;
            case CpuOperation.Adam:
                CpuOptimizerSimd.Run<CpuOptimizerSimd.AdamUpdate, AdamStep>(worker, workers, width, OptimizerStateOf(command),
                    command.Count, command.AdamStep);
                break;
            case CpuOperation.AdamW:
                CpuOptimizerSimd.Run<CpuOptimizerSimd.AdamWUpdate, AdamWStep>(worker, workers, width, OptimizerStateOf(command),
                    command.Count, command.AdamWStep);
                break;
            case CpuOperation.Sgd:
                CpuOptimizerSimd.Run<CpuOptimizerSimd.SgdUpdate, SgdStep>(worker, workers, width, OptimizerStateOf(command),
                    command.Count, command.SgdStep);
                break;
            case CpuOperation.Rmsprop:
                CpuOptimizerSimd.Run<CpuOptimizerSimd.RmspropUpdate, RmspropStep>(worker, workers, width, OptimizerStateOf(command),
                    command.Count, command.RmspropStep);
                break;
            case CpuOperation.ConvIm2Col:
                CpuConvolution.Im2Col(worker, workers, command.Conv, ref At<float>(command.A), ref At<float>(command.C));
                break;
            case CpuOperation.ConvNhwcToNchw:
                CpuConvolution.NhwcToNchw(worker, workers, command.Conv, ref At<float>(command.A), ref At<float>(command.C));
                break;
            case CpuOperation.ConvNchwToNhwc:
                CpuConvolution.NchwToNhwc(worker, workers, command.Conv, ref At<float>(command.A), ref At<float>(command.B),
                    command.Flag != 0, ref At<float>(command.C));
                break;
            case CpuOperation.ConvBiasPartials:
                CpuConvolution.BiasPartials(worker, workers, command.Conv, width, ref At<float>(command.A), ref At<float>(command.C));
                break;
            case CpuOperation.ConvCol2Im:
                CpuConvolution.Col2Im(worker, workers, command.Conv, ref At<float>(command.A), ref At<float>(command.C));
                break;
            case CpuOperation.MaxPool2Forward:
                CpuPooling.Forward(worker, workers, command.Pool, ref At<float>(command.A), ref At<float>(command.C), ref At<int>(command.Aux));
                break;
            case CpuOperation.MaxPool2Backward:
                CpuPooling.Backward(worker, workers, command.Pool, ref At<float>(command.A), ref At<int>(command.Aux), ref At<float>(command.C));
                break;
            case CpuOperation.GatherShifted:
                CpuBatchGatherSimd.GatherShifted(worker, workers, BatchOf(command), command.First, command.Rows, new CpuBatchGatherSimd.ShiftedImages(command.Count, command.Columns, command.Flag, command.HashSeed, command.HashStep));
                break;
            default:
                throw new InvalidOperationException($"unknown CPU command {command.Operation}");
        }
    }

    /// <summary>A gather command's operands (images A, labels B, order Aux, x C, y Bias).</summary>
    private static CpuBatchGatherSimd.Batch BatchOf(in CpuCommand command) => new(
        ref At<byte>(command.A), ref At<byte>(command.B), ref At<int>(command.Aux), ref At<float>(command.C), ref At<int>(command.Bias));

    /// <summary>An optimiser command's operands (parameters A, gradients B, state buffers C, Aux, Bias;
    /// an address of 0 for a buffer the optimiser does not use is never dereferenced).</summary>
    private static CpuOptimizerSimd.State OptimizerStateOf(in CpuCommand command) => new(
        ref At<float>(command.A), ref At<float>(command.B), ref At<float>(command.C), ref At<float>(command.Aux), ref At<float>(command.Bias));

    /// <summary>The element at an address of the CPU accelerator's (unmanaged) memory as a managed
    /// reference: the null reference moved by that many bytes (no unsafe code; the garbage collector
    /// ignores references outside its heap).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ref T At<T>(long address) => ref Unsafe.AddByteOffset(ref Unsafe.NullRef<T>(), (nint)address);
}
