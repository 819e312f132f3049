// The CPU SIMD kernel set (CpuSimdKernelSet.cs) hands raw addresses to kernels/Cpu, where nothing
// checks an index, so each launcher checks its operands' lengths against its shape on the host
// (CpuOperandLengths). Here every launcher gets one operand one element too short, standalone and
// inside a fused scope: an ArgumentException naming the operand and both lengths, and nothing
// launched or recorded. The short operand is the start of a larger buffer, so were a check missing
// the overrun would land in the test's own memory (and the test would fail on the missing
// exception, not corrupt anything). That correct lengths pass is every other CPU SIMD test.
using GpuMlp.Compute;
using GpuMlp.Kernels;
using ILGPU;
using ILGPU.Runtime;

namespace GpuMlp.Tests.Kernels;

[Collection(DeviceCollection.Name)]
public sealed class CpuOperandLengthTests(DeviceFixture fixture)
{
    /// <summary>Views of exact lengths cut from one large zeroed buffer per element type (zero is a
    /// valid sample index, label, prediction and argmax, so the passing launches read in bounds).</summary>
    private sealed class Views : IDisposable
    {
        private readonly MemoryBuffer1D<float, Stride1D.Dense> floats;
        private readonly MemoryBuffer1D<int, Stride1D.Dense> ints;
        private readonly MemoryBuffer1D<byte, Stride1D.Dense> bytes;
        private readonly MemoryBuffer1D<double, Stride1D.Dense> doubles;

        public Views(Accelerator accelerator)
        {
            floats = accelerator.Allocate1D<float>(1 << 16);
            ints = accelerator.Allocate1D<int>(1 << 16);
            bytes = accelerator.Allocate1D<byte>(1 << 16);
            doubles = accelerator.Allocate1D<double>(1 << 12);
            floats.MemSetToZero();
            ints.MemSetToZero();
            bytes.MemSetToZero();
            doubles.MemSetToZero();
            accelerator.Synchronize();
        }

        /// <summary>The operand whose view comes out one element short.</summary>
        public string Short { get; set; } = "";

        public ArrayView<float> F(string name, long length) => floats.View.SubView(0, Length(name, length));
        public ArrayView<int> I(string name, long length) => ints.View.SubView(0, Length(name, length));
        public ArrayView<byte> B(string name, long length) => bytes.View.SubView(0, Length(name, length));
        public ArrayView<double> D(string name, long length) => doubles.View.SubView(0, Length(name, length));

        private long Length(string name, long length) => name == Short ? length - 1 : length;

        public void Dispose()
        {
            floats.Dispose();
            ints.Dispose();
            bytes.Dispose();
            doubles.Dispose();
        }
    }

    private static readonly ConvShape Conv = new(2, 3, 6, 5, 4, 3, 3, 1);
    private static readonly PoolShape Pool = new(2, 3, 6, 4);
    private static readonly BatchNormShape Norm = new(2, 3, 5);

    // 1x3x4 images with an elastic field of radius 1: 2 x (3 + 2) x 4 = 40 floats per row.
    private static readonly DistortionShape Elastic = new() { Channels = 1, Height = 3, Width = 4, ElasticAlpha = 1f, ElasticRadius = 1, ElasticDecay = 0.5, ElasticNormalizer = 0.5 };

    private static DenseEpilogue Mode(EpilogueMode mode) => DenseEpilogue.Of(mode);

