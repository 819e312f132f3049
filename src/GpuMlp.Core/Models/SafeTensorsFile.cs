using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Unicode;
using GpuMlp.Runs;

namespace GpuMlp.Models;

/// <summary>A model or safetensors file is malformed or does not fit. The message is one line naming
/// the file and the problem.</summary>
public sealed class ModelFormatException : Exception
{
    public ModelFormatException(string message) : base(message) { }

    public ModelFormatException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>One F32 tensor: a name, a shape (row-major, last dimension fastest) and its values.</summary>
public sealed class SafeTensor
{
    /// <exception cref="ArgumentException">The name is empty or reserved, a dimension is negative, or
    /// the value count is not the product of the shape.</exception>
    public SafeTensor(string name, IReadOnlyList<int> shape, float[] data)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(shape);
        ArgumentNullException.ThrowIfNull(data);
        if (name == SafeTensorsFile.MetadataKey)
        {
            throw new ArgumentException($"'{SafeTensorsFile.MetadataKey}' is reserved and cannot name a tensor", nameof(name));
        }

        long count = 1;
        foreach (int d in shape)
        {
            if (d < 0)
            {
                throw new ArgumentException($"tensor {name} has a negative dimension in shape [{string.Join(", ", shape)}]", nameof(shape));
            }
            count = checked(count * d);
        }

        if (count != data.Length)
        {
            throw new ArgumentException(
                $"tensor {name} has shape [{string.Join(", ", shape)}] ({count} values) but {data.Length} values were given", nameof(data));
        }

        Name = name;
        Shape = shape.ToArray();
        Data = data;
    }

    public string Name { get; }

    public IReadOnlyList<int> Shape { get; }

    /// <summary>The values, row-major. Not copied: the tensor shares the caller's array.</summary>
    public float[] Data { get; }

    public override string ToString() => $"{Name} [{string.Join(", ", Shape)}]";
}

/// <summary>The content of a safetensors file: tensors in the order of their bytes in the file, and
/// the string-to-string <c>__metadata__</c> map (empty when absent).</summary>
public sealed class SafeTensorsContent
{
    private readonly Dictionary<string, SafeTensor> byName;

    public SafeTensorsContent(IReadOnlyList<SafeTensor> tensors, IReadOnlyDictionary<string, string> metadata)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        ArgumentNullException.ThrowIfNull(metadata);
        Tensors = tensors.ToArray();
        Metadata = new Dictionary<string, string>(metadata, StringComparer.Ordinal);
        byName = new Dictionary<string, SafeTensor>(StringComparer.Ordinal);
        foreach (SafeTensor t in Tensors)
        {
            if (!byName.TryAdd(t.Name, t))
            {
                throw new ArgumentException($"duplicate tensor name {t.Name}", nameof(tensors));
            }
        }
    }

    public IReadOnlyList<SafeTensor> Tensors { get; }

    public IReadOnlyDictionary<string, string> Metadata { get; }

    public SafeTensor? Find(string name) => byName.GetValueOrDefault(name);
}

/// <summary>
/// Reader and writer of the safetensors format (https://github.com/huggingface/safetensors), F32 only:
/// an 8-byte little-endian unsigned header length N; N bytes of UTF-8 JSON
/// <c>{"__metadata__": {string: string}, "name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...}</c>
/// padded with spaces to a multiple of 8 bytes; then the data buffer, offsets relative to its start,
/// tensors contiguous in the order written, values little-endian.
/// The reader is as strict as the reference implementation: the buffer must be exactly covered by
/// the tensors, with no gap, overlap or trailing byte; it also rejects NaN and infinite values.
/// </summary>
public static class SafeTensorsFile
{
    public const string MetadataKey = "__metadata__";

    /// <summary>Largest header accepted, as in the reference implementation (100 MB).</summary>
    public const long MaxHeaderBytes = 100_000_000;

    private const string F32 = "F32";

    private static readonly JsonWriterOptions WriterOptions = new()
    {
        // Only what JSON requires is escaped, so metadata such as configuration JSON stays readable.
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        Indented = false,
    };

    /// <summary>Atomically writes <paramref name="tensors"/>, in this order, and the metadata to <paramref name="path"/>.</summary>
    /// <exception cref="ArgumentException">Duplicate tensor names, or a NaN or infinite value (the
    /// reader would reject the file).</exception>
    public static void Write(string path, IReadOnlyList<SafeTensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        byte[] bytes = Serialize(tensors, metadata);
        AtomicFile.WriteAllBytes(path, bytes);
    }

