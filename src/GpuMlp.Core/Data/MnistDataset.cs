using System.Globalization;

namespace GpuMlp.Data;

/// <summary>The MNIST source: the four IDX files (see <see cref="MnistFolder"/>, <see cref="IdxFile"/>)
/// as an <see cref="ImageDataset"/> of 1x28x28 images and the ten digit classes "0".."9". The only
/// place outside the IDX reader that knows MNIST's dimensions.</summary>
public static class MnistDataset
{
    public const int Side = 28;

    /// <summary>The digits 0..9.</summary>
    public const int ClassCount = 10;

    /// <summary>One grayscale channel of Side x Side pixels.</summary>
    public static ImageShape Shape { get; } = new(1, Side, Side);

    /// <summary>"0".."9": label d is the digit d.</summary>
    public static IReadOnlyList<string> ClassNames { get; } =
        [.. Enumerable.Range(0, ClassCount).Select(d => d.ToString(CultureInfo.InvariantCulture))];

    /// <summary>MNIST's shape and classes: what a model file without a recorded schema was trained on.</summary>
    public static ImageSchema Schema { get; } = new(Shape, ClassNames);

    /// <summary>Loads the four files (raw or .gz) from <paramref name="dataDir"/>; does not fetch (see <see cref="MnistFetcher"/>).</summary>
    public static ImageDataset Load(string dataDir)
    {
        ArgumentException.ThrowIfNullOrEmpty(dataDir);
        return FromIdx(
            IdxFile.ReadImages(Find(dataDir, MnistFiles.TrainImages)),
            IdxFile.ReadLabels(Find(dataDir, MnistFiles.TrainLabels)),
            IdxFile.ReadImages(Find(dataDir, MnistFiles.TestImages)),
            IdxFile.ReadLabels(Find(dataDir, MnistFiles.TestLabels)));
    }

    /// <summary>The dataset of the IDX contents, validated for 28x28 images and image/label count agreement.</summary>
    public static ImageDataset FromIdx(IdxImages trainImages, byte[] trainLabels, IdxImages testImages, byte[] testLabels)
    {
        ArgumentNullException.ThrowIfNull(trainImages);
        ArgumentNullException.ThrowIfNull(trainLabels);
        ArgumentNullException.ThrowIfNull(testImages);
        ArgumentNullException.ThrowIfNull(testLabels);
        return new ImageDataset(Split("train", trainImages, trainLabels), Split("t10k", testImages, testLabels), ClassNames);
    }

    private static string Find(string dataDir, string name)
    {
        string? path = MnistFiles.Locate(dataDir, name);
        return path ?? throw new FileNotFoundException(
            $"MNIST file {name} (or {name}.gz) not found in {Path.GetFullPath(dataDir)}", Path.Combine(dataDir, name));
    }

    private static ImageSet Split(string split, IdxImages images, byte[] labels)
    {
        if (images.Rows != Side || images.Columns != Side)
        {
            throw new DataFormatException(
                $"{split}-images: expected {Side}x{Side} images, found {images.Rows}x{images.Columns}");
        }
        if ((long)images.Count * images.Rows * images.Columns != images.Pixels.LongLength)
        {
            throw new DataFormatException(
                $"{split}-images: {images.Count} images of {images.Rows}x{images.Columns} need {(long)images.Count * images.Rows * images.Columns} pixels, found {images.Pixels.LongLength}");
        }
        if (images.Count != labels.Length)
        {
            throw new DataFormatException(
                $"{split}-images has {images.Count} images but {split}-labels has {labels.Length} labels");
        }
        return new ImageSet(split, Shape, images.Pixels, labels);
    }
}