    /// <summary>Launch name -> (its operands, the launch given the views). Every operand listed is
    /// used by that launch (so each one, made short, must be refused).</summary>
    private static readonly Dictionary<string, (string[] Operands, Action<CpuSimdKernelSet, Views> Launch)> Launches =
        new(StringComparer.Ordinal)
        {
            ["gemm-plain-bias"] = (["a", "b", "c", "bias"], (l, v) => l.Gemm(GemmShape.Plain(4, 5, 3), Mode(EpilogueMode.BiasRelu),
                v.F("a", 12), v.F("b", 15), v.F("c", 20), v.F("bias", 5), v.F("aux", 1), v.F("bColumnSums", 1), sumBColumns: false)),
            ["gemm-transposed-b-active-mask"] = (["a", "b", "aux"], (l, v) => l.Gemm(GemmShape.TransposedB(4, 5, 3), Mode(EpilogueMode.ActiveMask),
                v.F("a", 12), v.F("b", 15), v.F("c", 20), v.F("bias", 1), v.F("aux", 20), v.F("bColumnSums", 1), sumBColumns: false)),
            ["gemm-transposed-a-column-sums"] = (["a", "b", "c", "bColumnSums"], (l, v) => l.Gemm(GemmShape.TransposedA(4, 5, 3), Mode(EpilogueMode.Store),
                v.F("a", 12), v.F("b", 15), v.F("c", 20), v.F("bias", 1), v.F("aux", 1), v.F("bColumnSums", 5), sumBColumns: true)),
            // A leading dimension wider than K: A [4, 3] inside rows of 7 spans 3 * 7 + 3 = 24.
            ["gemm-strided"] = (["a"], (l, v) => l.Gemm(GemmShape.Plain(4, 5, 3) with { AStrideM = 7 }, Mode(EpilogueMode.Store),
                v.F("a", 24), v.F("b", 15), v.F("c", 20), v.F("bias", 1), v.F("aux", 1), v.F("bColumnSums", 1), sumBColumns: false)),
            ["bias-gradient"] = (["dz", "db"], (l, v) => l.BiasGradient(v.F("dz", 21), 3, 7, v.F("db", 7))),
            ["gather"] = (["images", "order", "x", "y"], (l, v) => l.Gather(v.B("images", 10), v.B("labels", 4), v.I("order", 7), 4, 3, 10,
                v.F("x", 30), v.I("y", 3))),
            ["gather-shifted"] = (["images", "order", "x", "y"], (l, v) => l.GatherShifted(v.B("images", 12), v.B("labels", 4), v.I("order", 5), 2, 3,
                3, 4, 1, 1u, 2u, v.F("x", 36), v.I("y", 3))),
            ["distort-elastic"] = (["images", "order", "x", "y", "field"], (l, v) => l.Distort(v.B("images", 12), v.B("labels", 4), v.I("order", 5), 2, 3,
                Elastic, v.F("field", 3 * 40), v.F("x", 36), v.I("y", 3))),
            ["softmax-cross-entropy"] = (["logits", "labels", "dLogits", "loss", "prediction"], (l, v) => l.SoftmaxCrossEntropy(
                v.F("logits", 30), v.I("labels", 3), 3, 10, 1f / 3, true, v.F("dLogits", 30), 5, v.F("loss", 8), v.I("prediction", 8), 0.1f)),
            ["adam"] = (["parameters", "gradients", "firstMoment", "secondMoment"], (l, v) => l.OptimizerStep(new OptimizerOperands(v.F("parameters", 33), v.F("gradients", 33),
                v.F("firstMoment", 33), v.F("secondMoment", 33), v.F("unused", 1)), 33, new AdamStep { LearningRate = 1e-3f, Beta1 = 0.9f, Beta2 = 0.999f, BiasCorrection1 = 1f, BiasCorrection2 = 1f })),
            ["adamw"] = (["parameters", "gradients", "firstMoment", "secondMoment"], (l, v) => l.OptimizerStep(new OptimizerOperands(v.F("parameters", 33), v.F("gradients", 33),
                v.F("firstMoment", 33), v.F("secondMoment", 33), v.F("unused", 1)), 33, new AdamWStep { LearningRate = 1e-3f, Beta1 = 0.9f, Beta2 = 0.999f, BiasCorrection1 = 1f, BiasCorrection2 = 1f, DecayFactor = 1f })),
            ["sgd-momentum"] = (["parameters", "gradients", "momentumBuffer"], (l, v) => l.OptimizerStep(new OptimizerOperands(v.F("parameters", 33), v.F("gradients", 33),
                v.F("momentumBuffer", 33), v.F("unused", 1), v.F("unused", 1)), 33, new SgdStep { LearningRate = 0.1f, Momentum = 0.9f })),
            ["rmsprop-centered-momentum"] = (["parameters", "gradients", "squareAverage", "momentumBuffer", "gradientAverage"], (l, v) => l.OptimizerStep(new OptimizerOperands(
                v.F("parameters", 33), v.F("gradients", 33), v.F("squareAverage", 33), v.F("momentumBuffer", 33), v.F("gradientAverage", 33)), 33,
                new RmspropStep { LearningRate = 0.01f, Alpha = 0.99f, Epsilon = 1e-8f, Momentum = 0.5f, Centered = 1 })),
            ["exponential-average"] = (["average", "weights"], (l, v) => l.ExponentialAverage(v.F("average", 33), v.F("weights", 33), 33, 0.9f)),
            ["conv-im2col"] = (["x", "cols"], (l, v) => l.ConvIm2Col(Conv, v.F("x", Conv.InputLength), v.F("cols", Conv.ColumnsLength))),
            ["conv-nhwc-to-nchw"] = (["nhwc", "y"], (l, v) => l.ConvNhwcToNchw(Conv, v.F("nhwc", Conv.OutputLength), v.F("y", Conv.OutputLength))),
            ["conv-nchw-to-nhwc-relu"] = (["dy", "y", "dz"], (l, v) => l.ConvNchwToNhwc(Conv, v.F("dy", Conv.OutputLength), v.F("y", Conv.OutputLength), true,
                v.F("dz", Conv.OutputLength))),
            ["conv-bias-partials"] = (["dz", "partials"], (l, v) => l.ConvBiasPartials(Conv, v.F("dz", Conv.OutputLength), v.F("partials", Conv.Batch * Conv.OutChannels))),
            ["conv-col2im"] = (["dCols", "dx"], (l, v) => l.ConvCol2Im(Conv, v.F("dCols", Conv.ColumnsLength), v.F("dx", Conv.InputLength))),
            ["conv-input-gradient"] = (["dz", "weights", "dx"], (l, v) => l.ConvInputGradient(Conv, v.F("dz", Conv.OutputLength), v.F("weights", Conv.WeightLength),
                v.F("dCols", Conv.ColumnsLength), v.F("dx", Conv.InputLength))),
            ["max-pool-forward"] = (["x", "y", "argmax"], (l, v) => l.MaxPool2Forward(Pool, v.F("x", Pool.InputLength), v.F("y", Pool.OutputLength),
                v.I("argmax", Pool.OutputLength))),
            ["max-pool-backward"] = (["dy", "argmax", "dx"], (l, v) => l.MaxPool2Backward(Pool, v.F("dy", Pool.OutputLength), v.I("argmax", Pool.OutputLength),
                v.F("dx", Pool.InputLength))),
            ["max-pool-forward-nhwc"] = (["x", "y", "argmax"], (l, v) => l.MaxPool2ForwardNhwc(Pool, v.F("x", Pool.InputLength), v.F("y", Pool.OutputLength),
                v.I("argmax", Pool.OutputLength))),
            ["max-pool-backward-nhwc-relu"] = (["dy", "argmax", "y", "dx", "partials"], (l, v) => l.MaxPool2BackwardNhwc(Pool, true, v.F("dy", Pool.OutputLength),
                v.I("argmax", Pool.OutputLength), v.F("y", Pool.OutputLength), v.F("dx", Pool.InputLength), v.F("partials", Pool.Batch * Pool.Channels))),
            ["batch-norm-statistics"] = (["x", "mean", "variance", "runningMean", "runningVariance", "numBatchesTracked"], (l, v) => l.BatchNormStatistics(Norm,
                v.F("x", Norm.Length), v.F("mean", 3), v.F("variance", 3), v.F("runningMean", 3), v.F("runningVariance", 3), v.F("numBatchesTracked", 1))),
            ["batch-norm-forward"] = (["x", "mean", "variance", "weight", "bias", "y"], (l, v) => l.BatchNormForward(Norm, true, v.F("x", Norm.Length),
                v.F("mean", 3), v.F("variance", 3), v.F("weight", 3), v.F("bias", 3), v.F("y", Norm.Length))),
            ["batch-norm-parameter-gradients"] = (["dy", "y", "x", "mean", "variance", "dWeight", "dBias"], (l, v) => l.BatchNormParameterGradients(Norm, true,
                v.F("dy", Norm.Length), v.F("y", Norm.Length), v.F("x", Norm.Length), v.F("mean", 3), v.F("variance", 3), v.F("dWeight", 3), v.F("dBias", 3))),
            ["batch-norm-input-gradient"] = (["dy", "y", "x", "mean", "variance", "weight", "dWeight", "dBias", "dx"], (l, v) => l.BatchNormInputGradient(Norm, true, true, 2f,
                new BatchNormOperands(v.F("dy", Norm.Length), v.F("y", Norm.Length), v.F("x", Norm.Length), v.F("mean", 3), v.F("variance", 3), v.F("weight", 3),
                    v.F("dWeight", 3), v.F("dBias", 3), v.F("dx", Norm.Length)))),
            ["evaluation-sums"] = (["losses", "predictions", "order", "lossPartials", "correctPartials"], (l, v) => l.SumPartials(v.F("losses", 9),
                v.I("predictions", 9), v.B("labels", 12), v.I("order", 12), 3, 9, 4, v.D("lossPartials", 4), v.I("correctPartials", 4))),
            ["confusion"] = (["predictions", "order", "matrix"], (l, v) => l.Confusion(v.I("predictions", 9), v.B("labels", 12), v.I("order", 12), 3, 9, 10,
                v.I("matrix", 100))),
        };

