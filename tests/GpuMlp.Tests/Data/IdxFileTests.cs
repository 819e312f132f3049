using GpuMlp.Data;

namespace GpuMlp.Tests.Data;

public sealed class IdxFileTests : IDisposable
{
    private readonly TempDir dir = new();

    public void Dispose() => dir.Dispose();

    /// <summary>Asserts a one-line DataFormatException that names the file and contains every fragment.</summary>
    private static DataFormatException AssertFormatError(Action read, string fileName, params string[] fragments)
    {
        DataFormatException ex = Assert.Throws<DataFormatException>(read);
        Assert.DoesNotContain('\n', ex.Message);
        Assert.Contains(fileName, ex.Message, StringComparison.Ordinal);
        foreach (string f in fragments)
        {
            Assert.Contains(f, ex.Message, StringComparison.Ordinal);
        }
        return ex;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ReadImages_TinyFile_RoundTrips(bool gzip)
    {
        byte[] pixels = Idx.Pixels(3 * 4 * 5, seed: 11);
        // No .gz suffix: gzip must be detected by its magic bytes, not the name.
        string path = dir.Write("images.bin", Idx.Images(3, 4, 5, pixels), gzip);

        IdxImages images = IdxFile.ReadImages(path);

        Assert.Equal(3, images.Count);
        Assert.Equal(4, images.Rows);
        Assert.Equal(5, images.Columns);
        Assert.Equal(20, images.PixelsPerImage);
        Assert.Equal(pixels, images.Pixels);
    }

    [Fact]
    public void ReadImages_RawFileNamedGz_IsReadAsRaw()
    {
        byte[] pixels = Idx.Pixels(2 * 2 * 2);
        string path = dir.Write("images.gz", Idx.Images(2, 2, 2, pixels));
        Assert.Equal(pixels, IdxFile.ReadImages(path).Pixels);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ReadImages_NonSeekableStream_Reads(bool gzip)
    {
        byte[] pixels = Idx.Pixels(2 * 3 * 3, seed: 5);
        byte[] file = Idx.Images(2, 3, 3, pixels);
        using NonSeekableStream s = new(new MemoryStream(gzip ? Idx.Gzip(file) : file));

        IdxImages images = IdxFile.ReadImages(s, "stream");

        Assert.Equal((2, 3, 3), (images.Count, images.Rows, images.Columns));
        Assert.Equal(pixels, images.Pixels);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ReadLabels_TinyFile_RoundTrips(bool gzip)
    {
        byte[] labels = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 0];
        string path = dir.Write("labels", Idx.Labels(labels), gzip);
        Assert.Equal(labels, IdxFile.ReadLabels(path));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Read_WrongMagic_IsRejected(bool gzip)
    {
        byte[] file = Idx.Images(1, 2, 2, Idx.Pixels(4));
        file[0] = 0x12;
        file[1] = 0x34;
        string path = dir.Write("magic", file, gzip);
        AssertFormatError(() => IdxFile.ReadImages(path), path, "bad magic 0x12340803", "not an IDX file");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Read_WrongDataType_IsRejected(bool gzip)
    {
        byte[] file = [.. Idx.Header(0x0D, 3, 1, 2, 2), .. new byte[16]];
        string path = dir.Write("float", file, gzip);
        AssertFormatError(() => IdxFile.ReadImages(path), path, "data type 0x0D", "unsigned byte");
    }

    [Fact]
    public void Read_WrongRank_IsRejected()
    {
        string labels = dir.Write("labels", Idx.Labels(1, 2, 3));
        AssertFormatError(() => IdxFile.ReadImages(labels), labels, "rank 1, expected 3");

        string images = dir.Write("images", Idx.Images(1, 2, 2, Idx.Pixels(4)));
        AssertFormatError(() => IdxFile.ReadLabels(images), images, "rank 3, expected 1");
    }

    [Fact]
    public void Read_ZeroCount_IsRejected()
    {
        string path = dir.Write("empty-images", Idx.Images(0, 28, 28, []));
        AssertFormatError(() => IdxFile.ReadImages(path), path, "no images");

        string labels = dir.Write("empty-labels", Idx.Labels());
        AssertFormatError(() => IdxFile.ReadLabels(labels), labels, "no labels");
    }

    [Theory]
    [InlineData(-1, 28, "negative image count")]
    [InlineData(1, 0, "dimension 1 is 0")]
    [InlineData(1, 4097, "dimension 1 is 4097, must be 1-4096")]
    [InlineData(1, -28, "dimension 1 is -28")]
    public void Read_BadDimensions_AreRejected(int count, int rows, string fragment)
    {
        string path = dir.Write("dims", Idx.Header(0x08, 3, count, rows, 28));
        AssertFormatError(() => IdxFile.ReadImages(path), path, fragment);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Read_TruncatedPayload_IsRejected(bool gzip)
    {
        byte[] file = Idx.Images(2, 3, 3, Idx.Pixels(18))[..(16 + 10)];
        string path = dir.Write("short", file, gzip);
        AssertFormatError(() => IdxFile.ReadImages(path), path, "truncated: expected 18 bytes of pixel data, found 10");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void TruncatedPayload_NonSeekable_IsRejected(bool gzip)
    {
        byte[] file = Idx.Images(2, 3, 3, Idx.Pixels(18))[..(16 + 10)];
        using NonSeekableStream s = new(new MemoryStream(gzip ? Idx.Gzip(file) : file));
        AssertFormatError(() => IdxFile.ReadImages(s, "pipe"), "pipe", "truncated: expected 18 bytes of pixel data, found 10");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Read_TruncatedHeader_IsRejected(bool gzip)
    {
        string path = dir.Write("header", Idx.Images(2, 3, 3, [])[..9], gzip);
        AssertFormatError(() => IdxFile.ReadImages(path), path, "truncated header: expected 16 bytes, found 9");

        string empty = dir.Write("nothing", [], gzip);
        AssertFormatError(() => IdxFile.ReadLabels(empty), empty, "truncated header", "found 0");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Read_TrailingBytes_AreRejected(bool gzip)
    {
        byte[] file = [.. Idx.Images(2, 3, 3, Idx.Pixels(18)), 0xAA];
        string path = dir.Write("long", file, gzip);
        AssertFormatError(() => IdxFile.ReadImages(path), path, "extra bytes after the declared 18 bytes of pixel data");

        string labels = dir.Write("long-labels", [.. Idx.Labels(1, 2), 3], gzip);
        AssertFormatError(() => IdxFile.ReadLabels(labels), labels, "extra bytes");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void TrailingBytes_NonSeekable_AreRejected(bool gzip)
    {
        byte[] file = [.. Idx.Images(2, 3, 3, Idx.Pixels(18)), 0xAA, 0xBB];
        using NonSeekableStream s = new(new MemoryStream(gzip ? Idx.Gzip(file) : file));
        AssertFormatError(() => IdxFile.ReadImages(s, "pipe"), "pipe", "extra bytes");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Read_HugeDeclaredSize_IsRefusedBeforeAllocation(bool gzip)
    {
        // 100000 x 4096 x 4096 = 1.6 TB declared by a 16-byte file.
        string path = dir.Write("huge", Idx.Header(0x08, 3, 100_000, 4096, 4096), gzip);
        long before = GC.GetAllocatedBytesForCurrentThread();

        AssertFormatError(() => IdxFile.ReadImages(path), path, "declares 1677721600000 bytes", "1 GiB limit");

        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 16 << 20, "allocated the declared payload");
    }

    [Fact]
    public void JustOverLimit_IsRefused_NonSeekable()
    {
        // 65537 x 128 x 128 = 1 GiB + 16 KiB.
        using NonSeekableStream s = new(new MemoryStream(Idx.Header(0x08, 3, 65537, 128, 128)));
        AssertFormatError(() => IdxFile.ReadImages(s, "pipe"), "pipe", "1 GiB limit");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Read_CorruptGzip_IsDataFormatException(bool compressible)
    {
        byte[] pixels = compressible ? Idx.Pixels(50 * 28 * 28) : RandomBytes(50 * 28 * 28);
        byte[] gz = Idx.Gzip(Idx.Images(50, 28, 28, pixels));
        for (int i = gz.Length / 2; i < (gz.Length / 2) + 4; i++)
        {
            gz[i] ^= 0x5A;
        }
        string path = dir.Write("corrupt", gz);
        AssertFormatError(() => IdxFile.ReadImages(path), path);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Read_TruncatedGzip_IsDataFormatException(bool compressible)
    {
        byte[] pixels = compressible ? Idx.Pixels(50 * 28 * 28) : RandomBytes(50 * 28 * 28);
        byte[] gz = Idx.Gzip(Idx.Images(50, 28, 28, pixels));
        string path = dir.Write("cut", gz[..(gz.Length / 2)]);
        AssertFormatError(() => IdxFile.ReadImages(path), path);
    }

    [Fact]
    public void Read_GzipMagicWithGarbage_IsDataFormatException()
    {
        string path = dir.Write("garbage", [0x1f, 0x8b, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99]);
        AssertFormatError(() => IdxFile.ReadLabels(path), path);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ReadLabels_LabelOutOfRange_IsRejected(bool gzip)
    {
        string path = dir.Write("labels", Idx.Labels(1, 2, 3, 4, 5, 12, 7), gzip);
        AssertFormatError(() => IdxFile.ReadLabels(path), path, "label 12 at index 5 is outside 0-9");
    }

    [Fact]
    public void Read_MissingFile_IsFileNotFoundException()
    {
        string path = Path.Combine(dir.Path, "absent");
        FileNotFoundException ex = Assert.Throws<FileNotFoundException>(() => IdxFile.ReadImages(path));
        Assert.Contains(path, ex.Message, StringComparison.Ordinal);
        Assert.Equal(path, ex.FileName);

        string inMissingDir = Path.Combine(dir.Path, "no-such-dir", "labels");
        Assert.Throws<FileNotFoundException>(() => IdxFile.ReadLabels(inMissingDir));
    }

    private static byte[] RandomBytes(int n)
    {
        byte[] b = new byte[n];
        new Random(1234).NextBytes(b);
        return b;
    }
}
