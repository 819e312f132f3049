namespace GpuMlp.Data;

/// <summary>What every sample of a classification dataset is and what its labels mean: images of
/// <see cref="Shape"/>, labels 0..K-1 naming <see cref="ClassNames"/>[label] (K = ClassNames.Count).
/// A network is built for a schema (its input and its number of class scores) and a model file
/// records the schema it was trained on.</summary>
public sealed class ImageSchema : IEquatable<ImageSchema>
{
    /// <summary>Labels are bytes, so at most 256 classes; a classifier needs at least two.</summary>
    public const int MaxClasses = 256;

    /// <exception cref="DataFormatException">The shape is invalid, there are fewer than two or more
    /// than <see cref="MaxClasses"/> classes, or a name is empty or repeated (one line).</exception>
    public ImageSchema(ImageShape shape, IReadOnlyList<string> classNames)
    {
        ArgumentNullException.ThrowIfNull(classNames);
        shape.Check("image shape");
        if (classNames.Count is < 2 or > MaxClasses)
            throw new DataFormatException($"a classifier needs 2..{MaxClasses} classes, got {classNames.Count}");
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < classNames.Count; i++)
        {
            if (string.IsNullOrEmpty(classNames[i]))
                throw new DataFormatException($"class {i} has no name");
            if (!seen.Add(classNames[i]))
                throw new DataFormatException($"class name '{classNames[i]}' is given twice");
        }
        Shape = shape;
        ClassNames = [.. classNames];
    }

    public ImageShape Shape { get; }

    /// <summary>The name of each label value, label order.</summary>
    public IReadOnlyList<string> ClassNames { get; }

    /// <summary>K: labels are 0..K-1.</summary>
    public int Classes => ClassNames.Count;

    /// <summary>"1x28x28 images, 10 classes".</summary>
    public override string ToString() => $"{Shape} images, {Classes} classes";

    /// <summary>With the class names (the first 12): "3x8x8 images, 4 classes (north, east, south, west)",
    /// for messages that must tell two schemas of the same shape apart.</summary>
    public string Summary => $"{this} ({string.Join(", ", ClassNames.Take(12))}{(Classes > 12 ? ", ..." : "")})";

    public bool Equals(ImageSchema? other) =>
        other is not null && Shape == other.Shape && ClassNames.SequenceEqual(other.ClassNames, StringComparer.Ordinal);

    public override bool Equals(object? obj) => Equals(obj as ImageSchema);

    public override int GetHashCode() => HashCode.Combine(Shape, Classes);
}
