using System.Globalization;

namespace GpuMlp.Data;

/// <summary>One split of a dataset: <see cref="Count"/> images of <see cref="Shape"/> in
/// <see cref="Pixels"/> (Count x C x H x W bytes, image after image, each NCHW without the batch
/// dimension) and their labels (one byte each, checked against the class count by
/// <see cref="ImageDataset"/>). Treat the arrays as read-only: datasets are shared.</summary>
public sealed class ImageSet
{
    /// <param name="name">How messages name the split, e.g. "train" or a file name.</param>
    /// <exception cref="DataFormatException">The shape is invalid, or the pixels are not one image
    /// of <paramref name="shape"/> per label (one line naming <paramref name="name"/>).</exception>
    /// <param name="itemNames">How messages and predictions name each image (e.g. its file relative
    /// to the data folder), one per label; null names image i "<paramref name="name"/>#i".</param>
    public ImageSet(string name, ImageShape shape, byte[] pixels, byte[] labels, IReadOnlyList<string>? itemNames = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(pixels);
        ArgumentNullException.ThrowIfNull(labels);
        shape.Check(name);
        long expected = (long)labels.Length * shape.Pixels;
        if (pixels.LongLength != expected)
        {
            throw new DataFormatException(string.Create(CultureInfo.InvariantCulture,
                $"{name}: {labels.Length} labels need {labels.Length} images of {shape} = {expected} bytes, found {pixels.LongLength}"));
        }
        if (itemNames is not null && itemNames.Count != labels.Length)
            throw new ArgumentException($"{name}: {itemNames.Count} item names for {labels.Length} images", nameof(itemNames));
        Name = name;
        Shape = shape;
        Pixels = pixels;
        Labels = labels;
        ItemNames = itemNames;
    }

    /// <summary>Each image's name where the source has one (an image folder's relative paths), else null.</summary>
    public IReadOnlyList<string>? ItemNames { get; }

    /// <summary>How image <paramref name="index"/> is named: its item name, or "Name#index".</summary>
    public string ItemName(int index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, Count);
        return ItemNames?[index] ?? string.Create(CultureInfo.InvariantCulture, $"{Name}#{index}");
    }

    /// <summary>The same images and labels named by <paramref name="itemNames"/>.</summary>
    public ImageSet WithItemNames(IReadOnlyList<string> itemNames) => new(Name, Shape, Pixels, Labels, itemNames);

    public string Name { get; }
    public ImageShape Shape { get; }
    public int Count => Labels.Length;
    public byte[] Pixels { get; }
    public byte[] Labels { get; }

    /// <summary>Image <paramref name="index"/>'s bytes.</summary>
    public ReadOnlySpan<byte> Image(int index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, Count);
        return Pixels.AsSpan(index * Shape.Pixels, Shape.Pixels);
    }

    /// <summary>Image <paramref name="index"/> as a network takes it: each byte / 255, in [0, 1].</summary>
    public float[] Normalised(int index)
    {
        ReadOnlySpan<byte> image = Image(index);
        var values = new float[image.Length];
        for (int i = 0; i < image.Length; i++)
            values[i] = image[i] / 255f;
        return values;
    }
}
