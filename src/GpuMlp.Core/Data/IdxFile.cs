using System.Buffers.Binary;
using System.IO.Compression;

namespace GpuMlp.Data;

/// <summary>A data file is malformed. The message is one line naming the file and the problem.</summary>
public sealed class DataFormatException : Exception
{
    public DataFormatException(string message) : base(message) { }

    public DataFormatException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>Images from an IDX file; <see cref="Pixels"/> is row-major, Count*Rows*Columns bytes.</summary>
public sealed record IdxImages(int Count, int Rows, int Columns, byte[] Pixels)
{
    public int PixelsPerImage => Rows * Columns;
}

/// <summary>Reader for MNIST-style IDX files (unsigned-byte data), raw or gzip-compressed.</summary>
public static class IdxFile
{
    /// <summary>Largest payload we agree to allocate; guards against hostile or corrupt headers.</summary>
    public const long MaxPayloadBytes = 1L << 30;

    /// <summary>Largest image side accepted.</summary>
    public const int MaxSide = 4096;

    private const byte UnsignedByteType = 0x08;

    public static IdxImages ReadImages(string path) => WithFile(path, s => ReadImages(s, path));

    public static byte[] ReadLabels(string path) => WithFile(path, s => ReadLabels(s, path));

    /// <summary>The labels of any IDX label file, each byte as stored (no MNIST range check): for
    /// datasets with other label ranges (<see cref="IdxSource"/>).</summary>
    public static byte[] ReadLabelValues(string path) => WithFile(path, s => Read(s, path, rank: 1, kind: "label", dataName: "label data").Payload);

    public static IdxImages ReadImages(Stream s, string nameForMessages)
    {
        (int[] dims, byte[] pixels) = Read(s, nameForMessages, rank: 3, kind: "image", dataName: "pixel data");
        return new IdxImages(dims[0], dims[1], dims[2], pixels);
    }

    public static byte[] ReadLabels(Stream s, string nameForMessages)
    {
        (_, byte[] labels) = Read(s, nameForMessages, rank: 1, kind: "label", dataName: "label data");
        for (int i = 0; i < labels.Length; i++)
        {
            if (labels[i] > 9)
            {
                throw new DataFormatException($"{nameForMessages}: label {labels[i]} at index {i} is outside 0-9");
            }
        }
        return labels;
    }

    private static T WithFile<T>(string path, Func<Stream, T> read)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        FileStream fs;
        try
        {
            fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new FileNotFoundException($"IDX file not found: {path}", path, ex);
        }
        using (fs)
        {
            return read(fs);
        }
    }

    private static (int[] Dims, byte[] Payload) Read(Stream s, string name, int rank, string kind, string dataName)
    {
        ArgumentNullException.ThrowIfNull(s);
        ArgumentNullException.ThrowIfNull(name);
        if (!s.CanRead)
        {
            throw new ArgumentException("stream is not readable", nameof(s));
        }

        // Sniff the gzip magic, then put the two bytes back (seek, or replay them for non-seekable streams).
        byte[] sniff = new byte[2];
        int sniffed = s.ReadAtLeast(sniff, 2, throwOnEndOfStream: false);
        bool isGzip = sniffed == 2 && sniff[0] == 0x1f && sniff[1] == 0x8b;
        Stream raw;
        if (s.CanSeek)
        {
            s.Seek(-sniffed, SeekOrigin.Current);
            raw = s;
        }
        else
        {
            raw = new PrefixedStream(sniff.AsMemory(0, sniffed), s);
        }

        Stream input = isGzip ? new GZipStream(raw, CompressionMode.Decompress, leaveOpen: true) : raw;
        try
        {
            return ReadBody(input, name, rank, kind, dataName, isGzip, seekableSource: isGzip || !s.CanSeek ? null : s);
        }
        catch (InvalidDataException ex)
        {
            // The decoder's own messages are misleading ("unsupported compression method" for a bad CRC); keep them as the inner exception.
            throw new DataFormatException($"{name}: corrupt gzip data, decompression failed", ex);
        }
        catch (EndOfStreamException ex)
        {
            throw new DataFormatException($"{name}: unexpected end of {(isGzip ? "gzip " : "")}data", ex);
        }
        finally
        {
            if (isGzip)
            {
                input.Dispose();
            }
        }
    }

