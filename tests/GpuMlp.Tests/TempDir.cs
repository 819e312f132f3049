namespace GpuMlp.Tests;

/// <summary>A fresh temporary directory per test, deleted on dispose.</summary>
internal sealed class TempDir : IDisposable
{
    public TempDir() => Path = Directory.CreateTempSubdirectory("gpumlp-test-").FullName;

    public string Path { get; }

    /// <summary>Writes <paramref name="bytes"/> (gzipped when asked) to a file of the directory.</summary>
    public string Write(string name, byte[] bytes, bool gzip = false)
    {
        string path = System.IO.Path.Combine(Path, name);
        File.WriteAllBytes(path, gzip ? GpuMlp.Tests.Data.Idx.Gzip(bytes) : bytes);
        return path;
    }

    /// <summary>The names of the files directly in the directory, sorted.</summary>
    public string[] Files() =>
        Directory.GetFiles(Path).Select(System.IO.Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal).ToArray();

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // Best effort: a leftover temp directory is harmless; do not mask the test result.
        }
    }
}