    /// <summary>The bytes of a safetensors file holding <paramref name="tensors"/> (in this order) and the metadata.</summary>
    /// <exception cref="ArgumentException">Duplicate tensor names, or a NaN or infinite value.</exception>
    public static byte[] Serialize(IReadOnlyList<SafeTensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        var names = new HashSet<string>(StringComparer.Ordinal);
        long dataBytes = 0;
        foreach (SafeTensor t in tensors)
        {
            ArgumentNullException.ThrowIfNull(t, nameof(tensors));
            if (!names.Add(t.Name))
            {
                throw new ArgumentException($"duplicate tensor name {t.Name}", nameof(tensors));
            }

            int bad = FindNonFinite(t.Data);
            if (bad >= 0)
            {
                throw new ArgumentException($"tensor {t.Name} contains {Describe(t.Data[bad])} at index {bad}", nameof(tensors));
            }
            dataBytes += 4L * t.Data.Length;
        }

        byte[] header = BuildHeader(tensors, metadata);
        long total = 8 + header.Length + dataBytes;
        if (total > Array.MaxLength)
        {
            throw new ArgumentException($"the tensors need {total} bytes, more than one file buffer can hold", nameof(tensors));
        }

        byte[] file = new byte[total];
        BinaryPrimitives.WriteUInt64LittleEndian(file, (ulong)header.Length);
        header.CopyTo(file, 8);
        int at = 8 + header.Length;
        foreach (SafeTensor t in tensors)
        {
            Span<byte> dst = file.AsSpan(at, 4 * t.Data.Length);
            if (BitConverter.IsLittleEndian)
            {
                MemoryMarshal.AsBytes(t.Data.AsSpan()).CopyTo(dst);
            }
            else
            {
                for (int i = 0; i < t.Data.Length; i++)
                {
                    BinaryPrimitives.WriteSingleLittleEndian(dst[(4 * i)..], t.Data[i]);
                }
            }
            at += 4 * t.Data.Length;
        }

        return file;
    }

    /// <summary>Reads and validates a safetensors file.</summary>
    /// <exception cref="FileNotFoundException">There is no such file.</exception>
    /// <exception cref="ModelFormatException">The file is not a valid F32 safetensors file.</exception>
    public static SafeTensorsContent Read(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        byte[] bytes;
        try
        {
            using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
            if (fs.Length > Array.MaxLength)
            {
                throw new ModelFormatException($"{path}: file is {fs.Length} bytes, too large to load");
            }

            bytes = new byte[fs.Length];
            fs.ReadExactly(bytes);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new FileNotFoundException($"model file not found: {path}", path, ex);
        }
        catch (EndOfStreamException ex)
        {
            throw new ModelFormatException($"{path}: file shrank while it was being read", ex);
        }

        return Parse(bytes, path);
    }

