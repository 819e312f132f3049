using System.IO.Compression;
using GpuMlp.Data;

namespace GpuMlp.Tests.Data;

public sealed class RealMnistTests
{
    [Fact]
    public void RealMnist_Loaded_HasCanonicalShapeAndLabels()
    {
        string dir = RealMnist.RealMnistDir();
        foreach (string name in MnistFiles.All)
        {
            Assert.NotNull(MnistFiles.Locate(dir, name));
        }

        MnistDataset ds = RealMnist.Load();

        Assert.Equal(60000, ds.TrainImages.Count);
        Assert.Equal(60000, ds.TrainLabels.Length);
        Assert.Equal(10000, ds.TestImages.Count);
        Assert.Equal(10000, ds.TestLabels.Length);
        Assert.Equal((28, 28), (ds.TrainImages.Rows, ds.TrainImages.Columns));
        Assert.Equal(60000 * 784, ds.TrainImages.Pixels.Length);
        // Well-known first labels of each split.
        Assert.Equal(5, ds.TrainLabels[0]);
        Assert.Equal(7, ds.TestLabels[0]);
        // Every digit occurs in both splits.
        Assert.Equal(10, ds.TrainLabels.Distinct().Count());
        Assert.Equal(10, ds.TestLabels.Distinct().Count());
    }

    [Fact]
    public void RealMnist_RawOrGzipped_ContentMatchesPublishedSha256()
    {
        // The published hashes are of the raw files; a NAME.gz (all the GPU bundle carries) is
        // hashed after decompression, so gzipped data is checked too instead of skipped.
        string dir = RealMnist.RealMnistDir();
        foreach (string name in MnistFiles.All)
        {
            string path = MnistFiles.Locate(dir, name)!;
            using FileStream file = File.OpenRead(path);
            using Stream content = path.EndsWith(".gz", StringComparison.Ordinal)
                ? new GZipStream(file, CompressionMode.Decompress)
                : file;
            string actual = MnistFetcher.Sha256Hex(content);
            Assert.True(MnistFiles.Sha256[name] == actual,
                $"{path}: SHA-256 of the content is {actual}, the published one of {name} is {MnistFiles.Sha256[name]}");
        }
    }
}
