using GpuMlp.Kernels;
using ILGPU;

namespace GpuMlp.Compute;

/// <summary>The host-side length checks of the CPU SIMD launches (CpuSimdKernelSet.cs). Those
/// kernels get raw addresses (a recorded CpuCommand holds only the operands' addresses; the
/// standalone kernels turn views into references in their [External] helpers), so nothing checks an
/// index on the way: a buffer shorter than its shape would be read or written past its end. Each
/// launcher therefore calls one of these once per launch (when recording or launching) and an
/// operand shorter than the shape requires is an ArgumentException naming the launch, the operand,
/// its length and the length required (the message is built only then). A few comparisons per
/// launch; nothing per element, no allocation.
///
/// What is not checked: values stored in device memory (a gather's `order` entries, the labels and
/// predictions the evaluation reductions index with), which the host never reads on this path; the
/// callers build them in range (Trainer's permutations, the network's own predictions).</summary>
internal static class CpuOperandLengths
{
    /// <summary>Elements a strided matrix spans: the last element's offset + 1 (0 when empty).</summary>
    public static long Span(int rows, int rowStride, int columns, int columnStride) =>
        rows <= 0 || columns <= 0 ? 0 : ((rows - 1L) * rowStride) + ((columns - 1L) * columnStride) + 1;

