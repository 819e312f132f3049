using System.Buffers.Binary;
using System.IO.Compression;

namespace GpuMlp.Tests.Data;

/// <summary>Builds IDX byte images, valid or deliberately broken.</summary>
internal static class Idx
{
    public static byte[] Header(byte type, byte rank, params int[] dims)
    {
        byte[] h = new byte[4 + (4 * dims.Length)];
        h[2] = type;
        h[3] = rank;
        for (int i = 0; i < dims.Length; i++)
        {
            BinaryPrimitives.WriteInt32BigEndian(h.AsSpan(4 + (4 * i)), dims[i]);
        }
        return h;
    }

    public static byte[] Images(int count, int rows, int cols, byte[] pixels) => [.. Header(0x08, 3, count, rows, cols), .. pixels];

    public static byte[] Labels(params byte[] labels) => [.. Header(0x08, 1, labels.Length), .. labels];

    /// <summary>Deterministic pixels: (seed + i*7) mod 256, so tests can compare exactly.</summary>
    public static byte[] Pixels(int n, int seed = 0)
    {
        byte[] p = new byte[n];
        for (int i = 0; i < n; i++)
        {
            p[i] = (byte)(seed + (i * 7));
        }
        return p;
    }

    public static byte[] Gzip(byte[] data)
    {
        using MemoryStream ms = new();
        using (GZipStream gz = new(ms, CompressionLevel.Optimal, leaveOpen: true))
        {
            gz.Write(data);
        }
        return ms.ToArray();
    }
}

/// <summary>Forwards reads only, hiding CanSeek, to exercise the non-seekable path.</summary>
internal sealed class NonSeekableStream(Stream inner) : Stream
{
    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);
    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            inner.Dispose();
        }
        base.Dispose(disposing);
    }
}
