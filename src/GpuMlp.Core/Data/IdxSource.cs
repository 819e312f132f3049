using System.Globalization;

namespace GpuMlp.Data;

/// <summary>A dataset from any folder of IDX files (unsigned bytes, raw or .gz): the training
/// images and labels named as MNIST names them (train-images-idx3-ubyte, train-labels-idx1-ubyte,
/// t10k-...) or as EMNIST does (<c>*-train-images-idx3-ubyte</c>, <c>*-test-labels-idx1-ubyte</c>,
/// ...). Images of any size; labels of any range: the classes are the label values present,
/// ascending, mapped to 0..K-1 and named by value or by <see cref="ImageLoadOptions.ClassNamesFile"/>
/// (EMNIST's mapping file). <see cref="ImageLoadOptions.IdxTransposed"/> reads images stored
/// transposed (EMNIST). Without test files the test split is drawn from the training files. MNIST's
/// own folder is read by <see cref="MnistFolder"/>; this source never fetches and never writes.</summary>
public sealed class IdxSource : ReadOnceSource
{
    private const string ImagesSuffix = "-images-idx3-ubyte";
    private const string LabelsSuffix = "-labels-idx1-ubyte";

    public IdxSource(string folder, ImageLoadOptions options)
        : base(folder, options)
    {
    }

    /// <summary>The IDX files (idx1/idx3-ubyte, raw or .gz) directly in <paramref name="folder"/>.</summary>
    public static IReadOnlyList<string> IdxFiles(string folder) =>
        Directory.Exists(folder)
            ? [.. Directory.EnumerateFiles(folder).Select(System.IO.Path.GetFileName).OfType<string>()
                .Where(name => Canonical(name).EndsWith("-ubyte", StringComparison.Ordinal) && Canonical(name).Contains("idx", StringComparison.Ordinal))
                .Order(StringComparer.Ordinal)]
            : [];

    private static string Canonical(string name) => name.EndsWith(".gz", StringComparison.Ordinal) ? name[..^3] : name;

    /// <summary>The one file of <paramref name="split"/> ("train" or "test") and <paramref name="suffix"/>,
    /// raw preferred over .gz; null when there is none.</summary>
    private string? Find(string split, string suffix, bool required)
    {
        string[] prefixes = split == "train" ? ["train"] : ["t10k", "test"];
        var matches = Directory.EnumerateFiles(Path)
            .Select(System.IO.Path.GetFileName).OfType<string>()
            .Where(name => prefixes.Any(p => Canonical(name) == p + suffix || Canonical(name).EndsWith("-" + p + suffix, StringComparison.Ordinal)))
            .GroupBy(Canonical, StringComparer.Ordinal)
            .Select(g => g.OrderBy(name => name.Length).First())
            .Order(StringComparer.Ordinal)
            .ToList();
        if (matches.Count > 1)
        {
            throw new DataFormatException(
                $"{System.IO.Path.GetFullPath(Path)} holds several {split}{suffix} files ({string.Join(", ", matches)}); give a folder with one dataset's files");
        }
        if (matches.Count == 0)
        {
            if (!required)
                return null;
            throw new FileNotFoundException(
                $"{System.IO.Path.GetFullPath(Path)} has no {split}{suffix} file (train{suffix} or <name>-train{suffix}, raw or .gz)",
                System.IO.Path.Combine(Path, "train" + suffix));
        }
        return System.IO.Path.Combine(Path, matches[0]);
    }