    public static TheoryData<string, string, bool> Cases()
    {
        var data = new TheoryData<string, string, bool>();
        foreach (var (launch, (operands, _)) in Launches)
        {
            foreach (string operand in operands)
            {
                data.Add(launch, operand, false);
                data.Add(launch, operand, true);
            }
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Launcher_OperandOneElementShort_ThrowsArgumentExceptionNamingIt(string launch, string operand, bool fused)
    {
        KernelSet set = fixture.Cpu(CpuSimdRequest.Vector256);
        DeviceKernels kernels = set.Kernels;
        CpuSimdKernelSet launchers = kernels.CpuSimdSet!;
        using var views = new Views(set.Accelerator) { Short = operand };
        long before = kernels.CpuLaunches;
        using (fused ? kernels.FuseLaunches() : default(DeviceKernels.FusedLaunches?))
        {
            var error = Assert.Throws<ArgumentException>(() => Launches[launch].Launch(launchers, views));
            Assert.Equal(operand, error.ParamName);
            Assert.Matches($@"{operand} holds (\d+) elements; the launch needs (\d+)", error.Message);
        }
        Assert.Equal(before, kernels.CpuLaunches); // nothing launched, nothing recorded
    }

    /// <summary>The same launches with every operand long enough pass the checks (and run).</summary>
    [Fact]
    public void Launcher_EveryOperandLongEnough_Launches()
    {
        KernelSet set = fixture.Cpu(CpuSimdRequest.Vector256);
        DeviceKernels kernels = set.Kernels;
        kernels.CpuSimdSet!.LoadConvolution();
        using var views = new Views(set.Accelerator);
        foreach (var (launch, (_, run)) in Launches)
        {
            long before = kernels.CpuLaunches;
            run(kernels.CpuSimdSet!, views);
            Assert.True(kernels.CpuLaunches == before + 1, launch);
        }
    }
}
