using System.Globalization;

namespace GpuMlp.Data;

/// <summary>A dataset from Kaggle-style pixel CSVs (<see cref="KaggleCsvFile"/>): one labelled CSV
/// file, or a folder holding train.csv and optionally test.csv. A test.csv with a label column is
/// the test split; otherwise (one file, or Kaggle's test.csv, which has no labels and is for
/// predict) the test split is drawn from the training file with <see cref="ImageLoadOptions.TestSplit"/>
/// and <see cref="ImageLoadOptions.SplitSeed"/>, and the load says so. Labels are 0..K-1 with
/// K = the largest label + 1 (a value with no image still names a class), each class named by its
/// value or by <see cref="ImageLoadOptions.ClassNamesFile"/>. The files are read once, the first
/// time <see cref="Schema"/> or <see cref="Load"/> needs them; nothing is written.</summary>
public sealed class KaggleCsvSource : ReadOnceSource
{
    public const string TrainFileName = "train.csv";
    public const string TestFileName = "test.csv";

    /// <param name="path">A .csv file, or a folder holding <see cref="TrainFileName"/> (and maybe <see cref="TestFileName"/>).</param>
    public KaggleCsvSource(string path, ImageLoadOptions options)
        : base(path, options)
    {
    }

    /// <summary>A .csv file, or a folder holding train.csv.</summary>
    public static bool IsCsvData(string path) =>
        (File.Exists(path) && path.EndsWith(".csv", StringComparison.OrdinalIgnoreCase))
        || (Directory.Exists(path) && File.Exists(System.IO.Path.Combine(path, TrainFileName)));

    protected override (ImageDataset Dataset, string[] Notes) Read()
    {
        bool folder = Directory.Exists(Path);
        string trainPath = folder ? System.IO.Path.Combine(Path, TrainFileName) : Path;
        string? testPath = folder && File.Exists(System.IO.Path.Combine(Path, TestFileName)) ? System.IO.Path.Combine(Path, TestFileName) : null;
        KaggleCsvImages train = KaggleCsvFile.Read(trainPath);
        if (train.Labels is null)
            throw new DataFormatException($"{trainPath}: no '{KaggleCsvFile.LabelColumn}' column, so nothing to learn from (a file without labels is for predict --csv)");
        KaggleCsvImages? test = testPath is null ? null : KaggleCsvFile.Read(testPath);
        if (test is not null && test.Shape != train.Shape)
            throw new DataFormatException($"{testPath} has images of {test.Shape} but {trainPath} has {train.Shape}");

        var notes = new List<string>();
        int side = train.Shape.Height;
        ImageShape shape = GrayImages.ShapeFor(side, side, Options);
        byte[] trainPixels = GrayImages.Convert(train.Pixels, train.Count, side, side, shape);
        int maxLabel = GrayImages.PresentLabels(train.Labels, test?.Labels ?? [])[^1];
        string[] names = GrayImages.ClassNames([.. Enumerable.Range(0, maxLabel + 1)], Options.ClassNamesFile);
        ImageSet trainSet, testSet;
        if (test?.Labels is byte[] testLabels)
        {
            trainSet = new ImageSet(trainPath, shape, trainPixels, train.Labels);
            testSet = new ImageSet(testPath!, shape, GrayImages.Convert(test.Pixels, test.Count, side, side, shape), testLabels);
        }
        else
        {
            (trainSet, testSet) = GrayImages.DrawTestSplit(trainPath, shape, trainPixels, train.Labels, Options);
            string why = test is null ? $"no {TestFileName} beside it" : $"{testPath} has no labels";
            notes.Add(string.Create(CultureInfo.InvariantCulture,
                $"test split drawn from {trainPath} ({why}): {testSet.Count} of {train.Count} images (--test-split {Options.TestSplit}, --split-seed {Options.SplitSeed})"));
        }
        var dataset = new ImageDataset(trainSet, testSet, names);
        notes.Insert(0, string.Create(CultureInfo.InvariantCulture,
            $"{Path}: {trainSet.Count} training and {testSet.Count} test images of {shape}{GrayImages.Describe(side, side, shape)}, {dataset.Classes} classes"));
        return (dataset, [.. notes]);
    }
}
