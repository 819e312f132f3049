using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using GpuMlp.Models;
using GpuMlp.Tests.Data;

namespace GpuMlp.Tests.Models;

/// <summary>Builds safetensors files byte by byte, valid or deliberately broken.</summary>
internal static class Crafted
{
    /// <summary>8-byte little-endian length, the header text as given (no padding), then the buffer.</summary>
    public static byte[] File(string headerJson, byte[] buffer)
    {
        byte[] header = Encoding.UTF8.GetBytes(headerJson);
        return File(header, buffer);
    }

    public static byte[] File(byte[] header, byte[] buffer)
    {
        byte[] file = new byte[8 + header.Length + buffer.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(file, (ulong)header.Length);
        header.CopyTo(file, 8);
        buffer.CopyTo(file, 8 + header.Length);
        return file;
    }

    public static byte[] Floats(params float[] values)
    {
        byte[] bytes = new byte[4 * values.Length];
        for (int i = 0; i < values.Length; i++)
        {
            BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(4 * i), values[i]);
        }
        return bytes;
    }
}

public sealed class SafeTensorsFileTests : IDisposable
{
    private readonly TempDir dir = new();

    public void Dispose() => dir.Dispose();

    private static void AssertFormatError(byte[] file, params string[] fragments)
    {
        ModelFormatException ex = Assert.Throws<ModelFormatException>(() => SafeTensorsFile.Parse(file, "crafted.safetensors"));
        Assert.DoesNotContain('\n', ex.Message);
        Assert.StartsWith("crafted.safetensors: ", ex.Message, StringComparison.Ordinal);
        foreach (string f in fragments)
        {
            Assert.Contains(f, ex.Message, StringComparison.Ordinal);
        }
    }

    private static SafeTensor[] SampleTensors() =>
    [
        new("a", [2, 3], [1, 2, 3, 4, 5, 6]),
        new("b", [4], [-1.5f, 0, float.Epsilon, float.MaxValue]),
        new("empty", [0, 5], []),
        new("scalar", [], [42]),
    ];

    [Fact]
    public void WriteThenRead_TensorsAndMetadata_RoundTrip()
    {
        string path = Path.Combine(dir.Path, "t.safetensors");
        var metadata = new Dictionary<string, string> { ["format"] = "pt", ["config"] = "{\"lr\": 0.001, \"name\": \"é ü\"}\n" };
        SafeTensorsFile.Write(path, SampleTensors(), metadata);

        SafeTensorsContent content = SafeTensorsFile.Read(path);

        Assert.Equal(["a", "b", "empty", "scalar"], content.Tensors.Select(t => t.Name));
        foreach (SafeTensor expected in SampleTensors())
        {
            SafeTensor actual = content.Find(expected.Name)!;
            Assert.Equal(expected.Shape, actual.Shape);
            Assert.Equal(expected.Data, actual.Data);
        }
        Assert.Equal(metadata.OrderBy(kv => kv.Key), content.Metadata.OrderBy(kv => kv.Key));
        Assert.Empty(Directory.GetFiles(dir.Path, "*.tmp-*"));
    }

