using GpuMlp.Data;

namespace GpuMlp.Tests.Data;

public sealed class MnistDatasetTests : IDisposable
{
    private readonly TempDir dir = new();

    public void Dispose() => dir.Dispose();

    private void WriteSplit(string prefix, int images, int labels, int side = 28, bool gzip = false)
    {
        string suffix = gzip ? ".gz" : "";
        dir.Write($"{prefix}-images-idx3-ubyte{suffix}", Idx.Images(images, side, side, Idx.Pixels(images * side * side)), gzip);
        dir.Write($"{prefix}-labels-idx1-ubyte{suffix}", Idx.Labels([.. Enumerable.Range(0, labels).Select(i => (byte)(i % 10))]), gzip);
    }

    [Fact]
    public void Load_ReadsBothSplits_RawAndGz()
    {
        WriteSplit("train", 5, 5);
        WriteSplit("t10k", 3, 3, gzip: true);

        ImageDataset ds = MnistDataset.Load(dir.Path);

        Assert.Equal(5, ds.Train.Count);
        Assert.Equal(5, ds.Train.Labels.Length);
        Assert.Equal(3, ds.Test.Count);
        Assert.Equal([0, 1, 2], ds.Test.Labels);
        Assert.Equal(3 * 28 * 28, ds.Test.Pixels.Length);
    }

    [Fact]
    public void Load_CountMismatch_IsRejected()
    {
        WriteSplit("train", 6, 5);
        WriteSplit("t10k", 3, 3);

        DataFormatException ex = Assert.Throws<DataFormatException>(() => MnistDataset.Load(dir.Path));
        Assert.Equal("train-images has 6 images but train-labels has 5 labels", ex.Message);
    }

    [Fact]
    public void Load_TestCountMismatch_IsRejected()
    {
        WriteSplit("train", 2, 2);
        WriteSplit("t10k", 3, 4);

        DataFormatException ex = Assert.Throws<DataFormatException>(() => MnistDataset.Load(dir.Path));
        Assert.Equal("t10k-images has 3 images but t10k-labels has 4 labels", ex.Message);
    }

    [Fact]
    public void Load_Not28x28_IsRejected()
    {
        WriteSplit("train", 2, 2, side: 27);
        WriteSplit("t10k", 2, 2);

        DataFormatException ex = Assert.Throws<DataFormatException>(() => MnistDataset.Load(dir.Path));
        Assert.Contains("expected 28x28 images", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_MissingFile_NamesIt()
    {
        WriteSplit("train", 2, 2);

        FileNotFoundException ex = Assert.Throws<FileNotFoundException>(() => MnistDataset.Load(dir.Path));
        Assert.Contains(MnistFiles.TestImages, ex.Message, StringComparison.Ordinal);
    }
}
