using GpuMlp.Data;
using GpuMlp.Kernels;
using GpuMlp.Training;

namespace GpuMlp.Bench;

/// <summary>A GEMM of one training step of the 784-512-256-10 model, taken from the list
/// LayerNetwork launches for the MLP (GemmLaunch.StepOf), so the benchmarks time exactly those launches.
/// Case names keep the benchmarks' history: Fwd1_784x512 (forward of layer 1), DW1_784x512 (its
/// weight gradient), DX2_256to512 (the input gradient of layer 2).</summary>
public readonly record struct GemmProblem(string Case, GemmLaunch Launch)
{
    public static Architecture Model { get; } = NetworkInput.Mlp([512, 256], MnistDataset.Schema, 0f);

    public GemmShape Shape => Launch.Shape;
    public EpilogueMode Mode => Launch.Mode;
    public int Layer => Launch.Layer;

    /// <summary>op(A) is [M, K] and op(B) is [K, N] whatever the strides.</summary>
    public long ALength => (long)Shape.M * Shape.K;
    public long BLength => (long)Shape.K * Shape.N;

    public long Flops => 2L * Shape.M * Shape.N * Shape.K;

    /// <summary>Bytes a perfectly cached GEMM must move: A and B read once, C written once
    /// (plus the aux read of ActiveMask).</summary>
    public long MinimumBytes => 4L * (ALength + BLength + (long)Shape.M * Shape.N * (Mode == EpilogueMode.ActiveMask ? 2 : 1));

    /// <summary>Every GEMM of a training step at <paramref name="batch"/> rows (dropout on), forward
    /// products first, then weight gradients, then input gradients, each by layer.</summary>
    public static IReadOnlyList<GemmProblem> Step(int batch) =>
        GemmLaunch.StepOf(Model, batch, dropout: true)
            .OrderBy(l => l.Pass).ThenBy(l => l.Layer)
            .Select(l => new GemmProblem(Name(l), l))
            .ToArray();

    /// <summary>The case names, in <see cref="Step"/>'s order (they do not depend on the batch).</summary>
    public static IEnumerable<string> Cases() => Step(1).Select(p => p.Case);

    public static GemmProblem For(string gemmCase, int batch) =>
        Step(batch).FirstOrDefault(p => p.Case == gemmCase) is { Case: not null } problem
            ? problem
            : throw new ArgumentOutOfRangeException(nameof(gemmCase), gemmCase, "not a GEMM of the training step");

    private static string Name(GemmLaunch launch)
    {
        IReadOnlyList<int> widths = Model.MlpWidths!;
        int inputs = widths[launch.Layer], outputs = widths[launch.Layer + 1];
        int number = launch.Layer + 1;
        return launch.Pass switch
        {
            GemmPass.Forward => $"Fwd{number}_{inputs}x{outputs}",
            GemmPass.WeightGradient => $"DW{number}_{inputs}x{outputs}",
            _ => $"DX{number}_{outputs}to{inputs}",
        };
    }

    /// <summary>The plain host reference: C = op(A) op(B) with the same strides, a triple loop
    /// in float, no epilogue.</summary>
    public static void NaiveHost(in GemmShape s, float[] a, float[] b, float[] c)
    {
        for (int m = 0; m < s.M; m++)
        {
            for (int n = 0; n < s.N; n++)
            {
                float acc = 0f;
                for (int k = 0; k < s.K; k++)
                    acc += a[m * s.AStrideM + k * s.AStrideK] * b[k * s.BStrideK + n * s.BStrideN];
                c[m * s.N + n] = acc;
            }
        }
    }
}

/// <summary>GEMM FLOPs of one whole training step / forward pass of the model, summed over the
/// launches the network lists.</summary>
public static class StepWork
{
    /// <summary>Forward + dW + dX (no dX for the first layer) GEMM FLOPs of one step.</summary>
    public static long TrainFlops(int batch) => GemmProblem.Step(batch).Sum(p => p.Flops);

    public static long ForwardFlops(int batch) =>
        GemmProblem.Step(batch).Where(p => p.Launch.Pass == GemmPass.Forward).Sum(p => p.Flops);
}
