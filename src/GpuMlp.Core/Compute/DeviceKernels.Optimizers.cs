using GpuMlp.Kernels;
using ILGPU;

namespace GpuMlp.Compute;

// The optimiser updates: one element-wise launch over the flat parameter buffer, whichever the
// optimiser (the set's: kernels/OptimizerKernels.cs's OptimizerStepKernel over the update, or on
// the CPU SIMD set the update's ApplySimd through kernels/Cpu/CpuOptimizerKernels.cs, same bits,
// recorded into a fused step like every other SIMD launch). Every update type is compiled with
// every other kernel when DeviceKernels is built, so no training step pays for a first-use
// compilation.
public sealed partial class DeviceKernels
{
    /// <summary>One step of the optimiser `update` (AdamStep, AdamWStep, SgdStep, RmspropStep, ...):
    /// parameters and the state slots the update uses updated in place, all `count` long.</summary>
    public void OptimizerStep<TUpdate>(in OptimizerOperands operands, int count, TUpdate update)
        where TUpdate : unmanaged, IOptimizerUpdate =>
        set.OptimizerStep(operands with
        {
            State1 = OrUnused(operands.State1),
            State2 = OrUnused(operands.State2),
            State3 = OrUnused(operands.State3),
        }, count, update);

    private ArrayView<float> OrUnused(ArrayView<float> state) => state.IsValid ? state : Unused;
}
