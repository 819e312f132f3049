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

    /// <summary>Label smoothing ε (torch's CrossEntropyLoss(label_smoothing=ε)): loss, prediction and
    /// gradient against the float64 reference of the definition, on the edge-case batches (ties,
    /// logits near 100), for ε in (0, 1] and one class. Tolerances are the plain loss's: the
    /// smoothing adds ε times a mean of K shifted logits, a few u of |logit| each.</summary>
    [Theory]
    [InlineData(37, 10, 5, 0.1f)]
    [InlineData(3, 13, 1, 0.3f)]
    [InlineData(130, 7, 0, 1f)]
    [InlineData(5, 1, 2, 0.2f)]
    public void SoftmaxCrossEntropy_LabelSmoothing_MatchesReference(int rows, int classes, int first, float epsilon)
    {
        KernelSet set = Set;
        (float[] logits, int[] labels) = Batch(rows, classes, (rows * 17) + classes);
        var expected = NaiveReference.SmoothedCrossEntropy(NaiveReference.ToDouble(logits), labels, rows, classes, epsilon);
        using var logitsBuffer = set.Accelerator.Input(logits);
        using var labelsBuffer = set.Accelerator.Upload(labels);
        using var dLogits = set.Accelerator.Output(rows * classes);
        using var loss = set.Accelerator.Filled(first + rows, LossSentinel);
        using var prediction = set.Accelerator.Filled(first + rows, PredictionSentinel);
        set.Kernels.SoftmaxCrossEntropy(logitsBuffer.View, labelsBuffer.View, rows, classes, writeGradient: true,
            dLogits.View, first, loss.View, prediction.View, epsilon);

        float[] lossOut = loss.Download();
        Assert.All(lossOut.Take(first), v => Assert.Equal(LossSentinel, v));
        Compare.AllClose(lossOut.AsSpan(first, rows), expected.Loss, Tolerance.SoftmaxLoss(set.Backend), $"{set.Name} smoothed loss (ε {epsilon})");
        Assert.Equal(expected.Prediction, prediction.Download().AsSpan(first, rows).ToArray());
        Compare.AllClose(dLogits.Download("dLogits"), expected.DLogits, Tolerance.SoftmaxGradient(set.Backend), $"{set.Name} smoothed dLogits (ε {epsilon})", classes);
    }

    /// <summary>ε = 0 is plain cross-entropy bit for bit (the smoothing terms are skipped, so runs
    /// without smoothing are unchanged).</summary>
    [Fact]
    public void SoftmaxCrossEntropy_LabelSmoothingZero_IsBitIdenticalToPlainCrossEntropy()
    {
        KernelSet set = Set;
        const int rows = 37, classes = 10;
        (float[] logits, int[] labels) = Batch(rows, classes, 8);
        using var logitsBuffer = set.Accelerator.Input(logits);
        using var labelsBuffer = set.Accelerator.Upload(labels);
        var results = new List<(float[] Loss, float[] DLogits)>();
        foreach (bool explicitZero in new[] { false, true })
        {
            using var dLogits = set.Accelerator.Output(rows * classes);
            using var loss = set.Accelerator.Output(rows);
            using var prediction = set.Accelerator.Filled(rows, PredictionSentinel);
            if (explicitZero)
                set.Kernels.SoftmaxCrossEntropy(logitsBuffer.View, labelsBuffer.View, rows, classes, true, dLogits.View, 0, loss.View, prediction.View, 0f);
            else
                set.Kernels.SoftmaxCrossEntropy(logitsBuffer.View, labelsBuffer.View, rows, classes, true, dLogits.View, 0, loss.View, prediction.View);
            results.Add((loss.Download("loss"), dLogits.Download("dLogits")));
        }
        Assert.Equal(results[0].Loss, results[1].Loss);
        Assert.Equal(results[0].DLogits, results[1].DLogits);
    }

    /// <summary>The smoothed gradient is the gradient of the batch mean smoothed loss: central finite
    /// differences of the float64 reference (h = 1e-4, as the plain test).</summary>
    [Fact]
    public void SoftmaxCrossEntropy_LabelSmoothingGradient_MatchesFiniteDifferencesOfMeanLoss()
    {
        KernelSet set = Set;
        const int rows = 5, classes = 7;
        const float epsilon = 0.15f;
        var random = new Random(13);
        float[] logits = TestData.Uniform(random, rows * classes, -2f, 2f);
        int[] labels = TestData.Ints(random, rows, classes);
        double[] fd = TestData.FiniteDifference(NaiveReference.ToDouble(logits), 1e-4,
            x => NaiveReference.SmoothedCrossEntropy(x, labels, rows, classes, epsilon).Loss.Average());
        using var logitsBuffer = set.Accelerator.Input(logits);
        using var labelsBuffer = set.Accelerator.Upload(labels);
        using var dLogits = set.Accelerator.Output(rows * classes);
        using var loss = set.Accelerator.Output(rows);
        using var prediction = set.Accelerator.Filled(rows, PredictionSentinel);
        set.Kernels.SoftmaxCrossEntropy(logitsBuffer.View, labelsBuffer.View, rows, classes, writeGradient: true,
            dLogits.View, 0, loss.View, prediction.View, epsilon);
        Compare.AllClose(dLogits.Download("dLogits"), fd, Tolerance.SoftmaxGradient(set.Backend), $"{set.Name} smoothed dLogits vs finite differences", classes);
    }

    /// <summary>torch 1.13's CrossEntropyLoss(label_smoothing=0.1) on one float64 batch of 3 rows and
    /// 4 classes (bench/reference/torch_schedules.py, bench/results/2026-12-07-torch-schedules.txt):
    /// the reference gives torch's mean loss and gradient to float64 rounding, and the kernel (on the
    /// logits rounded to float32) gives them within the softmax tolerances.</summary>
    [Fact]
    public void SoftmaxCrossEntropy_LabelSmoothing_MatchesRecordedTorch()
    {
        double[] torchLogits =
        [
            1.5409961082440433, -0.2934289057609464, -2.1787893820745574, 0.5684312772806678, -1.084522342424021, -1.3985953953708767,
            0.4033468476292993, 0.8380263329976598, -0.7192575784693592, -0.40334352493217457, -0.5966353626151273, 0.18203648506130554,
        ];
        int[] labels = [0, 3, 1];
        const double torchLoss = 0.9447329560857121;
        double[] torchGradient =
        [
            -0.09493942624540094, 0.02574680540291443, -0.0031608428202019906, 0.07235346366268858, 0.017314633649706947, 0.010401625887409015,
            0.10522691275186641, -0.1329431722889824, 0.047550467841106156, -0.23168800852073068, 0.05484091605961645, 0.12929662462000815,
        ];
        var reference = NaiveReference.SmoothedCrossEntropy(torchLogits, labels, 3, 4, 0.1);
        Assert.True(Math.Abs(reference.Loss.Average() - torchLoss) <= 1e-12, $"reference mean loss {reference.Loss.Average()} vs torch {torchLoss}");
        Compare.AllClose(reference.DLogits, torchGradient, 1e-15, 1e-12, "reference gradient vs torch");

        KernelSet set = Set;
        float[] logits = [.. torchLogits.Select(v => (float)v)];
        using var logitsBuffer = set.Accelerator.Input(logits);
        using var labelsBuffer = set.Accelerator.Upload(labels);
        using var dLogits = set.Accelerator.Output(12);
        using var loss = set.Accelerator.Output(3);
        using var prediction = set.Accelerator.Filled(3, PredictionSentinel);
        set.Kernels.SoftmaxCrossEntropy(logitsBuffer.View, labelsBuffer.View, 3, 4, writeGradient: true, dLogits.View, 0, loss.View, prediction.View, 0.1f);
        Compare.AllClose(new float[] { (float)loss.Download("loss").Average(x => (double)x) }, new double[] { torchLoss }, Tolerance.SoftmaxLoss(set.Backend), $"{set.Name} mean smoothed loss vs torch");
        Compare.AllClose(dLogits.Download("dLogits"), torchGradient, Tolerance.SoftmaxGradient(set.Backend), $"{set.Name} smoothed dLogits vs torch", 4);
    }
}
