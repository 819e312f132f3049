namespace GpuMlp.Data;

/// <summary>Where a dataset comes from: MNIST's IDX folder (<see cref="MnistFolder"/>) or any other
/// source, each one class that produces an <see cref="ImageDataset"/>. Everything after loading
/// (training, tune, eval, bench, models) depends on the dataset alone.</summary>
public interface IImageSource
{
    /// <summary>The file or folder the data is read from, as given.</summary>
    string Path { get; }

    /// <summary>The images' shape and the class names, known before the data is read, so options
    /// and models are checked against them before any download or long read.</summary>
    ImageSchema Schema { get; }

    /// <summary>Reads (and, where the source allows, fetches) the dataset; <paramref name="log"/>
    /// receives progress lines.</summary>
    ImageDataset Load(Action<string> log);
}
