// A recorded sequence of CPU SIMD launches run as ONE launch (the CPU accelerator's answer to launch
// overhead: a launch wakes every worker thread and waits for all of them, ~25-50 µs, while a group
// barrier between two steps of the same launch costs a few µs).
//
// program [length + 1] CpuCommand: the commands, read only, then one slot, zeroed by the host, that
// holds the workers' barrier (two ints: arrivals and generation; UPDATED with integer atomics). Each
// command is one of the CPU SIMD kernels of this folder with its arguments, typed per operation
// (CpuCommand.cs), its operands given as addresses in the CPU accelerator's memory (taken on the host
// from the views when the command was recorded). ProgramSimdKernel runs the commands in order; every
// worker runs its share of command i (the same share the kernel's own launch would give it), then
// waits at the barrier, so command i + 1 sees everything command i wrote. The barrier spins (then
// yields) on the slot rather than ILGPU's group barrier, which blocks in the kernel and cost ~8 % of
// the MLP's step in futex calls. The launch must be ONE group holding every worker, all running at
// once; DeviceKernels only records programs on such an accelerator. What each command writes and accumulates is that of its
// kernel (see the other files of this folder).
using System.Runtime.CompilerServices;
using ILGPU;

namespace GpuMlp.Kernels.Cpu;

public static class CpuProgram
{
    [CpuOnlyKernel]
    public static void ProgramSimdKernel(CpuSimdWidth width, ArrayView<CpuCommand> program, int length) =>
        CpuProgramSimd.Run(Group.IdxX, Group.DimX, width, program, length);
}

internal static class CpuProgramSimd
{
    /// <summary>Every command in order, this worker's share of each, the workers meeting at the
    /// barrier in slot `length` after each command.</summary>
    [ILGPU.Frontend.External("gpumlp_cpu_program_run")]
    public static void Run(int worker, int workers, CpuSimdWidth width, ArrayView<CpuCommand> program, int length)
    {
        ref int arrivals = ref Unsafe.As<CpuCommand, int>(ref Unsafe.Add(ref Simd.Ref(program), length));
        ref int generation = ref Unsafe.Add(ref arrivals, 1);
        for (int i = 0; i < length; i++)
        {
            Execute(worker, workers, width, program, i);
            Barrier(ref arrivals, ref generation, workers);
        }
    }

    /// <summary>Waits until all `workers` have arrived: the last one resets the arrivals and moves the
    /// generation on (both atomics are full fences, so every write before the barrier is seen after
    /// it); the others spin, then yield, until the generation moves.</summary>
    private static void Barrier(ref int arrivals, ref int generation, int workers)
    {
        int current = Volatile.Read(ref generation);
        if (Interlocked.Increment(ref arrivals) == workers)
        {
            Volatile.Write(ref arrivals, 0);
            Interlocked.Increment(ref generation);
            return;
        }
        var spin = default(SpinWait);
        while (Volatile.Read(ref generation) == current)
            spin.SpinOnce(sleep1Threshold: -1);
    }

