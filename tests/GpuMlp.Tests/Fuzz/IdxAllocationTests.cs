using GpuMlp.Data;
using GpuMlp.Tests.Data;

namespace GpuMlp.Tests.Fuzz;

/// <summary>A header may declare up to IdxFile.MaxPayloadBytes (1 GiB); over a stream of unknown
/// length (gzip, a pipe) the reader must not allocate that much before the data is there.</summary>
public sealed class IdxAllocationTests
{
    private const long Budget = 16L << 20;

    public static TheoryData<bool, bool> Inputs => new() { { true, false }, { false, false }, { true, true } };

    [Theory]
    [MemberData(nameof(Inputs))]
    public void Read_HugeDeclaredCountOverAFewBytes_IsRefusedWithoutAllocatingIt(bool gzip, bool seekable)
    {
        // 1,000,000 images of 28x28 = 784 MB declared, 100 bytes present.
        byte[] raw = Idx.Images(1_000_000, 28, 28, Idx.Pixels(100));
        byte[] file = gzip ? Mutate.Gzip(raw) : raw;
        Stream stream = seekable ? new MemoryStream(file) : new NonSeekableStream(new MemoryStream(file));

        long before = GC.GetAllocatedBytesForCurrentThread();
        var error = Assert.Throws<DataFormatException>(() => IdxFile.ReadImages(stream, "huge-images"));
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Contains("truncated", error.Message, StringComparison.Ordinal);
        Assert.True(allocated < Budget, $"allocated {allocated:N0} bytes to refuse a {file.Length}-byte file");
    }

    [Fact]
    public void Read_FullSizeGzipFile_StillReads()
    {
        // More than the first 1 MiB chunk, so the buffer has to grow.
        byte[] raw = Idx.Images(3000, 28, 28, Idx.Pixels(3000 * 784, seed: 1));
        IdxImages images = IdxFile.ReadImages(new MemoryStream(Mutate.Gzip(raw)), "big-images");
        Assert.Equal(3000, images.Count);
        Assert.True(images.Pixels.AsSpan().SequenceEqual(raw.AsSpan(16)));
    }
}
