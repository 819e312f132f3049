namespace GpuMlp.Data;

/// <summary>A source whose files are read whole, once, the first time <see cref="Schema"/> or
/// <see cref="Load"/> needs them (the pixel-array sources: <see cref="IdxSource"/>,
/// <see cref="KaggleCsvSource"/>). <see cref="Read"/> returns the dataset and the lines that say
/// how it was made (a drawn split, resized images), which <see cref="Load"/> logs.</summary>
public abstract class ReadOnceSource : IImageSource
{
    private readonly Lazy<(ImageDataset Dataset, string[] Notes)> read;

    protected ReadOnceSource(string path, ImageLoadOptions options)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(options);
        Path = path;
        Options = options;
        read = new(Read, LazyThreadSafetyMode.ExecutionAndPublication);
    }

    public string Path { get; }

    public ImageLoadOptions Options { get; }

    /// <summary>The images' shape and classes; reads the files (once).</summary>
    public ImageSchema Schema => read.Value.Dataset.Schema;

    public ImageDataset Load(Action<string> log)
    {
        ArgumentNullException.ThrowIfNull(log);
        var (dataset, notes) = read.Value;
        foreach (string note in notes)
            log(note);
        return dataset;
    }

    /// <summary>Reads the files into the dataset; the notes are logged by every <see cref="Load"/>.</summary>
    protected abstract (ImageDataset Dataset, string[] Notes) Read();
}