    /// <summary>C[M,N] = epilogue(op(A) op(B)): A spans its strided [M,K], B its strided [K,N], C is
    /// dense [M,N]; bias [N] in the Bias* modes, aux [M,N] in ActiveMask mode, column sums [N] when
    /// summed.</summary>
    public static void Gemm(in GemmShape shape, in DenseEpilogue epilogue, ArrayView<float> a, ArrayView<float> b, ArrayView<float> c,
        ArrayView<float> bias, ArrayView<float> aux, ArrayView<float> bColumnSums, bool sumBColumns)
    {
        const string launch = "GEMM";
        Require(a, Span(shape.M, shape.AStrideM, shape.K, shape.AStrideK), "a", launch);
        Require(b, Span(shape.K, shape.BStrideK, shape.N, shape.BStrideN), "b", launch);
        Require(c, (long)shape.M * shape.N, "c", launch);
        switch (epilogue.Mode)
        {
            case EpilogueMode.Store:
                break;
            case EpilogueMode.Bias:
            case EpilogueMode.BiasRelu:
            case EpilogueMode.BiasReluDropout:
                Require(bias, shape.N, "bias", launch);
                break;
            case EpilogueMode.ActiveMask:
                Require(aux, (long)shape.M * shape.N, "aux", launch);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(epilogue), epilogue.Mode, "unknown epilogue mode");
        }
        if (sumBColumns)
            Require(bColumnSums, shape.N, "bColumnSums", launch);
    }

    /// <summary>db[columns] = column sums of dz[rows, columns].</summary>
    public static void BiasGradient(ArrayView<float> dz, int rows, int columns, ArrayView<float> db)
    {
        const string launch = "bias gradient";
        Require(dz, (long)rows * columns, "dz", launch);
        Require(db, columns, "db", launch);
    }

    /// <summary>A gather of `rows` samples of `features` values through order[first .. first + rows):
    /// x [rows, features], y [rows]; images hold whole images of `features` bytes and at least one.</summary>
    /// <summary>The distorting gather: the gather's operands for C x H x W images, and with elastic
    /// distortion field [rows, 2, H + 2R, W]; the Gaussian's radius within the CPU kernel's stack buffer.</summary>
    public static void Distort(ArrayView<byte> images, ArrayView<byte> labels, ArrayView<int> order, int first, int rows,
        in DistortionShape shape, ArrayView<float> field, ArrayView<float> x, ArrayView<int> y)
    {
        const string launch = "distorting gather";
        Gather(launch, images, labels, order, first, rows, (long)shape.Channels * shape.Height * shape.Width, x, y);
        if (shape.ElasticAlpha > 0f)
        {
            if (shape.ElasticRadius is < 0 or > DistortionKernels.MaxElasticRadius)
                throw new ArgumentException($"{launch}: Gaussian radius {shape.ElasticRadius} outside 0..{DistortionKernels.MaxElasticRadius}");
            Require(field, rows * shape.FieldPerRow, "field", launch);
        }
    }

    public static void Gather(string launch, ArrayView<byte> images, ArrayView<byte> labels, ArrayView<int> order, int first, int rows,
        long features, ArrayView<float> x, ArrayView<int> y)
    {
        Require(order, (long)first + rows, "order", launch);
        Require(x, rows * features, "x", launch);
        Require(y, rows, "y", launch);
        if (rows > 0)
        {
            Require(images, features, "images", launch);
            Require(labels, 1, "labels", launch);
        }
    }

    /// <summary>logits [rows, classes], labels [rows], dLogits [rows, classes] when written, loss and
    /// prediction written at [first, first + rows).</summary>
    public static void SoftmaxCrossEntropy(ArrayView<float> logits, ArrayView<int> labels, int rows, int classes, bool writeGradient,
        ArrayView<float> dLogits, int first, ArrayView<float> loss, ArrayView<int> prediction)
    {
        const string launch = "softmax cross-entropy";
        Require(logits, (long)rows * classes, "logits", launch);
        Require(labels, rows, "labels", launch);
        if (writeGradient)
            Require(dLogits, (long)rows * classes, "dLogits", launch);
        Require(loss, (long)first + rows, "loss", launch);
        Require(prediction, (long)first + rows, "prediction", launch);
    }

    /// <summary>An optimiser's parameters and gradients, and each state slot the update uses with this
    /// step's scalars (IOptimizerUpdate.StateName), of `count`.</summary>
    public static void Optimizer<TUpdate>(in TUpdate update, int count, in OptimizerOperands operands)
        where TUpdate : unmanaged, IOptimizerUpdate
    {
        string launch = update.Name;
        Require(operands.Parameters, count, "parameters", launch);
        Require(operands.Gradients, count, "gradients", launch);
        ReadOnlySpan<ArrayView<float>> states = [operands.State1, operands.State2, operands.State3];
        for (int slot = 1; slot <= states.Length; slot++)
        {
            if (update.StateName(slot) is string name)
                Require(states[slot - 1], count, name, launch);
        }
    }

    public static void Conv(string launch, ArrayView<float> source, long sourceLength, string sourceName,
        ArrayView<float> target, long targetLength, string targetName)
    {
        Require(source, sourceLength, sourceName, launch);
        Require(target, targetLength, targetName, launch);
    }

    public static void Pool(in PoolShape shape, string launch, ArrayView<float> source, long sourceLength, string sourceName,
        ArrayView<int> argmax, ArrayView<float> target, long targetLength, string targetName)
    {
        Require(source, sourceLength, sourceName, launch);
        Require(argmax, shape.OutputLength, "argmax", launch);
        Require(target, targetLength, targetName, launch);
    }

    /// <summary>Per-channel operands of a batch-normalisation launch: each holds shape.Channels values.</summary>
    public static void BatchNormChannels(in BatchNormShape shape, string launch, params ReadOnlySpan<(ArrayView<float> View, string Name)> operands)
    {
        foreach (var (view, name) in operands)
            Require(view, shape.Channels, name, launch);
    }

    /// <summary>The rows an evaluation reduction reads: predictions [count] and order[first .. first +
    /// count), labels indexed through order (at least one when count > 0).</summary>
    public static void EvaluationRows(string launch, ArrayView<int> predictions, ArrayView<byte> labels, ArrayView<int> order, int first, int count)
    {
        Require(predictions, count, "predictions", launch);
        Require(order, (long)first + count, "order", launch);
        if (count > 0)
            Require(labels, 1, "labels", launch);
    }

    /// <summary>Throws unless `view` holds at least `required` elements.</summary>
    /// <summary>average and weights each hold count floats.</summary>
    public static void ExponentialAverage(ArrayView<float> average, ArrayView<float> weights, int count)
    {
        const string launch = "exponential average";
        Require(average, count, "average", launch);
        Require(weights, count, "weights", launch);
    }

    public static void Require<T>(ArrayView<T> view, long required, string operand, string launch)
        where T : unmanaged
    {
        if (view.Length < required)
            throw new ArgumentException($"{launch}: {operand} holds {view.Length} elements; the launch needs {required}", operand);
    }
}
