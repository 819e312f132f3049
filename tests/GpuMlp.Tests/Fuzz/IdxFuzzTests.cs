using CsCheck;
using GpuMlp.Data;
using GpuMlp.Tests.Data;

namespace GpuMlp.Tests.Fuzz;

/// <summary>Mutated IDX files, raw and gzip-compressed: the reader either succeeds with a
/// consistent result or throws DataFormatException with a one-line message naming the file.
/// Anything else (IndexOutOfRange, Overflow, OutOfMemory, a leaked InvalidDataException, ...) fails.</summary>
public sealed class IdxFuzzTests
{
    public const int Cases = 10_000;
    private const string Name = "fuzz-idx3-ubyte";

    private static readonly Gen<Mutation> RawKinds = Gen.Frequency((3, Mutate.Generic), (2, Mutate.IdxField));

    /// <summary>A mutation of the gzip container itself: header fields or the CRC32/ISIZE trailer.</summary>
    private static readonly Gen<Mutation> GzipKinds = Gen.Frequency(
        (4, Mutate.Generic),
        (1, Gen.Select(Gen.Int[2, 9], Gen.Byte, (at, v) => (Mutation)new SetByte(at, v))),
        (1, Gen.Select(Gen.Bool, Gen.OneOf(Mutate.InterestingWords), (isize, v) => (Mutation)new SetTrailer(isize, (uint)v))));

    private static readonly Gen<Mutation[]> None = Gen.Const(Array.Empty<Mutation>());

    /// <summary>Reads through a seekable and a non-seekable stream (two code paths that must agree);
    /// returns the images, or null for a DataFormatException.</summary>
    private static IdxImages? Images(byte[] bytes)
    {
        IdxImages? a = null, b = null;
        var errorA = Outcome.Of<DataFormatException>(Name, () => a = IdxFile.ReadImages(new MemoryStream(bytes, writable: false), Name));
        var errorB = Outcome.Of<DataFormatException>(Name, () => b = IdxFile.ReadImages(new NonSeekableStream(new MemoryStream(bytes, writable: false)), Name));
        Outcome.Require((errorA is null) == (errorB is null), $"seekable and non-seekable reads disagree: {errorA?.Message ?? "ok"} vs {errorB?.Message ?? "ok"}");
        IdxImages? images = a;
        if (images is null)
        {
            return null;
        }
        Outcome.Require(images.Count >= 1, $"count is {images.Count}");
        Outcome.Require(images.Rows is >= 1 and <= IdxFile.MaxSide && images.Columns is >= 1 and <= IdxFile.MaxSide, $"{images.Rows}x{images.Columns} images");
        Outcome.Require(images.Pixels.LongLength == (long)images.Count * images.Rows * images.Columns,
            $"{images.Pixels.LongLength} pixels for {images.Count} images of {images.Rows}x{images.Columns}");
        Outcome.Require(images.Pixels.AsSpan().SequenceEqual(b!.Pixels) && images.Count == b.Count && images.Rows == b.Rows, "seekable and non-seekable reads return different data");
        return images;
    }

    private static void Labels(byte[] bytes)
    {
        byte[]? a = null, b = null;
        var errorA = Outcome.Of<DataFormatException>(Name, () => a = IdxFile.ReadLabels(new MemoryStream(bytes, writable: false), Name));
        var errorB = Outcome.Of<DataFormatException>(Name, () => b = IdxFile.ReadLabels(new NonSeekableStream(new MemoryStream(bytes, writable: false)), Name));
        Outcome.Require((errorA is null) == (errorB is null), $"seekable and non-seekable reads disagree: {errorA?.Message ?? "ok"} vs {errorB?.Message ?? "ok"}");
        if (a is null)
        {
            return;
        }
        Outcome.Require(a.Length >= 1, "no labels");
        Outcome.Require(a.All(l => l <= 9), $"a label is outside 0-9: {string.Join(",", a.Where(l => l > 9))}");
        Outcome.Require(a.AsSpan().SequenceEqual(b), "seekable and non-seekable reads return different labels");
    }

