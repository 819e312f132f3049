using GpuMlp.Kernels;
using GpuMlp.Training;

namespace GpuMlp.Bench;

/// <summary>The eight GEMMs of one training step of the 784-512-256-10 model, exactly as
/// MlpNetwork launches them (layer l has fan-in In(l) and fan-out Out(l)).</summary>
public enum GemmCase
{
    /// <summary>Forward layer 0: Z[B,512] = X[B,784] W0[784,512], bias+ReLU+dropout epilogue.</summary>
    Fwd1_784x512,
    /// <summary>Forward layer 1: Z[B,256] = H[B,512] W1[512,256], bias+ReLU+dropout epilogue.</summary>
    Fwd2_512x256,
    /// <summary>Forward layer 2: logits[B,10] = H[B,256] W2[256,10], bias epilogue.</summary>
    Fwd3_256x10,
    /// <summary>dW0[784,512] = X^T dZ0 (GemmShape.TransposedA, K = batch).</summary>
    DW1_784x512,
    /// <summary>dW1[512,256] = H0^T dZ1.</summary>
    DW2_512x256,
    /// <summary>dW2[256,10] = H1^T dZ2.</summary>
    DW3_256x10,
    /// <summary>dZ0[B,512] = dZ1[B,256] W1^T (GemmShape.TransposedB), ActiveMask epilogue.</summary>
    DX2_256to512,
    /// <summary>dZ1[B,256] = dZ2[B,10] W2^T, ActiveMask epilogue.</summary>
    DX3_10to256,
}

/// <summary>What a GemmCase computes at a given batch size.</summary>
public readonly record struct GemmProblem(GemmShape Shape, EpilogueMode Mode, int Layer, long ALength, long BLength)
{
    public static NetworkShape Model { get; } = NetworkShape.Mnist([512, 256]);

    public long Flops => 2L * Shape.M * Shape.N * Shape.K;

    /// <summary>Bytes a perfectly cached GEMM must move: A and B read once, C written once
    /// (plus the aux read of ActiveMask).</summary>
    public long MinimumBytes => 4L * (ALength + BLength + (long)Shape.M * Shape.N * (Mode == EpilogueMode.ActiveMask ? 2 : 1));

    public static GemmProblem For(GemmCase gemmCase, int batch)
    {
        var model = Model;
        switch (gemmCase)
        {
            case GemmCase.Fwd1_784x512:
            case GemmCase.Fwd2_512x256:
            case GemmCase.Fwd3_256x10:
            {
                int l = gemmCase - GemmCase.Fwd1_784x512;
                var mode = l == model.LayerCount - 1 ? EpilogueMode.Bias : EpilogueMode.BiasReluDropout;
                return new GemmProblem(GemmShape.Plain(batch, model.Out(l), model.In(l)), mode, l,
                    (long)batch * model.In(l), (long)model.In(l) * model.Out(l));
            }
            case GemmCase.DW1_784x512:
            case GemmCase.DW2_512x256:
            case GemmCase.DW3_256x10:
            {
                int l = gemmCase - GemmCase.DW1_784x512;
                return new GemmProblem(GemmShape.TransposedA(model.In(l), model.Out(l), batch), EpilogueMode.Store, l,
                    (long)batch * model.In(l), (long)batch * model.Out(l));
            }
            case GemmCase.DX2_256to512:
            case GemmCase.DX3_10to256:
            {
                int l = gemmCase - GemmCase.DX2_256to512 + 1;
                return new GemmProblem(GemmShape.TransposedB(batch, model.In(l), model.Out(l)), EpilogueMode.ActiveMask, l,
                    (long)batch * model.Out(l), (long)model.In(l) * model.Out(l));
            }
            default:
                throw new ArgumentOutOfRangeException(nameof(gemmCase), gemmCase, null);
        }
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

/// <summary>FLOPs of one whole training step / forward pass of the model.</summary>
public static class StepWork
{
    /// <summary>Sum over layers of In(l) * Out(l): the multiply-adds of one row's forward pass.</summary>
    public static long ForwardMacsPerRow
    {
        get
        {
            var model = GemmProblem.Model;
            long macs = 0;
            for (int l = 0; l < model.LayerCount; l++)
                macs += (long)model.In(l) * model.Out(l);
            return macs;
        }
    }

    /// <summary>Forward + dW + dX (no dX for the first layer) GEMM FLOPs of one step.</summary>
    public static long TrainFlops(int batch)
    {
        var model = GemmProblem.Model;
        long dxMacs = 0;
        for (int l = 1; l < model.LayerCount; l++)
            dxMacs += (long)model.In(l) * model.Out(l);
        return 2L * batch * (2 * ForwardMacsPerRow + dxMacs);
    }

    public static long ForwardFlops(int batch) => 2L * batch * ForwardMacsPerRow;
}
