// Every optimiser's step: one element-wise launch over the flat parameter buffer, generic over the
// optimiser's update (TUpdate : IOptimizerUpdate: AdamStep, AdamWStep, SgdStep, RmspropStep, each in
// its own file with its per-step scalars as fields).
//
// Shapes: parameters, gradients and every state buffer the update uses are flat buffers of `count`
// floats holding every layer's weights and biases, so one launch updates the whole model.
// parameters and the state buffers in use are UPDATED IN PLACE (overwritten with the new values);
// gradients is read only; nothing accumulates across launches. A state slot the update does not use
// with this step's scalars (IOptimizerUpdate.StateName returns null) is neither read nor written, so
// any view (e.g. one element) will do for it. The per-step scalars (bias corrections, first-step
// flags, decay factors) are computed on the host and carried by the update, which keeps the step
// counter off the device.
//
// Each update carries its element-wise step twice, side by side in its file: Apply, compiled by
// ILGPU into this kernel (PTX, OpenCL C, the CPU accelerator), and ApplySimd, the CPU SIMD set's
// loop over one worker's share (kernels/Cpu/CpuOptimizerKernels.cs runs it). ApplySimd must do
// Apply's operations in Apply's order with no fused multiply-add, so both give the same bits.
using GpuMlp.Kernels.Cpu;
using ILGPU;

namespace GpuMlp.Kernels;

/// <summary>One optimiser's update of one step: its per-step scalars as the struct's fields, the
/// element-wise update for the portable kernel and for the CPU SIMD set, and which of the three state
/// slots it uses. Implemented by unmanaged structs of this assembly, every one of which is compiled
/// when a kernel set is built (<see cref="OptimizerKernels.UpdateTypes"/>).</summary>
public interface IOptimizerUpdate
{
    /// <summary>The optimiser's name in messages ("Adam", "SGD").</summary>
    string Name { get; }

    /// <summary>The kernel's name for the state buffer in slot 1, 2 or 3 (firstMoment, momentumBuffer,
    /// ...) when this step reads and writes it; null when this step leaves the slot alone.</summary>
    string? StateName(int slot);

    /// <summary>Updates element `index`: parameters[index] and the state in use, from gradients[index].</summary>
    void Apply(int index, ArrayView<float> parameters, ArrayView<float> gradients,
        ArrayView<float> state1, ArrayView<float> state2, ArrayView<float> state3);

    /// <summary>The same update on the CPU SIMD set: this worker's share of the `count` elements at
    /// one vector width, the same operations in Apply's order (so the same bits).</summary>
    void ApplySimd<TOps, TV>(int worker, int workers, in CpuOptimizerBuffers buffers, int count)
        where TOps : struct, ISimdOps<TV>
        where TV : struct;
}

/// <summary>An optimiser step's buffers: the flat parameters and gradients, and the three state slots
/// in the update's order (see each IOptimizerUpdate). A slot left default is one the step does not
/// use; DeviceKernels passes its one-element placeholder for it (a kernel needs a real view).</summary>
public readonly record struct OptimizerOperands(
    ArrayView<float> Parameters, ArrayView<float> Gradients,
    ArrayView<float> State1 = default, ArrayView<float> State2 = default, ArrayView<float> State3 = default);

public static class OptimizerKernels
{
    /// <summary>One grid-stride pass applying `update` to each of the `count` elements.</summary>
    public static void OptimizerStepKernel<TUpdate>(
        ArrayView<float> parameters, ArrayView<float> gradients,
        ArrayView<float> state1, ArrayView<float> state2, ArrayView<float> state3, int count, TUpdate update)
        where TUpdate : unmanaged, IOptimizerUpdate
    {
        int stride = Grid.DimX * Group.DimX;
        for (int i = Grid.GlobalIndex.X; i < count; i += stride)
            update.Apply(i, parameters, gradients, state1, state2, state3);
    }

    /// <summary>Every optimiser update of this assembly (the structs implementing
    /// <see cref="IOptimizerUpdate"/>), in name order: the kernel sets load OptimizerStepKernel for
    /// each when they are built, and the codegen tests compile it for each.</summary>
    public static IReadOnlyList<Type> UpdateTypes { get; } =
        [.. typeof(IOptimizerUpdate).Assembly.GetTypes()
            .Where(type => type.IsValueType && typeof(IOptimizerUpdate).IsAssignableFrom(type))
            .OrderBy(type => type.Name, StringComparer.Ordinal)];
}
