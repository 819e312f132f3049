using GpuMlp.Tests.Reference;

namespace GpuMlp.Tests.Kernels;

[Collection(DeviceCollection.Name)]
public class SoftmaxCrossEntropyTests(DeviceFixture fixture)
{
    /// <summary>The kernels under test: the test device's (GpuLaunchShapeTests derives a class that
    /// runs every test again with the GPU launch profile).</summary>
    protected DeviceFixture Fixture => fixture;

    protected virtual KernelSet Set => fixture.Main;

    private const float LossSentinel = -777f;
    private const int PredictionSentinel = -7;

    /// <summary>Random logits in [-4, 4], plus rows that test the edge cases: all equal (argmax 0),
    /// a tie for the maximum at two columns (the lower one wins), and logits around 100 (exp would
    /// overflow float32 without the max subtraction).</summary>
    private static (float[] Logits, int[] Labels) Batch(int rows, int classes, int seed)
    {
        var random = new Random(seed);
        float[] logits = TestData.Uniform(random, rows * classes, -4f, 4f);
        int[] labels = TestData.Ints(random, rows, classes);
        if (classes >= 3 && rows >= 3)
        {
            Array.Fill(logits, 0.25f, 0, classes);
            for (int c = 0; c < classes; c++)
                logits[classes + c] = Math.Min(logits[classes + c], 3f);
            logits[classes + 1] = 3.5f;
            logits[classes + classes - 1] = 3.5f;
            for (int c = 0; c < classes; c++)
                logits[(2 * classes) + c] = 100f + (4f * random.NextSingle());
        }
        return (logits, labels);
    }

    [Theory]
    [InlineData(1, 10, 0)]
    [InlineData(37, 10, 5)]
    [InlineData(5, 1, 2)]
    [InlineData(3, 13, 1)]
    [InlineData(130, 7, 9)]
    public void SoftmaxCrossEntropy_Forward_MatchesReference(int rows, int classes, int first)
    {
        KernelSet set = Set;
        (float[] logits, int[] labels) = Batch(rows, classes, (rows * 31) + classes);
        var expected = NaiveReference.SoftmaxCrossEntropy(NaiveReference.ToDouble(logits), labels, rows, classes);

        const int tail = 3;
        using var logitsBuffer = set.Accelerator.Input(logits);
        using var labelsBuffer = set.Accelerator.Upload(labels);
        using var dLogits = set.Accelerator.Output(rows * classes);
        using var loss = set.Accelerator.Filled(first + rows + tail, LossSentinel);
        using var prediction = set.Accelerator.Filled(first + rows + tail, PredictionSentinel);
        set.Kernels.SoftmaxCrossEntropy(logitsBuffer.View, labelsBuffer.View, rows, classes, writeGradient: true,
            dLogits.View, first, loss.View, prediction.View);

        float[] lossOut = loss.Download();
        int[] predictionOut = prediction.Download();
        // Only [first, first + rows) is written.
        Assert.All(lossOut.Take(first).Concat(lossOut.Skip(first + rows)), v => Assert.Equal(LossSentinel, v));
        Assert.All(predictionOut.Take(first).Concat(predictionOut.Skip(first + rows)), v => Assert.Equal(PredictionSentinel, v));
        Compare.AllClose(lossOut.AsSpan(first, rows), expected.Loss, Tolerance.SoftmaxLoss(set.Backend), $"{set.Name} loss");
        Assert.Equal(expected.Prediction, predictionOut.AsSpan(first, rows).ToArray());
        Compare.AllClose(dLogits.Download("dLogits"), expected.DLogits, Tolerance.SoftmaxGradient(set.Backend), $"{set.Name} dLogits", classes);
        if (rows >= 3 && classes >= 3)
        {
            Assert.Equal(0, predictionOut[first]);
            Assert.Equal(1, predictionOut[first + 1]);
        }
    }

    /// <summary>writeGradient = false (evaluation) still writes loss and prediction but leaves
    /// dLogits untouched.</summary>
    [Fact]
    public void SoftmaxCrossEntropy_WithoutGradient_LeavesDLogitsUntouched()
    {
        KernelSet set = Set;
        const int rows = 9, classes = 10, first = 4;
        (float[] logits, int[] labels) = Batch(rows, classes, 3);
        var expected = NaiveReference.SoftmaxCrossEntropy(NaiveReference.ToDouble(logits), labels, rows, classes);
        using var logitsBuffer = set.Accelerator.Input(logits);
        using var labelsBuffer = set.Accelerator.Upload(labels);
        using var dLogits = set.Accelerator.Filled(rows * classes, 42f);
        using var loss = set.Accelerator.Filled(first + rows, LossSentinel);
        using var prediction = set.Accelerator.Filled(first + rows, PredictionSentinel);
        set.Kernels.SoftmaxCrossEntropy(logitsBuffer.View, labelsBuffer.View, rows, classes, writeGradient: false,
            dLogits.View, first, loss.View, prediction.View);

        Assert.All(dLogits.Download(), v => Assert.Equal(42f, v));
        Compare.AllClose(loss.Download().AsSpan(first), expected.Loss, Tolerance.SoftmaxLoss(set.Backend), $"{set.Name} loss");
        Assert.Equal(expected.Prediction, prediction.Download().AsSpan(first).ToArray());
    }

    /// <summary>dLogits is the gradient of the batch MEAN loss: central finite differences of the
    /// float64 mean cross-entropy with h = 1e-4 (truncation ~h^2 * |L'''| ~ 1e-9, cancellation
    /// ~1e-12), against the kernel's float32 output.</summary>
    [Fact]
    public void SoftmaxCrossEntropy_Gradient_MatchesFiniteDifferencesOfMeanLoss()
    {
        KernelSet set = Set;
        const int rows = 5, classes = 7;
        var random = new Random(12);
        float[] logits = TestData.Uniform(random, rows * classes, -2f, 2f);
        int[] labels = TestData.Ints(random, rows, classes);
        double[] fd = TestData.FiniteDifference(NaiveReference.ToDouble(logits), 1e-4,
            x => NaiveReference.MeanCrossEntropy(x, labels, rows, classes));

        using var logitsBuffer = set.Accelerator.Input(logits);
        using var labelsBuffer = set.Accelerator.Upload(labels);
        using var dLogits = set.Accelerator.Output(rows * classes);
        using var loss = set.Accelerator.Output(rows);
        using var prediction = set.Accelerator.Filled(rows, PredictionSentinel);
        set.Kernels.SoftmaxCrossEntropy(logitsBuffer.View, labelsBuffer.View, rows, classes, writeGradient: true,
            dLogits.View, 0, loss.View, prediction.View);

        Compare.AllClose(dLogits.Download("dLogits"), fd, Tolerance.SoftmaxGradient(set.Backend), $"{set.Name} dLogits vs finite differences", classes);
    }
}
