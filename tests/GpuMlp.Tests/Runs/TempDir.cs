namespace GpuMlp.Tests.Runs;

/// <summary>A fresh directory per test, removed afterwards.</summary>
internal sealed class TempDir : IDisposable
{
    public TempDir() => Path = Directory.CreateTempSubdirectory("gpumlp-runs-").FullName;

    public string Path { get; }

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
            // Leftover temp dirs are harmless; do not mask the test result.
        }
    }
}
