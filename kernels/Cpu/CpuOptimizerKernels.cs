// Every optimiser on the CPU SIMD set: one command (OptimizerCommand, CpuCommand.cs) that runs any
// IOptimizerUpdate's ApplySimd (kernels/AdamKernels.cs, SgdKernels.cs, RmspropKernels.cs, ...), the
// SIMD twin of the update OptimizerKernels.OptimizerStepKernel runs on the portable set.
//
// Shapes as in kernels/OptimizerKernels.cs: parameters, gradients and every state buffer in use hold
// `count` floats (the whole model's flat buffer); parameters and the state buffers in use are
// UPDATED IN PLACE (overwritten), gradients is read only, nothing accumulates across launches. State
// slots the step does not use (IOptimizerUpdate.StateName null) are neither read nor written, so a
// one-element placeholder will do for them.
//
// The element range is split into contiguous runs of whole vectors, one per worker (the last vector
// partial, loaded and stored lane by lane); each update's ApplySimd runs its worker's run.
//
// OptimizerCommand is not generic (CpuCommand must be a blittable struct of fixed layout): it names
// its update by a number and holds the update struct's bytes in OptimizerStepBlob.
// CpuOptimizerUpdates numbers each update type when its first command is made and keeps, per number,
// the runner that reads the blob back as that type: the only place the CPU program turns a command
// into an update, with no list of optimisers to extend.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using ILGPU;

namespace GpuMlp.Kernels.Cpu;

public static class CpuOptimizerKernels
{
    /// <summary>One optimiser step launched on its own (outside a fused program).</summary>
    [CpuOnlyKernel]
    public static void OptimizerStepSimdKernel(CpuSimdWidth width, OptimizerCommand command)
    {
        CpuOptimizerUpdates.Run(Grid.GlobalIndex.X, Grid.DimX * Group.DimX, width, command);
    }
}

/// <summary>An optimiser's buffers as references: the parameters, the gradients and the three state
/// slots in the update's order (Adam, AdamW: first, second moment; SGD: momentum buffer; RMSprop:
/// square average, momentum buffer, gradient average). Unused slots may be any reference (never
/// dereferenced).</summary>
public readonly ref struct CpuOptimizerBuffers(ref float parameters, ref float gradients, ref float state1, ref float state2, ref float state3)
{
    public readonly ref float Parameters = ref parameters;
    public readonly ref float Gradients = ref gradients;
    public readonly ref float State1 = ref state1;
    public readonly ref float State2 = ref state2;
    public readonly ref float State3 = ref state3;

    /// <summary>This worker's vectors [first, end) of the ceil(count / Lanes) vectors.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public (int First, int End) Range<TOps, TV>(int worker, int workers, int count)
        where TOps : struct, ISimdOps<TV>
        where TV : struct
    {
        int vectors = (count + TOps.Lanes - 1) / TOps.Lanes;
        return (Simd.RangeStart(vectors, worker, workers), Simd.RangeStart(vectors, worker + 1, workers));
    }
}

/// <summary>The optimiser update types OptimizerCommands name, numbered from 1 in the order their
/// first command was made (numbers hold for this process only: commands are never stored).</summary>
public static class CpuOptimizerUpdates
{
    private delegate void Runner(int worker, int workers, CpuSimdWidth width, in OptimizerCommand command);

    private static readonly Lock Gate = new();

    // Index 0 is no update (a zeroed command); written under Gate, read without it (each array is
    // published whole, and a command's number was assigned before the command was recorded).
    private static Runner?[] runners = [null];
    private static Type?[] types = [null];

    /// <summary>The command that runs `update` over `count` elements at these addresses.</summary>
    public static OptimizerCommand Command<TUpdate>(in TUpdate update, long parameters, long gradients,
        long state1, long state2, long state3, int count)
        where TUpdate : unmanaged, IOptimizerUpdate
    {
        var command = new OptimizerCommand
        {
            Update = Number<TUpdate>.Value,
            Parameters = parameters,
            Gradients = gradients,
            State1 = state1,
            State2 = state2,
            State3 = state3,
            Count = count,
        };
        Unsafe.As<OptimizerStepBlob, TUpdate>(ref command.Step) = update;
        return command;
    }

