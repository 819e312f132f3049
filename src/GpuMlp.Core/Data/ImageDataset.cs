using System.Globalization;

namespace GpuMlp.Data;

/// <summary>A classification dataset: a training and a test split of images of one shape, labels
/// 0..K-1 and the class names. Everything that trains or evaluates (the trainer, tune, eval,
/// <see cref="MnistModel"/>) depends on this alone; a source of data (MNIST's IDX files,
/// <see cref="MnistDataset"/>) is one class that produces it.</summary>
public sealed class ImageDataset
{
    /// <exception cref="DataFormatException">The splits' shapes differ, a label is not below the class
    /// count, or the class names are invalid (one line naming the split, index and label).</exception>
    public ImageDataset(ImageSet train, ImageSet test, IReadOnlyList<string> classNames)
    {
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(test);
        if (train.Shape != test.Shape)
            throw new DataFormatException($"{train.Name} has images of {train.Shape} but {test.Name} has {test.Shape}");
        Schema = new ImageSchema(train.Shape, classNames);
        CheckLabels(train, Schema.Classes);
        CheckLabels(test, Schema.Classes);
        Train = train;
        Test = test;
    }

    public ImageSchema Schema { get; }
    public ImageShape Shape => Schema.Shape;
    public IReadOnlyList<string> ClassNames => Schema.ClassNames;
    public int Classes => Schema.Classes;
    public ImageSet Train { get; }
    public ImageSet Test { get; }

    private static void CheckLabels(ImageSet split, int classes)
    {
        int bad = Array.FindIndex(split.Labels, label => label >= classes);
        if (bad >= 0)
        {
            throw new DataFormatException(string.Create(CultureInfo.InvariantCulture,
                $"{split.Name}: label {split.Labels[bad]} at index {bad} is outside 0..{classes - 1} ({classes} classes)"));
        }
    }
}
