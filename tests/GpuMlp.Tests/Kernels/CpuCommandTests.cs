// A fused CPU program's commands (kernels/Cpu/CpuCommand.cs) carry each operation's operands in the
// field named after it, under the names of the kernel's parameters: what the launcher recorded is
// checked against the views' own addresses before the program runs.
using System.Reflection;
using System.Runtime.InteropServices;
using GpuMlp.Compute;
using GpuMlp.Kernels;
using GpuMlp.Kernels.Cpu;
using ILGPU;
using ILGPU.Runtime;

namespace GpuMlp.Tests.Kernels;

[Collection(DeviceCollection.Name)]
public sealed class CpuCommandTests(DeviceFixture fixture)
{
    private static long Address(ArrayView<float> view) => view.LoadEffectiveAddressAsPtr().ToInt64();

    [Fact]
    public void RecordedCommands_FusedScope_CarryEachOperandUnderItsName()
    {
        KernelSet set = fixture.Cpu(CpuSimdRequest.Vector256);
        DeviceKernels kernels = set.Kernels;
        CpuSimdKernelSet simdSet = kernels.CpuSimdSet!;
        Assert.True(kernels.FusesLaunches);
        using var a = set.Accelerator.Filled(12, 1f);
        using var b = set.Accelerator.Filled(15, 2f);
        using var c = set.Accelerator.Filled(20, 0f);
        using var db = set.Accelerator.Filled(5, 0f);
        using var parameters = set.Accelerator.Filled(7, 1f);
        using var gradients = set.Accelerator.Filled(7, 0.5f);
        using var momentum = set.Accelerator.Filled(7, 0f);
        var shape = GemmShape.TransposedA(4, 5, 3);
        var step = new SgdStep { LearningRate = 0.1f, Momentum = 0.9f };
        using (kernels.FuseLaunches())
        {
            kernels.WeightGradient(shape, a.View, b.View, c.View, db.View);
            kernels.OptimizerStep(new OptimizerOperands(parameters.View, gradients.View, momentum.View), 7, step);

            ReadOnlySpan<CpuCommand> recorded = simdSet.Recorded;
            Assert.Equal(2, recorded.Length);
            Assert.Equal(CpuOperation.Gemm, recorded[0].Operation);
            GemmCommand gemm = recorded[0].Gemm;
            Assert.Equal((Address(a.View), Address(b.View), Address(c.View), Address(db.View)), (gemm.A, gemm.B, gemm.C, gemm.ColumnSums));
            Assert.Equal(1, gemm.SumBColumns);
            Assert.Equal(shape, gemm.Shape);
            Assert.Equal(default, recorded[0].OptimizerStep);

            Assert.Equal(CpuOperation.OptimizerStep, recorded[1].Operation);
            OptimizerCommand sgd = recorded[1].OptimizerStep;
            Assert.Equal((Address(parameters.View), Address(gradients.View), Address(momentum.View), 7),
                (sgd.Parameters, sgd.Gradients, sgd.State1, sgd.Count));
            // SGD uses one state slot: the other two are the placeholder.
            Assert.Equal((Address(kernels.Unused), Address(kernels.Unused)), (sgd.State2, sgd.State3));
            Assert.Equal(typeof(SgdStep), CpuOptimizerUpdates.UpdateType(sgd));
            Assert.Equal(step, CpuOptimizerUpdates.Step<SgdStep>(sgd));
            Assert.Equal(default, recorded[1].Gemm);
        }
        Assert.Equal(0, simdSet.Recorded.Length);
        // db = column sums of B [3, 5] of 2s.
        Assert.All(db.Download(), value => Assert.Equal(6f, value));
    }

    /// <summary>Every optimiser update of the kernels assembly fits an OptimizerCommand's step blob
    /// (a larger one is refused when its first command is made) and comes back from it unchanged,
    /// under its own number.</summary>
    [Fact]
    public void OptimizerCommand_EveryOptimizerUpdate_CarriesItsStepUnchanged()
    {
        Assert.NotEmpty(OptimizerKernels.UpdateTypes);
        var roundTrip = typeof(CpuCommandTests).GetMethod(nameof(RoundTrip), BindingFlags.NonPublic | BindingFlags.Static)!;
        var numbers = new HashSet<int>();
        foreach (Type update in OptimizerKernels.UpdateTypes)
            Assert.True(numbers.Add((int)roundTrip.MakeGenericMethod(update).Invoke(null, null)!), update.Name);
        Assert.DoesNotContain(0, numbers);
    }

    private static int RoundTrip<TUpdate>()
        where TUpdate : unmanaged, IOptimizerUpdate
    {
        // Every byte of the update nonzero, so a byte lost or moved on the way shows.
        var update = default(TUpdate);
        Span<byte> bytes = MemoryMarshal.AsBytes(new Span<TUpdate>(ref update));
        for (int b = 0; b < bytes.Length; b++)
            bytes[b] = (byte)(b + 1);
        OptimizerCommand command = CpuOptimizerUpdates.Command(update, 1, 2, 3, 4, 5, 6);
        Assert.Equal(typeof(TUpdate), CpuOptimizerUpdates.UpdateType(command));
        Assert.Equal(update, CpuOptimizerUpdates.Step<TUpdate>(command));
        Assert.Equal((1L, 2L, 3L, 4L, 5L, 6), (command.Parameters, command.Gradients, command.State1, command.State2, command.State3, command.Count));
        return command.Update;
    }
}
