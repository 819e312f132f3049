namespace GpuMlp.Data;

/// <summary>The schema a model file or a checkpoint records: the image shape as "CxHxW" and the
/// class names. Files written before datasets other than MNIST were trained record neither; they
/// hold MNIST models, and this is the one place that reads them so.</summary>
public static class RecordedSchema
{
    /// <summary>The recorded schema; MNIST's when neither part is recorded.</summary>
    /// <exception cref="DataFormatException">Only one part is recorded, or a part is invalid (one line).</exception>
    public static ImageSchema Read(string? shape, IReadOnlyList<string>? classNames)
    {
        if (shape is null && classNames is null)
            return MnistDataset.Schema;
        if (shape is null)
            throw new DataFormatException("class names are recorded without the image shape");
        if (classNames is null)
            throw new DataFormatException("the image shape is recorded without the class names");
        ImageShape parsed = ImageShape.TryParse(shape)
            ?? throw new DataFormatException($"the image shape '{Printable(shape)}' is not CxHxW with each dimension in 1..{ImageShape.MaxDimension}");
        return new ImageSchema(parsed, classNames);
    }

    /// <summary>At most 40 characters of a recorded value, control characters as '?': messages
    /// stay one line whatever a file holds.</summary>
    private static string Printable(string text)
    {
        string cut = text.Length > 40 ? text[..40] + "..." : text;
        return string.Concat(cut.Select(c => char.IsControl(c) ? '?' : c));
    }
}
