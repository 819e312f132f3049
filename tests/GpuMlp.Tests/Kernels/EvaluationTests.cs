using GpuMlp.Tests.Reference;

namespace GpuMlp.Tests.Kernels;

/// <summary>SumPartials and Confusion. Per the kernels' header, losses and predictions are indexed
/// 0 .. count-1 while labels are looked up through order[first + i].</summary>
[Collection(DeviceCollection.Name)]
public class EvaluationTests(DeviceFixture fixture)
{
    /// <summary>The kernels under test: the test device's (GpuLaunchShapeTests derives a class that
    /// runs every test again with the GPU launch profile).</summary>
    protected DeviceFixture Fixture => fixture;

    protected virtual KernelSet Set => fixture.Main;

    private const int Classes = 10;

    private sealed record Evaluation(float[] Losses, int[] Predictions, byte[] Labels, int[] Order);

    private static Evaluation Data(int samples, int count, int seed)
    {
        var random = new Random(seed);
        byte[] labels = TestData.Bytes(random, samples, Classes);
        int[] order = TestData.Permutation(random, samples);
        float[] losses = TestData.Uniform(random, count, 0f, 3f);
        // Predictions right about 60% of the time (so a wrong label lookup changes the count).
        int[] predictions = new int[count];
        return new Evaluation(losses, predictions, labels, order);
    }

    private static void Predict(Evaluation data, int first, int seed)
    {
        var random = new Random(seed);
        for (int i = 0; i < data.Predictions.Length; i++)
            data.Predictions[i] = random.NextDouble() < 0.6 ? data.Labels[data.Order[first + i]] : random.Next(Classes);
    }

    [Theory]
    [InlineData(1, 0)]
    [InlineData(1003, 50)]
    [InlineData(3000, 0)]
    public void SumPartials_OddCounts_TotalsMatchReference(int count, int first)
    {
        KernelSet set = Set;
        Evaluation data = Data(count + first + 17, count, count);
        Predict(data, first, count + 1);
        (double loss, int correct) = NaiveReference.SumTotals(data.Losses, data.Predictions, data.Labels, data.Order, first, count);

        int partials = set.Kernels.PartialCount;
        using var losses = set.Accelerator.Upload(data.Losses);
        using var predictions = set.Accelerator.Upload(data.Predictions);
        using var labels = set.Accelerator.Upload(data.Labels);
        using var order = set.Accelerator.Upload(data.Order);
        using var lossPartials = set.Accelerator.Filled(partials, double.NaN);
        using var correctPartials = set.Accelerator.Filled(partials, -1);
        set.Kernels.SumPartials(losses.View, predictions.View, labels.View, order.View, first, count,
            lossPartials.View, correctPartials.View);

        double[] lossOut = lossPartials.Download();
        int[] correctOut = correctPartials.Download();
        Assert.All(correctOut, c => Assert.True(c >= 0, $"{set.Name}: a correct-count partial was not written"));
        double lossTotal = 0;
        foreach (double partial in lossOut)
            lossTotal += partial; // in order, as the host does; NaN (unwritten) propagates
        Assert.Equal(correct, correctOut.Sum());
        // Float32 losses summed in float64 in a different order: differences ~count * 1e-16.
        Compare.AllClose([lossTotal], [loss], 1e-9, 1e-12, $"{set.Name} loss total over {partials} partials");
    }

    [Theory]
    [InlineData(1, 0)]
    [InlineData(777, 13)]
    public void Confusion_OddCounts_MatchesReference(int count, int first)
    {
        KernelSet set = Set;
        Evaluation data = Data(count + first + 5, count, count + 2);
        Predict(data, first, count + 3);
        int[] expected = NaiveReference.Confusion(data.Predictions, data.Labels, data.Order, first, count, Classes);

        using var predictions = set.Accelerator.Upload(data.Predictions);
        using var labels = set.Accelerator.Upload(data.Labels);
        using var order = set.Accelerator.Upload(data.Order);
        using var matrix = set.Accelerator.Filled(Classes * Classes, -1);
        set.Kernels.Confusion(predictions.View, labels.View, order.View, first, count, Classes, matrix.View);

        int[] actual = matrix.Download();
        Assert.Equal(count, actual.Sum());
        Assert.Equal(expected, actual);
    }
}
