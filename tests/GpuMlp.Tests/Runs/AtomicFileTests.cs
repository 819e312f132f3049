using System.Text;
using GpuMlp.Runs;

namespace GpuMlp.Tests.Runs;

public sealed class AtomicFileTests : IDisposable
{
    private readonly TempDir dir = new();

    public void Dispose() => dir.Dispose();

    [Fact]
    public void WriteAllText_NewOrExistingFile_IsWrittenWithoutLeftovers()
    {
        string path = Path.Combine(dir.Path, "a.txt");

        AtomicFile.WriteAllText(path, "first");
        Assert.Equal("first", File.ReadAllText(path));

        AtomicFile.WriteAllText(path, "second, longer");
        Assert.Equal("second, longer", File.ReadAllText(path));
        Assert.Equal(["a.txt"], dir.Files());
    }

    [Fact]
    public void WriteAllText_Utf8_HasNoByteOrderMark()
    {
        string path = Path.Combine(dir.Path, "a.txt");
        AtomicFile.WriteAllText(path, "é");
        Assert.Equal(Encoding.UTF8.GetBytes("é"), File.ReadAllBytes(path));
    }

    [Fact]
    public void WriteAllBytes_AnyBytes_WritesThemExactly()
    {
        string path = Path.Combine(dir.Path, "b.bin");
        byte[] data = [0, 1, 2, 255, 128];

        AtomicFile.WriteAllBytes(path, data);

        Assert.Equal(data, File.ReadAllBytes(path));
        Assert.Equal(["b.bin"], dir.Files());
    }

    [Fact]
    public void Write_Callback_StreamsItsOutput()
    {
        string path = Path.Combine(dir.Path, "c.bin");
        AtomicFile.Write(path, s =>
        {
            s.WriteByte(7);
            s.Write([8, 9]);
        });
        Assert.Equal([7, 8, 9], File.ReadAllBytes(path));
    }

    [Fact]
    public void Write_ThrowingWriter_LeavesPreviousFileIntactAndNoTempFile()
    {
        string path = Path.Combine(dir.Path, "metrics.json");
        File.WriteAllText(path, "previous");

        var ex = Assert.Throws<InvalidOperationException>(() => AtomicFile.Write(path, s =>
        {
            // Write plenty (past any buffer) so the temp file really holds partial data on disk.
            s.Write(new byte[64 * 1024]);
            s.Flush();
            throw new InvalidOperationException("boom");
        }));

        Assert.Equal("boom", ex.Message);
        Assert.Equal("previous", File.ReadAllText(path));
        Assert.Equal(["metrics.json"], dir.Files());
    }

    [Fact]
    public void Write_ThrowingWriterWithNoPreviousFile_LeavesNothing()
    {
        string path = Path.Combine(dir.Path, "new.json");

        Assert.Throws<InvalidOperationException>(() =>
            AtomicFile.Write(path, _ => throw new InvalidOperationException()));

        Assert.Empty(dir.Files());
    }

    [Fact]
    public void Write_MissingDirectory_ThrowsAndLeavesNothing()
    {
        string path = Path.Combine(dir.Path, "missing", "x.txt");
        Assert.Throws<DirectoryNotFoundException>(() => AtomicFile.WriteAllText(path, "x"));
        Assert.Empty(dir.Files());
    }
}
