using System.Text;
using GpuMlp.Data;

namespace GpuMlp.Tests.Data;

/// <summary>Any IDX folder: EMNIST's names, any size, label values mapped to classes in sorted
/// order and named by a mapping file, transposed images, a drawn test split.</summary>
public sealed class IdxSourceTests : IDisposable
{
    private readonly TempDir dir = new();

    public void Dispose() => dir.Dispose();

    /// <summary>8x8 images, labels 1..5 (EMNIST-letters-like), with EMNIST's file names.</summary>
    private static readonly byte[] TrainLabels = [1, 2, 3, 4, 5, 5, 4, 3, 2, 1];
    private static readonly byte[] TestLabels = [5, 1, 3];

    private void WriteLetters(bool gzip = false, bool transposed = false)
    {
        string gz = gzip ? ".gz" : "";
        dir.Write("emnist-letters-train-images-idx3-ubyte" + gz, Idx.Images(TrainLabels.Length, 8, 8, Stored(Idx.Pixels(TrainLabels.Length * 64, seed: 3), TrainLabels.Length, transposed)), gzip);
        dir.Write("emnist-letters-train-labels-idx1-ubyte" + gz, Idx.Labels(TrainLabels), gzip);
        dir.Write("emnist-letters-test-images-idx3-ubyte" + gz, Idx.Images(TestLabels.Length, 8, 8, Stored(Idx.Pixels(TestLabels.Length * 64, seed: 5), TestLabels.Length, transposed)), gzip);
        dir.Write("emnist-letters-test-labels-idx1-ubyte" + gz, Idx.Labels(TestLabels), gzip);
    }

    /// <summary>The 8x8 images as stored: transposed when asked.</summary>
    private static byte[] Stored(byte[] pixels, int count, bool transposed)
    {
        if (!transposed)
            return pixels;
        var stored = new byte[pixels.Length];
        for (int i = 0; i < count; i++)
        {
            for (int r = 0; r < 8; r++)
            {
                for (int c = 0; c < 8; c++)
                    stored[(i * 64) + (c * 8) + r] = pixels[(i * 64) + (r * 8) + c];
            }
        }
        return stored;
    }

    [Fact]
    public void Load_EmnistNamesAndLabelsOneToFive_ClassesAreTheSortedLabelValues()
    {
        WriteLetters(gzip: true);
        var source = new IdxSource(dir.Path, ImageLoadOptions.Default);

        Assert.Equal(new ImageShape(1, 8, 8), source.Schema.Shape);
        Assert.Equal(["1", "2", "3", "4", "5"], source.Schema.ClassNames);
        var lines = new List<string>();
        ImageDataset data = source.Load(lines.Add);
        Assert.Equal([0, 1, 2, 3, 4, 4, 3, 2, 1, 0], data.Train.Labels);
        Assert.Equal([4, 0, 2], data.Test.Labels);
        Assert.Equal(Idx.Pixels(TrainLabels.Length * 64, seed: 3), data.Train.Pixels);
        Assert.Contains(lines, line => line.Contains("label values 1..5 as classes 0..4", StringComparison.Ordinal));
    }

    [Fact]
    public void Load_MappingFile_NamesTheClasses()
    {
        WriteLetters();
        string mapping = dir.Write("mapping.txt", Encoding.ASCII.GetBytes("1 65 97\n2 66 98\n3 67 99\n4 68 100\n5 69 101\n6 70 102\n"));

        var source = new IdxSource(dir.Path, new ImageLoadOptions { ClassNamesFile = mapping });

        Assert.Equal(["A", "B", "C", "D", "E"], source.Schema.ClassNames);
    }

    [Fact]
    public void Load_OneNamePerClass_NamesTheClassesInOrder()
    {
        WriteLetters();
        string names = dir.Write("names.txt", Encoding.UTF8.GetBytes("alpha\nbeta\ngamma\ndelta\nepsilon\n\n"));

        Assert.Equal(["alpha", "beta", "gamma", "delta", "epsilon"], new IdxSource(dir.Path, new ImageLoadOptions { ClassNamesFile = names }).Schema.ClassNames);
    }

    [Fact]
    public void Load_MappingWithoutALabel_IsAOneLineError()
    {
        WriteLetters();
        string mapping = dir.Write("mapping.txt", Encoding.ASCII.GetBytes("1 65\n2 66\n3 67\n"));

        var error = Assert.Throws<DataFormatException>(() => new IdxSource(dir.Path, new ImageLoadOptions { ClassNamesFile = mapping }).Schema);
        Assert.Equal($"{mapping}: no name for label 4", error.Message);
    }

    [Fact]
    public void Load_TransposedFiles_ReadBackAsTheOriginalImages()
    {
        WriteLetters(transposed: true);

        ImageDataset data = new IdxSource(dir.Path, new ImageLoadOptions { IdxTransposed = true }).Load(_ => { });

        Assert.Equal(Idx.Pixels(TrainLabels.Length * 64, seed: 3), data.Train.Pixels);
        Assert.Equal(Idx.Pixels(TestLabels.Length * 64, seed: 5), data.Test.Pixels);
    }

