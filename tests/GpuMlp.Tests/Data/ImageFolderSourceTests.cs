using System.Runtime.InteropServices;
using GpuMlp.Data;
using GpuMlp.Models;
using GpuMlp.Training;
using SkiaSharp;

namespace GpuMlp.Tests.Data;

/// <summary>Image folders built here from MNIST digits and synthetic colour images: labels, pixels,
/// splits, shapes, the errors of every bad layout, the cache, and training equal to IDX's.</summary>
[Collection(DeviceCollection.Name)]
public sealed class ImageFolderSourceTests(DeviceFixture fixture) : IDisposable
{
    private readonly TempDir dir = new();

    private readonly List<string> log = [];

    public void Dispose() => dir.Dispose();

    private string DataRoot => Path.Combine(dir.Path, "data");

    private string CacheRoot => Path.Combine(dir.Path, "cache");

    private ImageFolderSource Source(ImageLoadOptions? options = null, string? root = null) =>
        new(root ?? DataRoot, options ?? ImageLoadOptions.Default, CacheRoot);

    private ImageDataset Load(ImageLoadOptions? options = null, string? root = null) => Source(options, root).Load(log.Add);

    private string Log => string.Join("\n", log);

    // ---- writing images ----

    private static void WritePng(string path, SKBitmap bitmap)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        using SKData png = bitmap.Encode(SKEncodedImageFormat.Png, 100);
        File.WriteAllBytes(path, png.ToArray());
    }

    private static void CopyInto(SKBitmap bitmap, ReadOnlySpan<byte> rows, int bytesPerRow)
    {
        for (int y = 0; y < bitmap.Height; y++)
            Marshal.Copy(rows.Slice(y * bytesPerRow, bytesPerRow).ToArray(), 0, bitmap.GetPixels() + (y * bitmap.RowBytes), bytesPerRow);
    }

    /// <summary>A gray PNG of <paramref name="width"/> x <paramref name="height"/> bytes.</summary>
    private static void WriteGray(string path, ReadOnlySpan<byte> gray, int width, int height)
    {
        using var bitmap = new SKBitmap(new SKImageInfo(width, height, SKColorType.Gray8, SKAlphaType.Opaque));
        CopyInto(bitmap, gray, width);
        WritePng(path, bitmap);
    }

    /// <summary>An RGBA PNG (unpremultiplied) from R, G, B, A planes.</summary>
    private static void WriteRgba(string path, ReadOnlySpan<byte> planes, int width, int height, bool withAlpha)
    {
        int plane = width * height;
        var rgba = new byte[4 * plane];
        for (int i = 0; i < plane; i++)
        {
            for (int c = 0; c < 3; c++)
                rgba[(4 * i) + c] = planes[(c * plane) + i];
            rgba[(4 * i) + 3] = withAlpha ? planes[(3 * plane) + i] : (byte)255;
        }
        using var bitmap = new SKBitmap(new SKImageInfo(width, height, SKColorType.Rgba8888, withAlpha ? SKAlphaType.Unpremul : SKAlphaType.Opaque));
        CopyInto(bitmap, rgba, 4 * width);
        WritePng(path, bitmap);
    }

    /// <summary>MNIST test images 0..count-1 as root/train/&lt;digit&gt;/NNNNN.png for the first
    /// <paramref name="trainCount"/>, root/test/&lt;digit&gt;/NNNNN.png for the rest; or all as
    /// root/&lt;digit&gt;/NNNNN.png when <paramref name="trainCount"/> is null.</summary>
    private void WriteMnistFolder(int count, int? trainCount)
    {
        ImageSet mnist = RealMnist.Load().Test;
        for (int i = 0; i < count; i++)
        {
            string split = trainCount is null ? "" : i < trainCount ? "train" : "test";
            string path = Path.Combine(DataRoot, split, mnist.Labels[i].ToString(System.Globalization.CultureInfo.InvariantCulture), $"{i:D5}.png");
            WriteGray(path, mnist.Image(i), 28, 28);
        }
    }

    /// <summary>MNIST test images [from, to) in the order a folder lists them: by label, then index.</summary>
    private static ImageSet MnistInFolderOrder(string name, int from, int to) => FolderOrder.ByLabel(RealMnist.Load().Test, name, from, to);

    private static readonly string[] ColourClasses = ["zebra", "Mango", "apple"];

    private static readonly (byte R, byte G, byte B)[] Backgrounds = [(200, 30, 30), (30, 160, 40), (20, 40, 220)];

    /// <summary>3x32x32 colour images, <paramref name="perClass"/> per class: an MNIST digit tinted
    /// yellow on the class's background colour (folders created in non-sorted order).</summary>
    private Dictionary<string, byte[]> WriteColourFolder(int perClass)
    {
        ImageSet mnist = RealMnist.Load().Test;
        var written = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        for (int k = 0; k < ColourClasses.Length; k++)
        {
            for (int n = 0; n < perClass; n++)
            {
                var planes = new byte[3 * 32 * 32];
                ReadOnlySpan<byte> digit = mnist.Image((k * perClass) + n);
                (byte r, byte g, byte b) = Backgrounds[k];
                for (int y = 0; y < 32; y++)
                {
                    for (int x = 0; x < 32; x++)
                    {
                        int ink = y is >= 2 and < 30 && x is >= 2 and < 30 ? digit[((y - 2) * 28) + x - 2] : 0;
                        int i = (y * 32) + x;
                        planes[i] = (byte)(r + ((255 - r) * ink / 255));
                        planes[1024 + i] = (byte)(g + ((255 - g) * ink / 255));
                        planes[2048 + i] = (byte)(b * (255 - ink) / 255);
                    }
                }
                string path = Path.Combine(DataRoot, ColourClasses[k], $"img{n:D3}.png");
                WriteRgba(path, planes, 32, 32, withAlpha: false);
                written[path] = planes;
            }
        }
        return written;
    }

    private static void AssertOneLine(Exception ex) => Assert.DoesNotContain('\n', ex.Message);

    // ---- MNIST as PNG folders ----

    [Fact]
    public void Load_MnistDigitsAsPngTrainAndTestFolders_GivesTheIdxPixelsAndLabels()
    {
        WriteMnistFolder(400, trainCount: 300);
        var source = Source();
        Assert.Equal(new ImageSchema(MnistDataset.Shape, MnistDataset.ClassNames), source.Schema);

        ImageDataset data = source.Load(log.Add);

        ImageSet train = MnistInFolderOrder("train", 0, 300), test = MnistInFolderOrder("test", 300, 400);
        Assert.Equal(MnistDataset.Schema, data.Schema);
        // The training split comes in a seeded random order; in the folder's order it is MNIST's.
        Assert.NotEqual(train.Labels, data.Train.Labels);
        Assert.Equal(train.Labels, FolderOrder.Of(data.Train).Labels);
        Assert.Equal(train.Pixels, FolderOrder.Of(data.Train).Pixels);
        Assert.Equal(test.Labels, data.Test.Labels);
        Assert.Equal(test.Pixels, data.Test.Pixels);
        Assert.Contains("400 images in 10 classes", Log, StringComparison.Ordinal);
        Assert.Contains("the split is the train/ and test/ folders: 300 train, 100 test", Log, StringComparison.Ordinal);
        Assert.Contains("training images in a random order drawn with --split-seed 1", Log, StringComparison.Ordinal);
        Assert.Contains("images read as 1 channel (gray): 0 of 400 files store colour", Log, StringComparison.Ordinal);
    }

    [Fact]
    public void TrainingRun_MnistAsPngFolder_GivesTheWeightsOfTheSameImagesFromIdx()
    {
        WriteMnistFolder(400, trainCount: 300);
        ImageDataset fromFolder = Load();
        // The same MNIST images in the order the folder loads them (its training split is shuffled by --split-seed).
        ImageSet mnist = RealMnist.Load().Test;
        int[] trainOrder = FolderOrder.WrittenIndices(fromFolder.Train);
        var idxTrain = FolderOrder.Select(mnist, "train", trainOrder);
        var fromIdx = new ImageDataset(idxTrain, MnistInFolderOrder("test", 300, 400), MnistDataset.ClassNames);

        float[] Train(ImageDataset data, string name)
        {
            var options = new TrainingOptions { Epochs = 1, BatchSize = 32, Hidden = [32], ValidationSplit = 0, Seed = 4 };
            options.Validate(data.Schema, data.Train.Count);
            using var upload = new DeviceImageDataset(fixture.Device.Accelerator, data);
            string folder = Path.Combine(dir.Path, name);
            using (var run = TrainingRun.Start(folder, options, fixture.KernelDevice, upload))
                run.Finish(run.Train(cancel: TestContext.Current.CancellationToken));
            return TrainedModel.Load(folder).Parameters;
        }

        Assert.Equal(Train(fromIdx, "idx"), Train(fromFolder, "folder"));
    }

    // ---- splits and class order ----

    [Fact]
    public void Load_NoSplitFolders_DrawsAStratifiedSplitThatDependsOnlyOnTheSeed()
    {
        WriteMnistFolder(300, trainCount: null);
        ImageSet mnist = RealMnist.Load().Test;
        ImageDataset first = Load();
        Assert.Contains("test split drawn: in each class round(n x 0.2) images (at most n - 1), chosen with --split-seed 1", Log, StringComparison.Ordinal);
        for (byte label = 0; label < 10; label++)
        {
            int n = Enumerable.Range(0, 300).Count(i => mnist.Labels[i] == label);
            Assert.Equal((int)Math.Round(n * 0.2, MidpointRounding.AwayFromZero), first.Test.Labels.Count(l => l == label));
        }
        Assert.Equal(300, first.Train.Count + first.Test.Count);

        ImageDataset again = new ImageFolderSource(DataRoot, ImageLoadOptions.Default, Path.Combine(dir.Path, "other-cache")).Load(_ => { });
        Assert.Equal(first.Test.Pixels, again.Test.Pixels);
        Assert.Equal(first.Train.Pixels, again.Train.Pixels);

        ImageDataset reseeded = Load(ImageLoadOptions.Default with { SplitSeed = 2 });
        Assert.Equal(first.Test.Labels, reseeded.Test.Labels);
        Assert.NotEqual(first.Test.Pixels, reseeded.Test.Pixels);
    }

    [Fact]
    public void Schema_ClassFoldersInAnyOrder_NamesTheClassesInOrdinalOrder()
    {
        foreach (string name in new[] { "b", "a", "C", "10", "9" })
            WriteGray(Path.Combine(DataRoot, name, "x.png"), new byte[16 * 16], 16, 16);
        WriteGray(Path.Combine(DataRoot, "a", "y.png"), new byte[16 * 16], 16, 16);
        var source = Source(ImageLoadOptions.Default with { TestSplit = 0 });

        Assert.Equal(["10", "9", "C", "a", "b"], source.Schema.ClassNames);
        ImageDataset data = source.Load(log.Add);
        Assert.Equal([0, 1, 2, 3, 3, 4], FolderOrder.Of(data.Train).Labels);
    }

    // ---- colour, sizes, alpha ----

    [Fact]
    public void Load_TintedDigitsOnColouredBackgrounds_ReadsThreeRgbChannelsInSortedClassOrder()
    {
        var written = WriteColourFolder(perClass: 8);
        ImageDataset data = Load(ImageLoadOptions.Default with { TestSplit = 0.25 });

        Assert.Equal(new ImageShape(3, 32, 32), data.Shape);
        Assert.Equal(["Mango", "apple", "zebra"], data.ClassNames);
        Assert.Contains("images read as 3 channels (RGB): 24 of 24 files store colour", Log, StringComparison.Ordinal);
        Assert.Equal(18, data.Train.Count);
        Assert.Equal(6, data.Test.Count);
        // Every decoded image is one of the written ones, of its class, exactly.
        foreach (ImageSet split in new[] { data.Train, data.Test })
        {
            for (int i = 0; i < split.Count; i++)
            {
                string className = data.ClassNames[split.Labels[i]];
                byte[] image = split.Image(i).ToArray();
                Assert.Contains(written, pair => pair.Key.Contains(Path.DirectorySeparatorChar + className + Path.DirectorySeparatorChar, StringComparison.Ordinal) && pair.Value.SequenceEqual(image));
            }
        }

        ImageDataset gray = Load(ImageLoadOptions.Default with { Channels = ImageChannels.Gray });
        Assert.Equal(new ImageShape(1, 32, 32), gray.Shape);
        // Rec. 601 luma of the zebra background (200, 30, 30) at the corner.
        Assert.Equal((byte)(((299 * 200) + (587 * 30) + (114 * 30) + 500) / 1000), gray.Train.Image(gray.Train.Labels.ToList().IndexOf(2))[0]);
    }

    [Fact]
    public void Load_TransparentPixels_AreCompositedOntoBlack()
    {
        var planes = new byte[4 * 4 * 4];
        Array.Fill(planes, (byte)255, 0, 3 * 16);
        for (int i = 0; i < 16; i++)
            planes[(3 * 16) + i] = i < 8 ? (byte)0 : (byte)255;
        WriteRgba(Path.Combine(DataRoot, "a", "x.png"), planes, 4, 4, withAlpha: true);
        WriteRgba(Path.Combine(DataRoot, "b", "x.png"), planes, 4, 4, withAlpha: true);

        ImageDataset data = Load(ImageLoadOptions.Default with { TestSplit = 0, Channels = ImageChannels.Gray });

        Assert.Equal([.. Enumerable.Repeat((byte)0, 8), .. Enumerable.Repeat((byte)255, 8)], data.Train.Image(0).ToArray());
        Assert.Contains("alpha is composited onto black", Log, StringComparison.Ordinal);
    }

    /// <summary>A 2x2 24-bit BMP whose pixels all have the gray value <paramref name="value"/>.</summary>
    private static byte[] Bmp2x2(byte value)
    {
        var bmp = new byte[14 + 40 + 16];
        "BM"u8.CopyTo(bmp);
        BitConverter.TryWriteBytes(bmp.AsSpan(2), bmp.Length);
        BitConverter.TryWriteBytes(bmp.AsSpan(10), 54);
        BitConverter.TryWriteBytes(bmp.AsSpan(14), 40);
        BitConverter.TryWriteBytes(bmp.AsSpan(18), 2);
        BitConverter.TryWriteBytes(bmp.AsSpan(22), 2);
        BitConverter.TryWriteBytes(bmp.AsSpan(26), (short)1);
        BitConverter.TryWriteBytes(bmp.AsSpan(28), (short)24);
        BitConverter.TryWriteBytes(bmp.AsSpan(34), 16);
        for (int row = 0; row < 2; row++)
            bmp.AsSpan(54 + (8 * row), 6).Fill(value);
        return bmp;
    }

    [Fact]
    public void Load_JpegWebpBmpAndGif_AreAllRead()
    {
        var planes = new byte[3 * 2 * 2];
        Array.Fill(planes, (byte)128);
        using (var bitmap = new SKBitmap(new SKImageInfo(2, 2, SKColorType.Rgba8888, SKAlphaType.Opaque)))
        {
            bitmap.Erase(new SKColor(128, 128, 128));
            Directory.CreateDirectory(Path.Combine(DataRoot, "a"));
            Directory.CreateDirectory(Path.Combine(DataRoot, "b"));
            using (SKData jpeg = bitmap.Encode(SKEncodedImageFormat.Jpeg, 95))
                File.WriteAllBytes(Path.Combine(DataRoot, "a", "1.JPG"), jpeg.ToArray());
            using (SKData webp = bitmap.Encode(SKEncodedImageFormat.Webp, 95))
                File.WriteAllBytes(Path.Combine(DataRoot, "b", "1.webp"), webp.ToArray());
        }
        File.WriteAllBytes(Path.Combine(DataRoot, "a", "2.gif"), Convert.FromBase64String("R0lGODlhAQABAIAAAP///wAAACwAAAAAAQABAAACAkQBADs="));
        File.WriteAllBytes(Path.Combine(DataRoot, "b", "2.bmp"), Bmp2x2(77));

        ImageSet train = FolderOrder.Of(Load(ImageLoadOptions.Default with { TestSplit = 0, ImageSize = 2, Channels = ImageChannels.Gray }).Train);

        Assert.Equal([0, 0, 1, 1], train.Labels);
        Assert.All(train.Image(0).ToArray(), value => Assert.InRange(value, 124, 132));
        Assert.Equal([255, 255, 255, 255], train.Image(1).ToArray());
        Assert.All(train.Image(2).ToArray(), value => Assert.InRange(value, 124, 132));
        Assert.Equal([77, 77, 77, 77], train.Image(3).ToArray());
    }

    [Fact]
    public void Load_MixedSizes_ResizesToTheMostCommonSizeAndSaysSo()
    {
        var gray = new byte[40 * 40];
        Array.Fill(gray, (byte)90);
        for (int k = 0; k < 2; k++)
        {
            for (int n = 0; n < 3; n++)
                WriteGray(Path.Combine(DataRoot, $"c{k}", $"small{n}.png"), gray.AsSpan(0, 20 * 20), 20, 20);
            WriteGray(Path.Combine(DataRoot, $"c{k}", "large.png"), gray, 40, 30);
        }

        ImageDataset data = Load(ImageLoadOptions.Default with { TestSplit = 0 });

        Assert.Equal(new ImageShape(1, 20, 20), data.Shape);
        Assert.Contains("images have 2 sizes: 2 of 8 resized to the most common, 20x20", Log, StringComparison.Ordinal);
        Assert.All(data.Train.Pixels, value => Assert.Equal(90, value));

        ImageDataset fixedSize = Load(ImageLoadOptions.Default with { TestSplit = 0, ImageSize = 12 });
        Assert.Equal(new ImageShape(1, 12, 12), fixedSize.Shape);
        Assert.Contains("images resized to 12x12 (--image-size): 8 of 8 differ", Log, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_LargeFolder_ReportsProgressEveryTwentieth()
    {
        for (int n = 0; n < 2000; n++)
            WriteGray(Path.Combine(DataRoot, n % 2 == 0 ? "even" : "odd", $"{n:D4}.png"), [(byte)n, 0, 0, 0], 2, 2);

        ImageDataset data = Load();

        Assert.Equal(2000, data.Train.Count + data.Test.Count);
        Assert.Equal(20, log.Count(line => line.StartsWith("decoded ", StringComparison.Ordinal) && line.Contains(" of 2000 images (", StringComparison.Ordinal)));
        Assert.Contains("decoded 2000 of 2000 images (", Log, StringComparison.Ordinal);
    }

    // ---- bad input ----

    private void WriteTwoClasses()
    {
        WriteGray(Path.Combine(DataRoot, "cat", "1.png"), new byte[64], 8, 8);
        WriteGray(Path.Combine(DataRoot, "dog", "1.png"), new byte[64], 8, 8);
    }

    [Fact]
    public void Load_CorruptImage_FailsWithOneLineNamingTheFile()
    {
        WriteTwoClasses();
        string bad = Path.Combine(DataRoot, "dog", "2.png");
        File.WriteAllText(bad, "not an image");

        var ex = Assert.Throws<DataFormatException>(() => Load());

        AssertOneLine(ex);
        Assert.Equal($"{bad}: cannot decode the image (not a PNG, JPEG, BMP, GIF or WebP file, or corrupt)", ex.Message);
        Assert.False(Directory.Exists(CacheRoot));
    }

    [Fact]
    public void Load_TruncatedImageWithSizesFixedByOptions_FailsWithOneLineNamingTheFile()
    {
        WriteTwoClasses();
        string bad = Path.Combine(DataRoot, "dog", "2.png");
        WriteGray(bad, Idx.Pixels(64 * 64, seed: 3), 64, 64);
        byte[] whole = File.ReadAllBytes(bad);
        File.WriteAllBytes(bad, whole[..(whole.Length / 2)]);

        var ex = Assert.Throws<DataFormatException>(() => Load(ImageLoadOptions.Default with { ImageSize = 8, Channels = ImageChannels.Gray }));

        AssertOneLine(ex);
        Assert.StartsWith($"{bad}: cannot decode the image", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Schema_EmptyClassFolder_FailsWithOneLineNamingTheFolder()
    {
        WriteTwoClasses();
        Directory.CreateDirectory(Path.Combine(DataRoot, "emu"));
        File.WriteAllText(Path.Combine(DataRoot, "emu", "notes.txt"), "none yet");

        var ex = Assert.Throws<DataFormatException>(() => Source().Schema);

        AssertOneLine(ex);
        Assert.Equal($"{Path.Combine(Path.GetFullPath(DataRoot), "emu")}: class folder holds no images", ex.Message);
    }

    [Fact]
    public void Schema_TrainAndTestWithDifferentClasses_FailsWithOneLineNamingTheDifference()
    {
        foreach (string path in new[] { "train/cat/1.png", "train/dog/1.png", "test/cat/1.png", "test/cow/1.png" })
            WriteGray(Path.Combine(DataRoot, path), new byte[64], 8, 8);

        var ex = Assert.Throws<DataFormatException>(() => Source().Schema);

        AssertOneLine(ex);
        Assert.Equal($"{DataRoot}: train/ and test/ hold different class folders (only in train/: dog; only in test/: cow)", ex.Message);
    }

    [Fact]
    public void Schema_TrainWithoutTest_FailsWithOneLine()
    {
        WriteGray(Path.Combine(DataRoot, "train", "cat", "1.png"), new byte[64], 8, 8);
        WriteGray(Path.Combine(DataRoot, "train", "dog", "1.png"), new byte[64], 8, 8);

        var ex = Assert.Throws<DataFormatException>(() => Source().Schema);

        Assert.Equal($"{DataRoot} has a train/ folder but no test/ folder: give both (the splits) or neither (class folders)", ex.Message);
    }

    [Fact]
    public void Schema_NoImagesAtAll_FailsWithOneLine()
    {
        foreach (string name in new[] { "a", "b" })
        {
            Directory.CreateDirectory(Path.Combine(DataRoot, name));
            File.WriteAllText(Path.Combine(DataRoot, name, "readme.md"), "text");
        }

        var ex = Assert.Throws<DataFormatException>(() => Source().Schema);

        AssertOneLine(ex);
        Assert.StartsWith($"{Path.GetFullPath(DataRoot)}: no images at all (expected .png, .jpg", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Schema_OneClassOrNoClassFolders_FailsWithOneLine()
    {
        WriteGray(Path.Combine(DataRoot, "cat", "1.png"), new byte[64], 8, 8);
        var one = Assert.Throws<DataFormatException>(() => Source().Schema);
        Assert.Equal($"{DataRoot}: a classifier needs at least 2 class folders, found 1 (cat)", one.Message);

        string flat = Path.Combine(dir.Path, "flat");
        WriteGray(Path.Combine(flat, "1.png"), new byte[64], 8, 8);
        var none = Assert.Throws<DataFormatException>(() => Source(root: flat).Schema);
        Assert.Equal($"{flat}: no class folders (expected <class>/<image> inside)", none.Message);

        var missing = Assert.Throws<DataFormatException>(() => Source(root: Path.Combine(dir.Path, "nowhere")).Schema);
        Assert.Equal($"{Path.Combine(dir.Path, "nowhere")}: no such folder", missing.Message);
    }

    [Fact]
    public void Load_OtherFiles_AreSkippedAndCounted()
    {
        WriteTwoClasses();
        File.WriteAllText(Path.Combine(DataRoot, "README.txt"), "about");
        File.WriteAllText(Path.Combine(DataRoot, "cat", "labels.csv"), "x");
        File.WriteAllText(Path.Combine(DataRoot, "dog", "notes.txt"), "x");
        File.WriteAllText(Path.Combine(DataRoot, "dog", ".DS_Store"), "x");
        Directory.CreateDirectory(Path.Combine(DataRoot, ".ipynb_checkpoints"));

        ImageDataset data = Load(ImageLoadOptions.Default with { TestSplit = 0 });

        Assert.Equal(["cat", "dog"], data.ClassNames);
        Assert.Equal(2, data.Train.Count);
        Assert.Contains("skipped 1 hidden file (e.g. ", Log, StringComparison.Ordinal);
        Assert.Contains("; 1 hidden folder (e.g. ", Log, StringComparison.Ordinal);
        Assert.Contains("; 2 not an image extension (e.g. ", Log, StringComparison.Ordinal);
        Assert.Contains("; 1 not in a class folder (e.g. ", Log, StringComparison.Ordinal);
    }

    [Fact]
    public void Constructor_OptionsOutOfRange_AreRefusedWithTheFlag()
    {
        Assert.StartsWith("--test-split 1 ", Assert.Throws<OptionException>(() => Source(ImageLoadOptions.Default with { TestSplit = 1 })).Message, StringComparison.Ordinal);
        Assert.StartsWith("--image-size 0 ", Assert.Throws<OptionException>(() => Source(ImageLoadOptions.Default with { ImageSize = 0 })).Message, StringComparison.Ordinal);
    }

    // ---- cache, and the user's folder left alone ----

    private Dictionary<string, (long, DateTime)> Snapshot(string root) =>
        Directory.EnumerateFileSystemEntries(root, "*", SearchOption.AllDirectories)
            .ToDictionary(path => path, path => (File.Exists(path) ? new FileInfo(path).Length : -1, File.GetLastWriteTimeUtc(path)));

    [Fact]
    public void Load_SecondTime_ReadsTheCacheUntilAFileChangesAndNeverWritesIntoTheDataFolder()
    {
        WriteMnistFolder(120, trainCount: 100);
        var before = Snapshot(DataRoot);

        ImageDataset first = Load();
        Assert.Contains("decoded 120 images as 1x28x28", Log, StringComparison.Ordinal);
        Assert.Contains($"decoded images cached in {CacheRoot}", Log, StringComparison.Ordinal);
        Assert.Single(Directory.GetFiles(CacheRoot));

        log.Clear();
        var cachedSource = Source();
        Assert.Equal(first.Schema, cachedSource.Schema);
        ImageDataset second = cachedSource.Load(log.Add);
        Assert.Contains("decoded images read from the cache", Log, StringComparison.Ordinal);
        Assert.DoesNotContain("decoded 120 images", Log, StringComparison.Ordinal);
        Assert.Equal(first.Train.Pixels, second.Train.Pixels);
        Assert.Equal(first.Test.Labels, second.Test.Labels);
        Assert.Equal(before, Snapshot(DataRoot));

        // The same bytes under a new time: read again.
        string touched = Directory.GetFiles(Path.Combine(DataRoot, "test"), "*.png", SearchOption.AllDirectories)[0];
        File.SetLastWriteTimeUtc(touched, File.GetLastWriteTimeUtc(touched).AddMinutes(1));
        log.Clear();
        ImageDataset third = Load();
        Assert.Contains("decoded 120 images", Log, StringComparison.Ordinal);
        Assert.Equal(first.Train.Pixels, third.Train.Pixels);

        // A new image: read again, and counted.
        WriteGray(Path.Combine(DataRoot, "train", "3", "99999.png"), new byte[28 * 28], 28, 28);
        before = Snapshot(DataRoot);
        log.Clear();
        ImageDataset fourth = Load();
        Assert.Contains("decoded 121 images", Log, StringComparison.Ordinal);
        Assert.Equal(101, fourth.Train.Count);
        Assert.Single(Directory.GetFiles(CacheRoot));
        Assert.Equal(before, Snapshot(DataRoot));
    }

    [Fact]
    public void Load_DamagedCacheFile_IsIgnoredAndReplaced()
    {
        WriteTwoClasses();
        ImageDataset first = Load(ImageLoadOptions.Default with { TestSplit = 0 });
        string cacheFile = Assert.Single(Directory.GetFiles(CacheRoot));
        byte[] whole = File.ReadAllBytes(cacheFile);
        File.WriteAllBytes(cacheFile, whole[..(whole.Length - 5)]);

        log.Clear();
        ImageDataset second = Load(ImageLoadOptions.Default with { TestSplit = 0 });

        Assert.Contains("decoded 2 images", Log, StringComparison.Ordinal);
        Assert.Equal(first.Train.Pixels, second.Train.Pixels);
        Assert.Equal(whole, File.ReadAllBytes(cacheFile));
    }

    [Fact]
    public void Load_CacheFolderInsideTheDataFolder_WritesNothingThere()
    {
        WriteTwoClasses();
        var before = Snapshot(DataRoot);

        new ImageFolderSource(DataRoot, ImageLoadOptions.Default with { TestSplit = 0 }, Path.Combine(DataRoot, "cache")).Load(log.Add);

        Assert.Contains("decoded images not cached: the cache folder", Log, StringComparison.Ordinal);
        Assert.Equal(before, Snapshot(DataRoot));
    }

    [Fact]
    public void CacheDirectory_Environment_PrefersGpumlpCacheDirThenXdgCacheHome()
    {
        string home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        Assert.Equal(Path.Combine("/tmp/own", "image-folders"),
            DecodedImageCache.Directory(name => name == DecodedImageCache.VariableName ? "/tmp/own" : "/tmp/xdg"));
        Assert.Equal(Path.Combine("/tmp/xdg", "gpumlp", "image-folders"),
            DecodedImageCache.Directory(name => name == "XDG_CACHE_HOME" ? "/tmp/xdg" : null));
        Assert.Equal(Path.Combine(home, ".cache", "gpumlp", "image-folders"), DecodedImageCache.Directory(_ => null));
    }

    // ---- recognising the layout ----

    [Fact]
    public void IsImageFolder_ClassFoldersOrSplitFolders_IsTrueAndOtherPathsFalse()
    {
        WriteTwoClasses();
        Assert.True(ImageFolderSource.IsImageFolder(DataRoot));

        string split = Path.Combine(dir.Path, "split");
        Directory.CreateDirectory(Path.Combine(split, "train"));
        Directory.CreateDirectory(Path.Combine(split, "test"));
        Assert.True(ImageFolderSource.IsImageFolder(split));

        string idx = Path.Combine(dir.Path, "idx");
        Directory.CreateDirectory(idx);
        File.WriteAllBytes(Path.Combine(idx, "train-images-idx3-ubyte"), new byte[16]);
        Assert.False(ImageFolderSource.IsImageFolder(idx));
        Assert.False(ImageFolderSource.IsImageFolder(Path.Combine(idx, "train-images-idx3-ubyte")));
        Assert.False(ImageFolderSource.IsImageFolder(Path.Combine(dir.Path, "nowhere")));
    }
}
