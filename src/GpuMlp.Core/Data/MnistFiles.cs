using System.Collections.Frozen;

namespace GpuMlp.Data;

/// <summary>Canonical MNIST file names and the SHA-256 of each raw (un-gzipped) file.</summary>
public static class MnistFiles
{
    public const string TrainImages = "train-images-idx3-ubyte";
    public const string TrainLabels = "train-labels-idx1-ubyte";
    public const string TestImages = "t10k-images-idx3-ubyte";
    public const string TestLabels = "t10k-labels-idx1-ubyte";

    public static IReadOnlyList<string> All { get; } = [TrainImages, TrainLabels, TestImages, TestLabels];

    /// <summary>Lower-case hex SHA-256 of the raw files, keyed by canonical name.</summary>
    public static IReadOnlyDictionary<string, string> Sha256 { get; } = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        [TrainImages] = "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        [TrainLabels] = "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        [TestImages] = "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        [TestLabels] = "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    }.ToFrozenDictionary(StringComparer.Ordinal);

    /// <summary>Path of <paramref name="canonicalName"/> or <c>canonicalName.gz</c> in <paramref name="dir"/> (raw preferred), or null.</summary>
    public static string? Locate(string dir, string canonicalName)
    {
        ArgumentException.ThrowIfNullOrEmpty(dir);
        ArgumentException.ThrowIfNullOrEmpty(canonicalName);
        string raw = Path.Combine(dir, canonicalName);
        if (File.Exists(raw))
        {
            return raw;
        }
        string gz = raw + ".gz";
        return File.Exists(gz) ? gz : null;
    }
}
