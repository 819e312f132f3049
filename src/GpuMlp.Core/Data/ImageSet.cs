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
    public ImageSet(string name, ImageShape shape, byte[] pixels, byte[] labels)
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
        Name = name;
        Shape = shape;
        Pixels = pixels;
        Labels = labels;
    }

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
