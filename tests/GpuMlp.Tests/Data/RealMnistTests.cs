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

        ImageDataset ds = RealMnist.Load();

        Assert.Equal(60000, ds.Train.Count);
        Assert.Equal(60000, ds.Train.Labels.Length);
        Assert.Equal(10000, ds.Test.Count);
        Assert.Equal(10000, ds.Test.Labels.Length);
        Assert.Equal((28, 28), (ds.Train.Shape.Height, ds.Train.Shape.Width));
        Assert.Equal(60000 * 784, ds.Train.Pixels.Length);
        // Well-known first labels of each split.
        Assert.Equal(5, ds.Train.Labels[0]);
        Assert.Equal(7, ds.Test.Labels[0]);
        // Every digit occurs in both splits.
        Assert.Equal(10, ds.Train.Labels.Distinct().Count());
        Assert.Equal(10, ds.Test.Labels.Distinct().Count());
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
