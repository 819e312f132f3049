namespace GpuMlp.Data;

/// <summary>How a user's images become an <see cref="ImageDataset"/>: what every source other than
/// MNIST's IDX folder reads from the command line (--image-size, --channels, --test-split,
/// --split-seed, --idx-transposed, --class-names).</summary>
public sealed record ImageLoadOptions
{
    /// <summary>Width and height every image is resized to; null keeps the size the images share
    /// (a source with mixed sizes then resizes to the most common one and says so).</summary>
    public int? ImageSize { get; init; }

    /// <summary>Grayscale or colour; <see cref="ImageChannels.Auto"/> infers it from the images
    /// (colour when any image has colour) and says which it chose.</summary>
    public ImageChannels Channels { get; init; } = ImageChannels.Auto;

    /// <summary>The fraction of the images held out as the test split when the source has no split
    /// of its own (no train/ and test/ folders, no test file); drawn with <see cref="SplitSeed"/>
    /// and recorded.</summary>
    public double TestSplit { get; init; } = 0.2;

    /// <summary>Seed of the drawn test split.</summary>
    public int SplitSeed { get; init; } = 1;

    /// <summary>IDX images stored transposed (EMNIST): read column-major.</summary>
    public bool IdxTransposed { get; init; }

    /// <summary>A text file naming the classes (EMNIST's mapping file: "label codepoint" per line,
    /// or one name per line in label order); null names classes by their label values.</summary>
    public string? ClassNamesFile { get; init; }

    public static ImageLoadOptions Default { get; } = new();
}

/// <summary>What the images are read as.</summary>
public enum ImageChannels
{
    Auto,
    Gray,
    Rgb,
}