    [Fact]
    public void Write_Header_IsLengthPrefixedPaddedJsonWithContiguousOffsets()
    {
        byte[] file = SafeTensorsFile.Serialize(SampleTensors(), new Dictionary<string, string> { ["k"] = "v" });

        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(file);
        Assert.Equal(0UL, n % 8);
        long bufferLength = file.Length - 8 - (long)n;
        Assert.Equal(4 * (6 + 4 + 0 + 1), bufferLength);

        string header = Encoding.UTF8.GetString(file, 8, (int)n);
        Assert.StartsWith("{", header, StringComparison.Ordinal);
        Assert.Equal(header.TrimEnd(' '), header.TrimEnd(' ').Trim());
        Assert.True(header.Length - header.TrimEnd(' ').Length < 8, "at most 7 padding spaces");

        using JsonDocument doc = JsonDocument.Parse(header);
        Assert.Equal("v", doc.RootElement.GetProperty("__metadata__").GetProperty("k").GetString());
        long position = 0;
        var order = new List<string>();
        foreach (JsonProperty p in doc.RootElement.EnumerateObject().Where(p => p.Name != "__metadata__"))
        {
            order.Add(p.Name);
            Assert.Equal("F32", p.Value.GetProperty("dtype").GetString());
            long[] offsets = p.Value.GetProperty("data_offsets").EnumerateArray().Select(e => e.GetInt64()).ToArray();
            Assert.Equal(position, offsets[0]);
            long count = p.Value.GetProperty("shape").EnumerateArray().Aggregate(1L, (c, d) => c * d.GetInt64());
            Assert.Equal(offsets[0] + (4 * count), offsets[1]);
            position = offsets[1];
        }
        Assert.Equal(["a", "b", "empty", "scalar"], order);
        Assert.Equal(bufferLength, position);

        // Values are little-endian F32 right after the header: tensor "a" first.
        Assert.Equal(1f, BinaryPrimitives.ReadSingleLittleEndian(file.AsSpan(8 + (int)n)));
        Assert.Equal(6f, BinaryPrimitives.ReadSingleLittleEndian(file.AsSpan(8 + (int)n + 20)));
    }

    [Fact]
    public void NoMetadata_WritesNoMetadataKey_AndReadsAsEmpty()
    {
        byte[] file = SafeTensorsFile.Serialize([new SafeTensor("x", [1], [3])]);
        int n = (int)BinaryPrimitives.ReadUInt64LittleEndian(file);
        Assert.DoesNotContain("__metadata__", Encoding.UTF8.GetString(file, 8, n), StringComparison.Ordinal);
        Assert.Empty(SafeTensorsFile.Parse(file, "f").Metadata);
    }

    [Fact]
    public void Read_TensorsListedOutOfBufferOrder_AreAccepted()
    {
        // The reference implementation writes the header in its own order; only the offsets matter.
        string header = """{"second":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},"first":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""";
        SafeTensorsContent c = SafeTensorsFile.Parse(Crafted.File(header, Crafted.Floats(1, 2)), "f");
        Assert.Equal(["first", "second"], c.Tensors.Select(t => t.Name));
        Assert.Equal([2f], c.Find("second")!.Data);
    }