    [Fact]
    public void ReadImages_MutatedRawFiles_ParseOrFailWithAFormatError()
    {
        Mutate.Some(RawKinds).Sample(
            mutations =>
            {
                byte[] bytes = Mutation.ApplyAll(FuzzSeeds.Images, mutations);
                // Raw and accepted (a mutation can make a gzip magic; those are covered below): the
                // header and the payload are exactly the file.
                if (Images(bytes) is { } images && !(bytes[0] == 0x1f && bytes[1] == 0x8b))
                {
                    Outcome.Require(16 + images.Pixels.LongLength == bytes.Length, $"a {bytes.Length}-byte file gave {images.Pixels.LongLength} pixels");
                }
            },
            iter: Cases, print: Mutate.Print);
    }

    [Fact]
    public void ReadLabels_MutatedRawFiles_ParseOrFailWithAFormatError()
    {
        Mutate.Some(RawKinds).Sample(
            mutations =>
            {
                byte[] bytes = Mutation.ApplyAll(FuzzSeeds.Labels, mutations);
                Labels(bytes);
            },
            iter: Cases, print: Mutate.Print);
    }

    /// <summary>Either the compressed bytes are mutated, or a mutated IDX file is compressed
    /// correctly (so the IDX checks run behind the decompressor), or both.</summary>
    private static Gen<(Mutation[] Inner, Mutation[] Outer)> GzipCase =>
        Gen.Frequency(
            (3, Gen.Select(None, Mutate.Some(GzipKinds))),
            (2, Gen.Select(Mutate.Some(RawKinds), None)),
            (1, Gen.Select(Mutate.Some(RawKinds), Mutate.Some(GzipKinds))));

    private static byte[] Gzipped(byte[] seed, byte[] seedGz, Mutation[] inner, Mutation[] outer) =>
        Mutation.ApplyAll(inner.Length == 0 ? seedGz : Mutate.Gzip(Mutation.ApplyAll(seed, inner)), outer);

    [Fact]
    public void ReadImages_MutatedGzipFiles_ParseOrFailWithAFormatError()
    {
        GzipCase.Sample(
            (Action<Mutation[], Mutation[]>)((inner, outer) => Images(Gzipped(FuzzSeeds.Images, FuzzSeeds.ImagesGz, inner, outer))),
            iter: Cases, print: c => $"inner {Mutate.Print(c.Item1)}, gzip {Mutate.Print(c.Item2)}");
    }

    [Fact]
    public void ReadLabels_MutatedGzipFiles_ParseOrFailWithAFormatError()
    {
        GzipCase.Sample(
            (Action<Mutation[], Mutation[]>)((inner, outer) => Labels(Gzipped(FuzzSeeds.Labels, FuzzSeeds.LabelsGz, inner, outer))),
            iter: Cases, print: c => $"inner {Mutate.Print(c.Item1)}, gzip {Mutate.Print(c.Item2)}");
    }

    [Fact]
    public void Read_UnmutatedSeeds_Parse()
    {
        Assert.Equal(3, IdxFile.ReadImages(new MemoryStream(FuzzSeeds.Images), Name).Count);
        Assert.Equal(3, IdxFile.ReadImages(new MemoryStream(FuzzSeeds.ImagesGz), Name).Count);
        Assert.Equal(8, IdxFile.ReadLabels(new MemoryStream(FuzzSeeds.Labels), Name).Length);
        Assert.Equal(8, IdxFile.ReadLabels(new NonSeekableStream(new MemoryStream(FuzzSeeds.LabelsGz)), Name).Length);
    }
}

/// <summary>Overwrites the gzip trailer's CRC32 or ISIZE (little-endian, the last 8 bytes).</summary>
internal sealed record SetTrailer(bool Isize, uint Value) : Mutation
{
    public override byte[] Apply(byte[] input)
    {
        int at = input.Length - (Isize ? 4 : 8);
        if (at < 0)
        {
            return input;
        }
        byte[] b = (byte[])input.Clone();
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(at), Value);
        return b;
    }
}
