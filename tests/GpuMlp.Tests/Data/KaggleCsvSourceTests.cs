using System.Text;
using GpuMlp.Data;

namespace GpuMlp.Tests.Data;

/// <summary>Datasets from pixel CSVs: a labelled test.csv is the test split; Kaggle's unlabelled
/// test.csv or a lone file draws it from train; classes are 0..max label, named by value.</summary>
public sealed class KaggleCsvSourceTests : IDisposable
{
    private readonly TempDir dir = new();

    public void Dispose() => dir.Dispose();

    private string Write(string name, string text) => dir.Write(name, Encoding.UTF8.GetBytes(text));

    [Fact]
    public void Load_MnistAsKaggleFolder_MatchesTheIdxImagesAndDigitClasses()
    {
        var mnist = RealMnist.Load();
        Write("train.csv", KaggleCsv.Text(mnist.Train, withLabels: true, count: 400));
        Write("test.csv", KaggleCsv.Text(mnist.Test, withLabels: true, count: 100));

        var source = new KaggleCsvSource(dir.Path, ImageLoadOptions.Default);
        ImageDataset data = source.Load(_ => { });

        Assert.Equal(MnistDataset.Schema, source.Schema);
        Assert.Equal(mnist.Train.Pixels.AsSpan(0, 400 * 784).ToArray(), data.Train.Pixels);
        Assert.Equal(mnist.Test.Labels.AsSpan(0, 100).ToArray(), data.Test.Labels);
    }

    [Fact]
    public void Load_KaggleTestFileWithoutLabels_DrawsTheTestSplitFromTrainAndSaysSo()
    {
        var mnist = RealMnist.Load();
        Write("train.csv", KaggleCsv.Text(mnist.Train, withLabels: true, count: 100));
        Write("test.csv", KaggleCsv.Text(mnist.Test, withLabels: false, count: 10));
        var lines = new List<string>();

        ImageDataset data = new KaggleCsvSource(dir.Path, new ImageLoadOptions { TestSplit = 0.3 }).Load(lines.Add);

        Assert.Equal(70, data.Train.Count);
        Assert.Equal(30, data.Test.Count);
        Assert.Contains(lines, line => line.Contains("test.csv has no labels", StringComparison.Ordinal) && line.Contains("--test-split 0.3", StringComparison.Ordinal));
        Assert.Equal([], dir.Files().Except(["train.csv", "test.csv"]));
    }

    [Fact]
    public void Load_LabelsWithGaps_ClassesRunToTheLargestLabel()
    {
        string path = Write("shapes.csv", KaggleCsv.Synthetic(4, [0, 2, 5, 0, 2, 5, 0, 2, 5, 5], 10));

        var source = new KaggleCsvSource(path, ImageLoadOptions.Default);

        Assert.Equal(new ImageShape(1, 4, 4), source.Schema.Shape);
        Assert.Equal(["0", "1", "2", "3", "4", "5"], source.Schema.ClassNames);
        ImageDataset data = source.Load(_ => { });
        Assert.Equal(8, data.Train.Count);
        Assert.Equal(2, data.Test.Count);
    }

    [Fact]
    public void Load_TrainFileWithoutLabels_IsAOneLineError()
    {
        string path = Write("test.csv", KaggleCsv.Synthetic(2, null, 3));
        var error = Assert.Throws<DataFormatException>(() => new KaggleCsvSource(path, ImageLoadOptions.Default).Schema);
        Assert.Equal($"{path}: no 'label' column, so nothing to learn from (a file without labels is for predict --csv)", error.Message);
    }

    [Fact]
    public void Load_TestFileOfAnotherSize_IsAOneLineError()
    {
        Write("train.csv", KaggleCsv.Synthetic(2, [0, 1, 0], 3));
        Write("test.csv", KaggleCsv.Synthetic(3, [0, 1], 2));
        var error = Assert.Throws<DataFormatException>(() => new KaggleCsvSource(dir.Path, ImageLoadOptions.Default).Schema);
        Assert.EndsWith("test.csv has images of 1x3x3 but " + Path.Combine(dir.Path, "train.csv") + " has 1x2x2", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_TooFewImagesToSplit_IsAOneLineError()
    {
        string path = Write("one.csv", KaggleCsv.Synthetic(2, [0, 1], 2));
        var error = Assert.Throws<DataFormatException>(() => new KaggleCsvSource(path, new ImageLoadOptions { TestSplit = 0.1 }).Schema);
        Assert.Contains("leaves a split empty", error.Message, StringComparison.Ordinal);
    }
}