    private static (int[] Dims, byte[] Payload) ReadBody(
        Stream input, string name, int rank, string kind, string dataName, bool isGzip, Stream? seekableSource)
    {
        string gz = isGzip ? " (after gzip decompression)" : "";
        byte[] header = new byte[4 + (4 * rank)];
        int got = input.ReadAtLeast(header.AsSpan(0, 4), 4, throwOnEndOfStream: false);
        if (got < 4)
        {
            throw new DataFormatException($"{name}: truncated header: expected {header.Length} bytes, found {got}{gz}");
        }
        uint expectedMagic = (uint)((UnsignedByteType << 8) | rank);
        uint magic = BinaryPrimitives.ReadUInt32BigEndian(header);
        if (header[0] != 0 || header[1] != 0)
        {
            throw new DataFormatException($"{name}: bad magic 0x{magic:X8}, not an IDX file (expected 0x{expectedMagic:X8})");
        }
        if (header[2] != UnsignedByteType)
        {
            throw new DataFormatException($"{name}: data type 0x{header[2]:X2} is not unsigned byte (0x08)");
        }
        if (header[3] != rank)
        {
            throw new DataFormatException($"{name}: rank {header[3]}, expected {rank} for an IDX {kind} file");
        }

        got = input.ReadAtLeast(header.AsSpan(4), header.Length - 4, throwOnEndOfStream: false);
        if (got < header.Length - 4)
        {
            throw new DataFormatException($"{name}: truncated header: expected {header.Length} bytes, found {4 + got}{gz}");
        }

        int[] dims = new int[rank];
        long size = 1;
        for (int d = 0; d < rank; d++)
        {
            dims[d] = BinaryPrimitives.ReadInt32BigEndian(header.AsSpan(4 + (4 * d)));
            if (d == 0 && dims[0] <= 0)
            {
                throw new DataFormatException(dims[0] == 0
                    ? $"{name}: declares no {kind}s (count 0)"
                    : $"{name}: declares a negative {kind} count ({dims[0]})");
            }
            if (d > 0 && (dims[d] <= 0 || dims[d] > MaxSide))
            {
                throw new DataFormatException($"{name}: dimension {d} is {dims[d]}, must be 1-{MaxSide}");
            }
            size *= dims[d]; // Cannot overflow: < 2^31 * 4096 * 4096.
        }

        // Refuse before allocating anything of the declared size.
        if (size > MaxPayloadBytes)
        {
            throw new DataFormatException($"{name}: declares {size} bytes of {dataName}, more than the 1 GiB limit");
        }

        // For raw seekable input the true length is known: check it up front rather than allocate in vain.
        if (seekableSource is not null)
        {
            long remaining = seekableSource.Length - seekableSource.Position;
            if (remaining < size)
            {
                throw Truncated(name, size, remaining, dataName, gz);
            }
            if (remaining > size)
            {
                throw Trailing(name, size, dataName, $"{remaining - size} extra bytes");
            }
        }

        byte[] payload = seekableSource is not null
            ? ReadKnownLength(input, (int)size, name, dataName, gz)
            : ReadGrowing(input, (int)size, name, dataName, gz);
        // One more read: detects trailing bytes and, for gzip, makes the decoder consume and check the CRC trailer.
        if (input.ReadByte() != -1)
        {
            throw Trailing(name, size, dataName, "extra bytes");
        }
        return (dims, payload);
    }

    /// <summary>The payload of a raw file whose length was already checked.</summary>
    private static byte[] ReadKnownLength(Stream input, int size, string name, string dataName, string gz)
    {
        byte[] payload = new byte[size];
        int got = input.ReadAtLeast(payload, size, throwOnEndOfStream: false);
        if (got < size)
        {
            throw Truncated(name, size, got, dataName, gz);
        }
        return payload;
    }

    /// <summary>The payload of a stream of unknown length (gzip, pipes): the buffer grows with the
    /// data actually present, so a header that declares up to <see cref="MaxPayloadBytes"/> over a
    /// few bytes of input is refused without allocating the declared size.</summary>
    private static byte[] ReadGrowing(Stream input, int size, string name, string dataName, string gz)
    {
        const int firstChunk = 1 << 20;
        byte[] buffer = new byte[Math.Min(size, firstChunk)];
        int filled = 0;
        while (true)
        {
            filled += input.ReadAtLeast(buffer.AsSpan(filled), buffer.Length - filled, throwOnEndOfStream: false);
            if (filled < buffer.Length)
            {
                throw Truncated(name, size, filled, dataName, gz);
            }
            if (filled == size)
            {
                return buffer;
            }
            Array.Resize(ref buffer, (int)Math.Min(size, 2L * buffer.Length));
        }
    }

    private static DataFormatException Truncated(string name, long expected, long found, string dataName, string gz) =>
        new($"{name}: truncated: expected {expected} bytes of {dataName}, found {found}{gz}");

    private static DataFormatException Trailing(string name, long size, string dataName, string what) =>
        new($"{name}: {what} after the declared {size} bytes of {dataName}");

    /// <summary>Replays already-consumed bytes before the rest of a non-seekable stream.</summary>
    private sealed class PrefixedStream(ReadOnlyMemory<byte> prefix, Stream inner) : Stream
    {
        private ReadOnlyMemory<byte> unread = prefix;

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position
        {
            get => throw new NotSupportedException();
            set => throw new NotSupportedException();
        }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            if (unread.IsEmpty)
            {
                return inner.Read(buffer);
            }
            int n = Math.Min(buffer.Length, unread.Length);
            unread.Span[..n].CopyTo(buffer);
            unread = unread[n..];
            return n;
        }

        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
