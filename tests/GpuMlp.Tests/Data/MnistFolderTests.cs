using GpuMlp.Data;

namespace GpuMlp.Tests.Data;

/// <summary>Which folders may be fetched into: the default one, or any with --download.</summary>
public sealed class MnistFolderTests : IDisposable
{
    private readonly TempDir dir = new();

    public void Dispose() => dir.Dispose();

    [Fact]
    public void For_NoFolderGiven_IsTheDefaultFolderAndFetches()
    {
        Assert.Equal(MnistFolder.Default, MnistFolder.For(null, download: false));
        Assert.True(MnistFolder.For(null, download: false).FetchMissing);
    }

    [Fact]
    public void For_TheDefaultFolderNamed_Fetches()
    {
        Assert.True(MnistFolder.For(Path.Combine("data", "mnist") + Path.DirectorySeparatorChar, download: false).FetchMissing);
        Assert.True(MnistFolder.For(Path.GetFullPath(MnistFolder.DefaultPath), download: false).FetchMissing);
    }

    [Fact]
    public void For_AnotherFolder_FetchesOnlyWithDownload()
    {
        Assert.False(MnistFolder.For(dir.Path, download: false).FetchMissing);
        Assert.True(MnistFolder.For(dir.Path, download: true).FetchMissing);
    }

    [Fact]
    public void Load_NamedFolderMissingFiles_NamesThemAndWritesNothing()
    {
        File.WriteAllBytes(Path.Combine(dir.Path, MnistFiles.TrainLabels), [1, 2, 3]);
        var folder = MnistFolder.For(dir.Path, download: false);
        var error = Assert.Throws<FileNotFoundException>(() => folder.Load(_ => Assert.Fail("nothing may be fetched")));
        foreach (string name in new[] { MnistFiles.TrainImages, MnistFiles.TestImages, MnistFiles.TestLabels })
            Assert.Contains(name, error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(MnistFiles.TrainLabels + ",", error.Message, StringComparison.Ordinal);
        Assert.Contains("--download", error.Message, StringComparison.Ordinal);
        Assert.Equal([MnistFiles.TrainLabels], dir.Files());
    }

    [Fact]
    public void Load_NamedFolderThatDoesNotExist_IsNotCreated()
    {
        string absent = Path.Combine(dir.Path, "typo");
        var error = Assert.Throws<FileNotFoundException>(() => MnistFolder.For(absent, download: false).Load(_ => { }));
        Assert.Contains("typo does not exist", error.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(absent));
    }
}