    protected override (ImageDataset Dataset, string[] Notes) Read()
    {
        if (!Directory.Exists(Path))
            throw new DirectoryNotFoundException($"--data {System.IO.Path.GetFullPath(Path)} does not exist");
        string trainImagesPath = Find("train", ImagesSuffix, required: true)!;
        string trainLabelsPath = Find("train", LabelsSuffix, required: true)!;
        string? testImagesPath = Find("test", ImagesSuffix, required: false);
        string? testLabelsPath = Find("test", LabelsSuffix, required: false);
        if ((testImagesPath is null) != (testLabelsPath is null))
        {
            throw new FileNotFoundException(
                $"{System.IO.Path.GetFullPath(Path)} has {testImagesPath ?? testLabelsPath} but not its {(testImagesPath is null ? "images" : "labels")}",
                testImagesPath ?? testLabelsPath);
        }

        var notes = new List<string>();
        (IdxImages trainImages, byte[] trainLabels) = ReadPair(trainImagesPath, trainLabelsPath);
        (IdxImages Images, byte[] Labels)? test = testImagesPath is null ? null : ReadPair(testImagesPath, testLabelsPath!);
        if (test is { } t && (t.Images.Rows != trainImages.Rows || t.Images.Columns != trainImages.Columns))
        {
            throw new DataFormatException(string.Create(CultureInfo.InvariantCulture,
                $"{testImagesPath} has images of {t.Images.Rows}x{t.Images.Columns} but {trainImagesPath} has {trainImages.Rows}x{trainImages.Columns}"));
        }

        // Transposed files declare rows x columns of the stored (transposed) image.
        int height = Options.IdxTransposed ? trainImages.Columns : trainImages.Rows;
        int width = Options.IdxTransposed ? trainImages.Rows : trainImages.Columns;
        ImageShape shape = GrayImages.ShapeFor(height, width, Options);

        int[] values = GrayImages.PresentLabels(trainLabels, test?.Labels ?? []);
        string[] names = GrayImages.ClassNames(values, Options.ClassNamesFile);
        var classOf = new byte[byte.MaxValue + 1];
        for (int i = 0; i < values.Length; i++)
            classOf[values[i]] = (byte)i;
        bool identity = values.Length == values[^1] + 1;

        byte[] Pixels(IdxImages images) =>
            GrayImages.Convert(Options.IdxTransposed ? Transpose(images) : images.Pixels, images.Count, height, width, shape);
        byte[] Labels(byte[] labels) => identity ? labels : GrayImages.Remap(labels, classOf);

        ImageSet trainSet, testSet;
        if (test is { } pair)
        {
            trainSet = new ImageSet(trainImagesPath, shape, Pixels(trainImages), Labels(trainLabels));
            testSet = new ImageSet(testImagesPath!, shape, Pixels(pair.Images), Labels(pair.Labels));
        }
        else
        {
            (trainSet, testSet) = GrayImages.DrawTestSplit(trainImagesPath, shape, Pixels(trainImages), Labels(trainLabels), Options);
            notes.Add(string.Create(CultureInfo.InvariantCulture,
                $"test split drawn from {trainImagesPath} (no test files beside it): {testSet.Count} of {trainImages.Count} images (--test-split {Options.TestSplit}, --split-seed {Options.SplitSeed})"));
        }
        var dataset = new ImageDataset(trainSet, testSet, names);
        string labelNote = identity ? "" : string.Create(CultureInfo.InvariantCulture, $" (label values {values[0]}..{values[^1]} as classes 0..{values.Length - 1})");
        notes.Insert(0, string.Create(CultureInfo.InvariantCulture,
            $"{Path}: {trainSet.Count} training and {testSet.Count} test images of {shape}{(Options.IdxTransposed ? " read transposed" : "")}{GrayImages.Describe(height, width, shape)}, {dataset.Classes} classes{labelNote}"));
        return (dataset, [.. notes]);
    }

    private static (IdxImages Images, byte[] Labels) ReadPair(string imagesPath, string labelsPath)
    {
        IdxImages images = IdxFile.ReadImages(imagesPath);
        byte[] labels = IdxFile.ReadLabelValues(labelsPath);
        if (images.Count != labels.Length)
        {
            throw new DataFormatException(string.Create(CultureInfo.InvariantCulture,
                $"{imagesPath} has {images.Count} images but {labelsPath} has {labels.Length} labels"));
        }
        return (images, labels);
    }

    /// <summary>Images stored column-major (rows x columns as declared) as row-major images of
    /// columns x rows: out[r, c] = stored[c, r].</summary>
    private static byte[] Transpose(IdxImages images)
    {
        int storedRows = images.Rows, storedColumns = images.Columns, size = storedRows * storedColumns;
        var result = new byte[images.Pixels.Length];
        for (int i = 0; i < images.Count; i++)
        {
            ReadOnlySpan<byte> stored = images.Pixels.AsSpan(i * size, size);
            Span<byte> image = result.AsSpan(i * size, size);
            for (int r = 0; r < storedColumns; r++)
            {
                for (int c = 0; c < storedRows; c++)
                    image[(r * storedRows) + c] = stored[(c * storedColumns) + r];
            }
        }
        return result;
    }
}