    /// <summary>The update type a command names (null for none).</summary>
    public static Type? UpdateType(in OptimizerCommand command) =>
        command.Update > 0 && command.Update < Volatile.Read(ref types).Length ? Volatile.Read(ref types)[command.Update] : null;

    /// <summary>The update a command carries, read back as TUpdate (which must be the type it names).</summary>
    public static TUpdate Step<TUpdate>(in OptimizerCommand command)
        where TUpdate : unmanaged, IOptimizerUpdate
    {
        if (command.Update != Number<TUpdate>.Value)
            throw new InvalidOperationException($"the optimizer command holds {UpdateType(command)?.Name ?? "no update"}, not {typeof(TUpdate).Name}");
        return Unsafe.As<OptimizerStepBlob, TUpdate>(ref Unsafe.AsRef(in command.Step));
    }

    /// <summary>Runs this worker's share of the command (CpuProgram and the standalone kernel call this).</summary>
    [ILGPU.Frontend.External("gpumlp_cpu_optimizer_step")]
    public static void Run(int worker, int workers, CpuSimdWidth width, OptimizerCommand command) =>
        Run(worker, workers, width, ref command);

    internal static void Run(int worker, int workers, CpuSimdWidth width, ref OptimizerCommand command)
    {
        Runner?[] all = Volatile.Read(ref runners);
        Runner run = command.Update > 0 && command.Update < all.Length ? all[command.Update]! :
            throw new InvalidOperationException($"optimizer command names update {command.Update}, which no command was made for");
        run(worker, workers, width, command);
    }

    /// <summary>TUpdate's number, assigned once (the type initialiser runs once per type).</summary>
    private static class Number<TUpdate>
        where TUpdate : unmanaged, IOptimizerUpdate
    {
        public static readonly int Value = Register(typeof(TUpdate), Unsafe.SizeOf<TUpdate>(), RunUpdate<TUpdate>);
    }

    private static int Register(Type type, int size, Runner runner)
    {
        if (size > Unsafe.SizeOf<OptimizerStepBlob>())
            throw new InvalidOperationException(
                $"{type.Name} is {size} bytes; an optimizer command holds an update of at most {Unsafe.SizeOf<OptimizerStepBlob>()} bytes (OptimizerStepBlob)");
        lock (Gate)
        {
            Volatile.Write(ref types, [.. types, type]);
            Volatile.Write(ref runners, [.. runners, runner]);
            return runners.Length - 1;
        }
    }

    /// <summary>The command's update, read back as TUpdate, run at the command's width.</summary>
    private static void RunUpdate<TUpdate>(int worker, int workers, CpuSimdWidth width, in OptimizerCommand command)
        where TUpdate : unmanaged, IOptimizerUpdate
    {
        TUpdate update = Unsafe.As<OptimizerStepBlob, TUpdate>(ref Unsafe.AsRef(in command.Step));
        var buffers = new CpuOptimizerBuffers(ref At(command.Parameters), ref At(command.Gradients),
            ref At(command.State1), ref At(command.State2), ref At(command.State3));
        switch (width)
        {
            case CpuSimdWidth.Vector512:
                update.ApplySimd<Vector512Ops, Vector512<float>>(worker, workers, buffers, command.Count);
                break;
            case CpuSimdWidth.Vector256:
                update.ApplySimd<Vector256Ops, Vector256<float>>(worker, workers, buffers, command.Count);
                break;
            case CpuSimdWidth.Scalar:
                update.ApplySimd<ScalarOps, float>(worker, workers, buffers, command.Count);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(width), width, "not a CPU SIMD width");
        }
    }

    /// <summary>The float at an address of the CPU accelerator's memory as a managed reference.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ref float At(long address) => ref Unsafe.AddByteOffset(ref Unsafe.NullRef<float>(), (nint)address);
}