    [Fact]
    public void Read_MissingFile_IsFileNotFound()
    {
        string path = Path.Combine(dir.Path, "nope.safetensors");
        var ex = Assert.Throws<FileNotFoundException>(() => SafeTensorsFile.Read(path));
        Assert.Contains(path, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Read_AnyError_NamesThePath()
    {
        string path = Path.Combine(dir.Path, "short.safetensors");
        File.WriteAllBytes(path, [1, 2, 3]);
        var ex = Assert.Throws<ModelFormatException>(() => SafeTensorsFile.Read(path));
        Assert.StartsWith(path + ": ", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(7)]
    public void Read_FileShorterThan8Bytes_IsRejected(int length) =>
        AssertFormatError(new byte[length], $"file is {length} bytes", "shorter than");

    [Fact]
    public void Read_HeaderLengthBeyondFile_IsRejected()
    {
        byte[] file = Crafted.File("{}", []);
        BinaryPrimitives.WriteUInt64LittleEndian(file, 3);
        AssertFormatError(file, "header length 3", "past the end of the file");
    }

    [Theory]
    [InlineData(100_000_001UL)]
    [InlineData(ulong.MaxValue)]
    public void Read_HeaderLengthOver100MB_IsRejected(ulong length)
    {
        byte[] file = Crafted.File("{}", []);
        BinaryPrimitives.WriteUInt64LittleEndian(file, length);
        AssertFormatError(file, $"header length {length}", "limit");
    }

    [Theory]
    [InlineData("{\"a\":")]
    [InlineData("not json")]
    [InlineData("{\"a\": {}} trailing")]
    public void Read_InvalidJson_IsRejected(string header) =>
        AssertFormatError(Crafted.File(header, []), "header is not valid JSON");

    [Fact]
    public void Read_InvalidUtf8_IsRejected() =>
        AssertFormatError(Crafted.File([(byte)'{', (byte)'"', 0xff, 0xfe, (byte)'"', (byte)':', (byte)'1', (byte)'}'], []), "header is not valid UTF-8");

    [Theory]
    [InlineData("[]", "an array")]
    [InlineData("\"x\"", "a string")]
    [InlineData("42", "a number")]
    public void Read_JsonNotAnObject_IsRejected(string header, string kind) =>
        AssertFormatError(Crafted.File(header, []), $"header JSON is {kind}, not an object");

    [Theory]
    [InlineData("""{"t":{"shape":[1],"data_offsets":[0,4]}}""", "tensor t has no dtype")]
    [InlineData("""{"t":{"dtype":"F32","data_offsets":[0,4]}}""", "tensor t has no shape")]
    [InlineData("""{"t":{"dtype":"F32","shape":[1]}}""", "tensor t has no data_offsets")]
    [InlineData("""{"t":[1,2]}""", "tensor t is an array, not an object")]
    [InlineData("""{"t":{"dtype":7,"shape":[1],"data_offsets":[0,4]}}""", "dtype that is a number")]
    [InlineData("""{"t":{"dtype":"F32","shape":3,"data_offsets":[0,4]}}""", "shape that is a number")]
    [InlineData("""{"t":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}""", "not an integer")]
    [InlineData("""{"t":{"dtype":"F32","shape":[1],"data_offsets":[0]}}""", "not [begin, end]")]
    [InlineData("""{"t":{"dtype":"F32","shape":[1],"data_offsets":[0,"4"]}}""", "not two non-negative integers")]
    public void Read_MalformedTensorEntry_IsRejected(string header, string fragment) =>
        AssertFormatError(Crafted.File(header, Crafted.Floats(1)), fragment);

    [Theory]
    [InlineData("F16")]
    [InlineData("F64")]
    [InlineData("I64")]
    [InlineData("f32")]
    public void Read_DtypeOtherThanF32_IsRejected(string dtype) =>
        AssertFormatError(
            Crafted.File($$$"""{"t":{"dtype":"{{{dtype}}}","shape":[1],"data_offsets":[0,4]}}""", Crafted.Floats(1)),
            $"tensor t has dtype {dtype};", "only F32");

    [Fact]
    public void Read_NegativeShapeDimension_IsRejected() =>
        AssertFormatError(
            Crafted.File("""{"t":{"dtype":"F32","shape":[2,-1],"data_offsets":[0,4]}}""", Crafted.Floats(1)),
            "tensor t has negative dimension -1 at index 1");

    [Fact]
    public void Read_NegativeOffset_IsRejected() =>
        AssertFormatError(
            Crafted.File("""{"t":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}}""", Crafted.Floats(1)),
            "not two non-negative integers");

    [Fact]
    public void Read_BeginAfterEnd_IsRejected() =>
        AssertFormatError(
            Crafted.File("""{"t":{"dtype":"F32","shape":[0],"data_offsets":[4,0]}}""", Crafted.Floats(1)),
            "tensor t has data_offsets [4, 0] with begin after end");

    [Fact]
    public void Read_EndBeyondBuffer_IsRejected() =>
        AssertFormatError(
            Crafted.File("""{"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""", Crafted.Floats(1)),
            "tensor t has data_offsets [0, 8] beyond the 4-byte data buffer");

    [Fact]
    public void Read_ByteSizeNotShapeTimes4_IsRejected() =>
        AssertFormatError(
            Crafted.File("""{"t":{"dtype":"F32","shape":[2,2],"data_offsets":[0,12]}}""", Crafted.Floats(1, 2, 3)),
            "tensor t has shape [2, 2] (16 bytes as F32) but data_offsets [0, 12] span 12 bytes");

    [Fact]
    public void Read_OverlappingTensors_AreRejected() =>
        AssertFormatError(
            Crafted.File(
                """{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}""",
                Crafted.Floats(1, 2, 3)),
            "tensor b bytes [4, 12] overlap tensor a bytes [0, 8]");

    [Fact]
    public void Read_SharedRange_IsRejectedAsOverlap() =>
        AssertFormatError(
            Crafted.File(
                """{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""",
                Crafted.Floats(1)),
            "overlap");

    [Fact]
    public void Read_GapBetweenTensors_IsRejected() =>
        AssertFormatError(
            Crafted.File(
                """{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}""",
                Crafted.Floats(1, 2, 3)),
            "data buffer bytes [4, 8) are not covered by any tensor");

    [Fact]
    public void Read_GapAtStart_IsRejected() =>
        AssertFormatError(
            Crafted.File("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}""", Crafted.Floats(1, 2)),
            "data buffer bytes [0, 4) are not covered");

    [Fact]
    public void Read_TrailingBytes_AreRejected() =>
        AssertFormatError(
            Crafted.File("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""", [.. Crafted.Floats(1), 0, 0]),
            "data buffer bytes [4, 6) are not covered by any tensor");

    [Fact]
    public void Read_BufferWithoutTensors_IsRejected() =>
        AssertFormatError(Crafted.File("{}", Crafted.Floats(1)), "data buffer bytes [0, 4) are not covered");

    [Theory]
    [InlineData(float.NaN, "NaN")]
    [InlineData(float.PositiveInfinity, "+Inf")]
    [InlineData(float.NegativeInfinity, "-Inf")]
    public void Write_NonFiniteValues_AreRejected(float bad, string word) =>
        AssertFormatError(
            Crafted.File("""{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,12]}}""", Crafted.Floats(1, 2, bad)),
            $"tensor w contains {word} at index 2");

    [Fact]
    public void Read_DuplicateTensorName_IsRejected() =>
        AssertFormatError(
            Crafted.File(
                """{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}""",
                Crafted.Floats(1, 2)),
            "header names a twice");

    [Theory]
    [InlineData("""{"__metadata__":[]}""", "__metadata__ is an array")]
    [InlineData("""{"__metadata__":{"k":1}}""", "__metadata__ entry k is a number, not a string")]
    public void Read_BadMetadata_IsRejected(string header, string fragment) =>
        AssertFormatError(Crafted.File(header, []), fragment);

    [Fact]
    public void Read_OddTensorNames_AreQuotedOnOneLine() =>
        AssertFormatError(Crafted.File("{\"bad\\nname\":{\"shape\":[1],\"data_offsets\":[0,4]}}", Crafted.Floats(1)), "tensor \"bad\\nname\" has no dtype");

    [Fact]
    public void Writer_RejectsNonFiniteValues_AndDuplicateNames()
    {
        var nan = Assert.Throws<ArgumentException>(() => SafeTensorsFile.Serialize([new SafeTensor("w", [2], [0, float.NaN])]));
        Assert.Contains("tensor w contains NaN at index 1", nan.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => SafeTensorsFile.Serialize([new SafeTensor("w", [1], [0]), new SafeTensor("w", [1], [1])]));
    }

    [Fact]
    public void SafeTensor_ShapeMismatchOrReservedName_IsRejected()
    {
        Assert.Throws<ArgumentException>(() => new SafeTensor("w", [2, 2], [1, 2, 3]));
        Assert.Throws<ArgumentException>(() => new SafeTensor("w", [-1], []));
        Assert.Throws<ArgumentException>(() => new SafeTensor("__metadata__", [1], [1]));
    }
}