    /// <summary>This worker's share of command `index` (called by Run only, as plain .NET).</summary>
    private static void Execute(int worker, int workers, CpuSimdWidth width, ArrayView<CpuCommand> program, int index)
    {
        ref CpuCommand command = ref Unsafe.Add(ref Simd.Ref(program), index);
        switch (command.Operation)
        {
            case CpuOperation.Gemm:
                ref GemmCommand gemm = ref command.Gemm;
                CpuDenseSimd.Gemm(worker, workers, gemm.Shape, gemm.Epilogue, width, new CpuDenseSimd.GemmOperands(
                    ref At<float>(gemm.A), ref At<float>(gemm.B), ref At<float>(gemm.C), ref At<float>(gemm.Bias),
                    ref At<float>(gemm.Aux), ref At<float>(gemm.ColumnSums), gemm.SumBColumns != 0));
                break;
            case CpuOperation.BiasGradient:
                ref BiasGradientCommand biasGradient = ref command.BiasGradient;
                CpuDenseSimd.BiasGradient(worker, workers, width, ref At<float>(biasGradient.Dz), biasGradient.Rows, biasGradient.Columns,
                    ref At<float>(biasGradient.Db));
                break;
            case CpuOperation.Gather:
                ref GatherCommand gather = ref command.Gather;
                CpuBatchGatherSimd.Gather(worker, workers, width, BatchOf(gather.Batch), gather.First, gather.Rows, gather.Features);
                break;
            case CpuOperation.GatherShifted:
                ref GatherShiftedCommand shifted = ref command.GatherShifted;
                CpuBatchGatherSimd.GatherShifted(worker, workers, BatchOf(shifted.Batch), shifted.First, shifted.Rows,
                    new CpuBatchGatherSimd.ShiftedImages(shifted.Height, shifted.Width, shifted.MaxShift, shifted.Seed, shifted.Step));
                break;
            case CpuOperation.Distort:
                ref DistortCommand distort = ref command.Distort;
                CpuDistortion.Distort(worker, workers, BatchOf(distort.Batch), distort.First, distort.Rows, distort.Shape, ref At<float>(distort.Field));
                break;
            case CpuOperation.SoftmaxCrossEntropy:
                ref SoftmaxCrossEntropyCommand softmax = ref command.SoftmaxCrossEntropy;
                CpuSoftmaxSimd.Run(worker, workers, width, new CpuSoftmaxSimd.Buffers(
                    ref At<float>(softmax.Logits), ref At<int>(softmax.Labels), ref At<float>(softmax.DLogits),
                    ref Unsafe.Add(ref At<float>(softmax.Loss), softmax.First), ref Unsafe.Add(ref At<int>(softmax.Prediction), softmax.First),
                    softmax.WriteGradient != 0), softmax.Rows, softmax.Classes, softmax.GradientScale, softmax.LabelSmoothing);
                break;
            case CpuOperation.OptimizerStep:
                CpuOptimizerUpdates.Run(worker, workers, width, ref command.OptimizerStep);
                break;
            case CpuOperation.ConvIm2Col:
                ref ConvLayoutCommand im2col = ref command.ConvIm2Col;
                CpuConvolution.Im2Col(worker, workers, im2col.Shape, ref At<float>(im2col.Source), ref At<float>(im2col.Target));
                break;
            case CpuOperation.ConvNhwcToNchw:
                ref ConvLayoutCommand toNchw = ref command.ConvNhwcToNchw;
                CpuConvolution.NhwcToNchw(worker, workers, toNchw.Shape, ref At<float>(toNchw.Source), ref At<float>(toNchw.Target));
                break;
            case CpuOperation.ConvNchwToNhwc:
                ref ConvNchwToNhwcCommand toNhwc = ref command.ConvNchwToNhwc;
                CpuConvolution.NchwToNhwc(worker, workers, toNhwc.Shape, ref At<float>(toNhwc.Dy), ref At<float>(toNhwc.Y),
                    toNhwc.ReluMask != 0, ref At<float>(toNhwc.Dz));
                break;
            case CpuOperation.ConvBiasPartials:
                ref ConvLayoutCommand partials = ref command.ConvBiasPartials;
                CpuConvolution.BiasPartials(worker, workers, partials.Shape, width, ref At<float>(partials.Source), ref At<float>(partials.Target));
                break;
            case CpuOperation.ConvCol2Im:
                ref ConvLayoutCommand col2im = ref command.ConvCol2Im;
                CpuConvolution.Col2Im(worker, workers, col2im.Shape, ref At<float>(col2im.Source), ref At<float>(col2im.Target));
                break;
            case CpuOperation.MaxPool2Forward:
                ref MaxPool2ForwardCommand poolForward = ref command.MaxPool2Forward;
                CpuPooling.Forward(worker, workers, poolForward.Shape, ref At<float>(poolForward.X), ref At<float>(poolForward.Y),
                    ref At<int>(poolForward.Argmax));
                break;
            case CpuOperation.MaxPool2Backward:
                ref MaxPool2BackwardCommand poolBackward = ref command.MaxPool2Backward;
                CpuPooling.Backward(worker, workers, poolBackward.Shape, ref At<float>(poolBackward.Dy), ref At<int>(poolBackward.Argmax),
                    ref At<float>(poolBackward.Dx));
                break;
            case CpuOperation.ConvInputGradient:
                ref ConvInputGradientCommand inputGradient = ref command.ConvInputGradient;
                CpuConvolution.InputGradient(worker, workers, inputGradient.Shape, width, ref At<float>(inputGradient.Dz),
                    ref At<float>(inputGradient.Weights), ref At<float>(inputGradient.Dx));
                break;
            case CpuOperation.ConvForwardRows:
                ref ConvForwardRowsCommand forwardRows = ref command.ConvForwardRows;
                CpuDenseSimd.ConvForwardRows(worker, workers, forwardRows.Shape, forwardRows.Relu != 0, width, ref At<float>(forwardRows.X),
                    ref At<float>(forwardRows.Weights), ref At<float>(forwardRows.Bias), ref At<float>(forwardRows.Nhwc),
                    new CpuDenseSimd.PooledRows(forwardRows.Pooled != 0, forwardRows.Pool, ref At<float>(forwardRows.Y),
                        ref At<int>(forwardRows.Argmax)));
                break;
            case CpuOperation.ConvWeightGradient:
                ref ConvWeightGradientCommand weightGradient = ref command.ConvWeightGradient;
                CpuDenseSimd.ConvWeightGradient(worker, workers, weightGradient.Shape, width, ref At<float>(weightGradient.Dz),
                    ref At<float>(weightGradient.X), ref At<float>(weightGradient.DWeights));
                break;
            case CpuOperation.MaxPool2ForwardNhwc:
                ref MaxPool2ForwardCommand poolForwardNhwc = ref command.MaxPool2ForwardNhwc;
                CpuPooling.ForwardNhwc(worker, workers, poolForwardNhwc.Shape, ref At<float>(poolForwardNhwc.X),
                    ref At<float>(poolForwardNhwc.Y), ref At<int>(poolForwardNhwc.Argmax));
                break;
            case CpuOperation.MaxPool2BackwardNhwc:
                ref MaxPool2BackwardNhwcCommand poolBackwardNhwc = ref command.MaxPool2BackwardNhwc;
                CpuPooling.BackwardNhwc(worker, workers, poolBackwardNhwc.Shape, poolBackwardNhwc.ReluMask != 0,
                    ref At<float>(poolBackwardNhwc.Dy), ref At<int>(poolBackwardNhwc.Argmax), ref At<float>(poolBackwardNhwc.Y),
                    ref At<float>(poolBackwardNhwc.Dx), ref At<float>(poolBackwardNhwc.Partials));
                break;
            case CpuOperation.BatchNormStatistics:
                CpuBatchNorm.Statistics(worker, workers, in command.BatchNormStatistics);
                break;
            case CpuOperation.BatchNormForward:
                CpuBatchNorm.Forward(worker, workers, in command.BatchNormForward);
                break;
            case CpuOperation.BatchNormParameterGradients:
                CpuBatchNorm.ParameterGradients(worker, workers, in command.BatchNormParameterGradients);
                break;
            case CpuOperation.BatchNormInputGradient:
                CpuBatchNorm.InputGradient(worker, workers, in command.BatchNormInputGradient);
                break;
            case CpuOperation.ExponentialAverage:
                ref ExponentialAverageCommand averageCommand = ref command.ExponentialAverage;
                CpuWeightAverage.Run(worker, workers, width, ref At<float>(averageCommand.Average), ref At<float>(averageCommand.Weights),
                    averageCommand.Count, averageCommand.Decay);
                break;
            default:
                throw new InvalidOperationException($"unknown CPU command {command.Operation}");
        }
    }

    /// <summary>A gather command's batch operands as references.</summary>
    private static CpuBatchGatherSimd.Batch BatchOf(in BatchOperands batch) => new(
        ref At<byte>(batch.Images), ref At<byte>(batch.Labels), ref At<int>(batch.Order), ref At<float>(batch.X), ref At<int>(batch.Y));

    /// <summary>The element at an address of the CPU accelerator's (unmanaged) memory as a managed
    /// reference: the null reference moved by that many bytes (no unsafe code; the garbage collector
    /// ignores references outside its heap).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ref T At<T>(long address) => ref Unsafe.AddByteOffset(ref Unsafe.NullRef<T>(), (nint)address);
}