    /// <summary>Parses and validates the bytes of a safetensors file; <paramref name="nameForMessages"/>
    /// starts every error message.</summary>
    /// <exception cref="ModelFormatException">The bytes are not a valid F32 safetensors file.</exception>
    public static SafeTensorsContent Parse(ReadOnlySpan<byte> file, string nameForMessages)
    {
        ArgumentNullException.ThrowIfNull(nameForMessages);
        string name = nameForMessages;
        if (file.Length < 8)
        {
            throw Error(name, $"file is {file.Length} bytes, shorter than the 8-byte header length");
        }

        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(file);
        if (headerLength > MaxHeaderBytes)
        {
            throw Error(name, $"header length {headerLength} exceeds the {MaxHeaderBytes}-byte limit");
        }

        if (headerLength > (ulong)(file.Length - 8))
        {
            throw Error(name, $"header length {headerLength} runs past the end of the file ({file.Length} bytes)");
        }

        int n = (int)headerLength;
        ReadOnlySpan<byte> header = file.Slice(8, n);
        ReadOnlySpan<byte> buffer = file[(8 + n)..];

        if (!Utf8.IsValid(header))
        {
            throw Error(name, "header is not valid UTF-8");
        }

        var entries = new List<Entry>();
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(header.ToArray(), new JsonDocumentOptions { MaxDepth = 16 });
        }
        catch (JsonException ex)
        {
            // The parser's message quotes the offending text, which may hold control characters.
            throw Error(name, $"header is not valid JSON (line {ex.LineNumber + 1}, byte {ex.BytePositionInLine})", ex);
        }

        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw Error(name, $"header JSON is {Article(doc.RootElement.ValueKind)}, not an object");
            }

            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (JsonProperty p in doc.RootElement.EnumerateObject())
            {
                if (!seen.Add(p.Name))
                {
                    throw Error(name, $"header names {Quote(p.Name)} twice");
                }

                if (p.Name == MetadataKey)
                {
                    ReadMetadata(name, p.Value, metadata);
                }
                else
                {
                    entries.Add(ReadEntry(name, p.Name, p.Value));
                }
            }
        }

        CheckCoverage(name, entries, buffer.Length);

        var tensors = new SafeTensor[entries.Count];
        int k = 0;
        foreach (Entry e in entries)
        {
            ReadOnlySpan<byte> src = buffer.Slice((int)e.Begin, (int)(e.End - e.Begin));
            var data = new float[src.Length / 4];
            if (BitConverter.IsLittleEndian)
            {
                MemoryMarshal.Cast<byte, float>(src).CopyTo(data);
            }
            else
            {
                for (int i = 0; i < data.Length; i++)
                {
                    data[i] = BinaryPrimitives.ReadSingleLittleEndian(src[(4 * i)..]);
                }
            }

            int bad = FindNonFinite(data);
            if (bad >= 0)
            {
                throw Error(name, $"tensor {Quote(e.Name)} contains {Describe(data[bad])} at index {bad}");
            }

            tensors[k++] = new SafeTensor(e.Name, e.Shape, data);
        }

        return new SafeTensorsContent(tensors, metadata);
    }

    private sealed record Entry(string Name, int[] Shape, long Begin, long End);

    private static byte[] BuildHeader(IReadOnlyList<SafeTensor> tensors, IReadOnlyDictionary<string, string>? metadata)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, WriterOptions))
        {
            w.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                w.WriteStartObject(MetadataKey);
                foreach (KeyValuePair<string, string> kv in metadata.OrderBy(kv => kv.Key, StringComparer.Ordinal))
                {
                    ArgumentNullException.ThrowIfNull(kv.Value, nameof(metadata));
                    w.WriteString(kv.Key, kv.Value);
                }
                w.WriteEndObject();
            }

            long offset = 0;
            foreach (SafeTensor t in tensors)
            {
                w.WriteStartObject(t.Name);
                w.WriteString("dtype", F32);
                w.WriteStartArray("shape");
                foreach (int d in t.Shape)
                {
                    w.WriteNumberValue(d);
                }
                w.WriteEndArray();
                w.WriteStartArray("data_offsets");
                w.WriteNumberValue(offset);
                offset += 4L * t.Data.Length;
                w.WriteNumberValue(offset);
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteEndObject();
        }

        // Pad with spaces to a multiple of 8 so the data buffer starts 8-byte aligned, as the
        // reference implementation does.
        int padded = (int)((ms.Length + 7) / 8 * 8);
        while (ms.Length < padded)
        {
            ms.WriteByte((byte)' ');
        }
        return ms.ToArray();
    }

    private static void ReadMetadata(string file, JsonElement value, Dictionary<string, string> metadata)
    {
        if (value.ValueKind != JsonValueKind.Object)
        {
            throw Error(file, $"{MetadataKey} is {Article(value.ValueKind)}, not an object of strings");
        }

        foreach (JsonProperty m in value.EnumerateObject())
        {
            if (m.Value.ValueKind != JsonValueKind.String)
            {
                throw Error(file, $"{MetadataKey} entry {Quote(m.Name)} is {Article(m.Value.ValueKind)}, not a string");
            }

            if (!metadata.TryAdd(m.Name, m.Value.GetString()!))
            {
                throw Error(file, $"{MetadataKey} names {Quote(m.Name)} twice");
            }
        }
    }

    private static Entry ReadEntry(string file, string tensor, JsonElement value)
    {
        string t = Quote(tensor);
        if (tensor.Length == 0)
        {
            throw Error(file, "a tensor has an empty name");
        }

        if (value.ValueKind != JsonValueKind.Object)
        {
            throw Error(file, $"tensor {t} is {Article(value.ValueKind)}, not an object");
        }

        if (!value.TryGetProperty("dtype", out JsonElement dtype))
        {
            throw Error(file, $"tensor {t} has no dtype");
        }

        if (!value.TryGetProperty("shape", out JsonElement shape))
        {
            throw Error(file, $"tensor {t} has no shape");
        }

        if (!value.TryGetProperty("data_offsets", out JsonElement offsets))
        {
            throw Error(file, $"tensor {t} has no data_offsets");
        }

        if (dtype.ValueKind != JsonValueKind.String)
        {
            throw Error(file, $"tensor {t} has a dtype that is {Article(dtype.ValueKind)}, not a string");
        }

        string dt = dtype.GetString()!;
        if (dt != F32)
        {
            throw Error(file, $"tensor {t} has dtype {Quote(dt)}; only F32 is supported");
        }

        if (shape.ValueKind != JsonValueKind.Array)
        {
            throw Error(file, $"tensor {t} has a shape that is {Article(shape.ValueKind)}, not an array");
        }

        var dims = new int[shape.GetArrayLength()];
        long count = 1;
        int i = 0;
        foreach (JsonElement d in shape.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out long dim))
            {
                throw Error(file, $"tensor {t} has shape {d.GetRawText()} at dimension {i}, not an integer");
            }

            if (dim < 0)
            {
                throw Error(file, $"tensor {t} has negative dimension {dim} at index {i} of its shape");
            }

            if (dim > int.MaxValue)
            {
                throw Error(file, $"tensor {t} has dimension {dim} at index {i}, too large");
            }

            dims[i++] = (int)dim;
            count = count > 0 && dim > 0 && count > Array.MaxLength / dim ? long.MaxValue : count * dim;
        }

        if (count > Array.MaxLength)
        {
            throw Error(file, $"tensor {t} has shape [{string.Join(", ", dims)}], too many values");
        }

        if (offsets.ValueKind != JsonValueKind.Array || offsets.GetArrayLength() != 2)
        {
            throw Error(file, $"tensor {t} has data_offsets {Truncate(offsets.GetRawText())}, not [begin, end]");
        }

        long[] be = new long[2];
        for (int j = 0; j < 2; j++)
        {
            JsonElement o = offsets[j];
            if (o.ValueKind != JsonValueKind.Number || !o.TryGetInt64(out be[j]) || be[j] < 0)
            {
                throw Error(file, $"tensor {t} has data_offsets {Truncate(offsets.GetRawText())}, not two non-negative integers");
            }
        }

        if (be[0] > be[1])
        {
            throw Error(file, $"tensor {t} has data_offsets [{be[0]}, {be[1]}] with begin after end");
        }

        long expected = 4 * count;
        if (be[1] - be[0] != expected)
        {
            throw Error(file,
                $"tensor {t} has shape [{string.Join(", ", dims)}] ({expected} bytes as F32) but data_offsets [{be[0]}, {be[1]}] span {be[1] - be[0]} bytes");
        }

        return new Entry(tensor, dims, be[0], be[1]);
    }

    /// <summary>The tensors must tile the buffer exactly: sorted by offset, each begins where the
    /// previous one ended, the first at 0 and the last at the buffer's end. Sorts
    /// <paramref name="entries"/> by offset.</summary>
    private static void CheckCoverage(string file, List<Entry> entries, int bufferLength)
    {
        foreach (Entry e in entries)
        {
            if (e.End > bufferLength)
            {
                throw Error(file,
                    $"tensor {Quote(e.Name)} has data_offsets [{e.Begin}, {e.End}] beyond the {bufferLength}-byte data buffer");
            }
        }

        // Stable order: by begin, then empty tensors before the tensor that starts at the same offset.
        entries.Sort((a, b) => a.Begin != b.Begin ? a.Begin.CompareTo(b.Begin) : a.End.CompareTo(b.End));
        long position = 0;
        Entry? previous = null;
        foreach (Entry e in entries)
        {
            if (e.Begin < position)
            {
                throw Error(file,
                    $"tensor {Quote(e.Name)} bytes [{e.Begin}, {e.End}] overlap tensor {Quote(previous!.Name)} bytes [{previous.Begin}, {previous.End}]");
            }

            if (e.Begin > position)
            {
                throw Error(file, $"data buffer bytes [{position}, {e.Begin}) are not covered by any tensor");
            }

            position = e.End;
            previous = e;
        }

        if (position != bufferLength)
        {
            throw Error(file, $"data buffer bytes [{position}, {bufferLength}) are not covered by any tensor");
        }
    }

    private static int FindNonFinite(float[] data)
    {
        for (int i = 0; i < data.Length; i++)
        {
            if (!float.IsFinite(data[i]))
            {
                return i;
            }
        }
        return -1;
    }

    private static string Describe(float v) =>
        float.IsNaN(v) ? "NaN" : float.IsPositiveInfinity(v) ? "+Inf" : "-Inf";

    private static string Article(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Null => "null",
        _ => "undefined",
    };

    /// <summary>Names from the file are quoted so that odd characters cannot break the one-line message.</summary>
    internal static string Quote(string s) =>
        s.Length > 0 && s.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-' or '/' or ',')
            ? Truncate(s)
            : JsonSerializer.Serialize(Truncate(s));

    private static string Truncate(string s) => s.Length <= 80 ? s : string.Concat(s.AsSpan(0, 77), "...");

    private static string OneLine(string s) => s.ReplaceLineEndings(" ");

    private static ModelFormatException Error(string file, string problem, Exception? inner = null) =>
        inner is null
            ? new ModelFormatException($"{file}: {OneLine(problem)}")
            : new ModelFormatException($"{file}: {OneLine(problem)}", inner);
}
