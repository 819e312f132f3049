namespace GpuMlp.Data;

/// <summary>The MNIST train and test splits, validated for 28x28 images and image/label count agreement.</summary>
public sealed class MnistDataset
{
    public const int Side = 28;

    public MnistDataset(IdxImages trainImages, byte[] trainLabels, IdxImages testImages, byte[] testLabels)
    {
        ArgumentNullException.ThrowIfNull(trainImages);
        ArgumentNullException.ThrowIfNull(trainLabels);
        ArgumentNullException.ThrowIfNull(testImages);
        ArgumentNullException.ThrowIfNull(testLabels);
        CheckSplit("train", trainImages, trainLabels);
        CheckSplit("t10k", testImages, testLabels);
        TrainImages = trainImages;
        TrainLabels = trainLabels;
        TestImages = testImages;
        TestLabels = testLabels;
    }

    public IdxImages TrainImages { get; }
    public byte[] TrainLabels { get; }
    public IdxImages TestImages { get; }
    public byte[] TestLabels { get; }

    /// <summary>Loads the four files (raw or .gz) from <paramref name="dataDir"/>; does not fetch (see <see cref="MnistFetcher"/>).</summary>
    public static MnistDataset Load(string dataDir)
    {
        ArgumentException.ThrowIfNullOrEmpty(dataDir);
        return new MnistDataset(
            IdxFile.ReadImages(Find(dataDir, MnistFiles.TrainImages)),
            IdxFile.ReadLabels(Find(dataDir, MnistFiles.TrainLabels)),
            IdxFile.ReadImages(Find(dataDir, MnistFiles.TestImages)),
            IdxFile.ReadLabels(Find(dataDir, MnistFiles.TestLabels)));
    }

    private static string Find(string dataDir, string name)
    {
        string? path = MnistFiles.Locate(dataDir, name);
        return path ?? throw new FileNotFoundException(
            $"MNIST file {name} (or {name}.gz) not found in {Path.GetFullPath(dataDir)}", Path.Combine(dataDir, name));
    }

    private static void CheckSplit(string split, IdxImages images, byte[] labels)
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
    }
}