    [Fact]
    public void Load_NonSquareTransposed_SwapsHeightAndWidth()
    {
        dir.Write("train-images-idx3-ubyte", Idx.Images(4, 2, 3, [.. Enumerable.Range(0, 24).Select(i => (byte)i)]));
        dir.Write("train-labels-idx1-ubyte", Idx.Labels(0, 1, 0, 1));

        ImageDataset data = new IdxSource(dir.Path, new ImageLoadOptions { IdxTransposed = true, TestSplit = 0.5 }).Load(_ => { });

        Assert.Equal(new ImageShape(1, 3, 2), data.Shape);
        // Stored 2x3 image 0..5 (rows 0 1 2 / 3 4 5) reads as its 3x2 transpose: 0 3 / 1 4 / 2 5.
        Assert.Contains(Images(data), image => image.SequenceEqual(new byte[] { 0, 3, 1, 4, 2, 5 }));
    }

    private static IEnumerable<byte[]> Images(ImageDataset data) =>
        Enumerable.Range(0, data.Train.Count).Select(i => data.Train.Image(i).ToArray())
            .Concat(Enumerable.Range(0, data.Test.Count).Select(i => data.Test.Image(i).ToArray()));

    [Fact]
    public void Load_NoTestFiles_DrawsTheTestSplitWithTheSeed()
    {
        dir.Write("train-images-idx3-ubyte", Idx.Images(20, 4, 4, Idx.Pixels(20 * 16)));
        dir.Write("train-labels-idx1-ubyte", Idx.Labels([.. Enumerable.Range(0, 20).Select(i => (byte)(i % 3))]));
        var options = new ImageLoadOptions { TestSplit = 0.25, SplitSeed = 7 };
        var lines = new List<string>();

        ImageDataset first = new IdxSource(dir.Path, options).Load(lines.Add);
        ImageDataset again = new IdxSource(dir.Path, options).Load(_ => { });
        ImageDataset other = new IdxSource(dir.Path, options with { SplitSeed = 8 }).Load(_ => { });

        Assert.Equal(15, first.Train.Count);
        Assert.Equal(5, first.Test.Count);
        Assert.Equal(first.Test.Pixels, again.Test.Pixels);
        Assert.NotEqual(first.Test.Pixels, other.Test.Pixels);
        Assert.Contains(lines, line => line.Contains("test split drawn", StringComparison.Ordinal) && line.Contains("--split-seed 7", StringComparison.Ordinal));
    }

    [Fact]
    public void Load_ImageSizeAndRgb_ResizesAndCopiesThePlane()
    {
        WriteLetters();

        ImageDataset data = new IdxSource(dir.Path, new ImageLoadOptions { ImageSize = 4, Channels = ImageChannels.Rgb }).Load(_ => { });

        Assert.Equal(new ImageShape(3, 4, 4), data.Shape);
        ReadOnlySpan<byte> image = data.Train.Image(0);
        Assert.Equal(image[..16].ToArray(), image[16..32].ToArray());
        Assert.Equal(image[..16].ToArray(), image[32..].ToArray());
    }

    [Fact]
    public void Load_SeveralDatasetsInOneFolder_IsAOneLineError()
    {
        WriteLetters();
        dir.Write("emnist-digits-train-images-idx3-ubyte", Idx.Images(1, 8, 8, Idx.Pixels(64)));

        var error = Assert.Throws<DataFormatException>(() => new IdxSource(dir.Path, ImageLoadOptions.Default).Schema);
        Assert.Contains("holds several train-images-idx3-ubyte files (emnist-digits-train-images-idx3-ubyte, emnist-letters-train-images-idx3-ubyte)", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_ImageAndLabelCountsDiffer_NamesBothFiles()
    {
        dir.Write("train-images-idx3-ubyte", Idx.Images(3, 4, 4, Idx.Pixels(48)));
        dir.Write("train-labels-idx1-ubyte", Idx.Labels(0, 1));

        var error = Assert.Throws<DataFormatException>(() => new IdxSource(dir.Path, ImageLoadOptions.Default).Schema);
        Assert.EndsWith("train-images-idx3-ubyte has 3 images but " + Path.Combine(dir.Path, "train-labels-idx1-ubyte") + " has 2 labels", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_NoTrainingFiles_IsFileNotFound()
    {
        dir.Write("t10k-images-idx3-ubyte", Idx.Images(1, 4, 4, Idx.Pixels(16)));
        var error = Assert.Throws<FileNotFoundException>(() => new IdxSource(dir.Path, ImageLoadOptions.Default).Schema);
        Assert.Contains("has no train-images-idx3-ubyte file", error.Message, StringComparison.Ordinal);
    }
}
