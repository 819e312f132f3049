using GpuMlp.Runs;

namespace GpuMlp.Tests.Runs;

/// <summary>What may become a new run folder (checked before any work is done).</summary>
public sealed class RunFolderTests : IDisposable
{
    private readonly TempDir dir = new();

    public void Dispose() => dir.Dispose();

    [Fact]
    public void RequireNewOrEmptyFolder_MissingOrEmptyFolder_IsAccepted()
    {
        RunArtifacts.RequireNewOrEmptyFolder(Path.Combine(dir.Path, "new"), "--out");
        RunArtifacts.RequireNewOrEmptyFolder(dir.Path, "--out");
        Assert.False(Directory.Exists(Path.Combine(dir.Path, "new")));
    }

    [Fact]
    public void RequireNewOrEmptyFolder_ExistingFile_IsAnOptionErrorSayingWhatIsExpected()
    {
        string file = Path.Combine(dir.Path, "README.md");
        File.WriteAllText(file, "mine");
        var error = Assert.Throws<OptionException>(() => RunArtifacts.RequireNewOrEmptyFolder(file, "--out"));
        Assert.Equal($"--out {file} is a file; expected a new or empty folder", error.Message);
    }

    [Fact]
    public void RequireNewOrEmptyFolder_FolderWithFiles_IsAnOptionErrorWithTheHint()
    {
        File.WriteAllText(Path.Combine(dir.Path, "notes.txt"), "mine");
        var error = Assert.Throws<OptionException>(() => RunArtifacts.RequireNewOrEmptyFolder(dir.Path, "--out", "or --resume it"));
        Assert.Equal($"--out {dir.Path} already exists and is not empty; expected a new or empty folder (or --resume it)", error.Message);
    }
}
