using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using CsCheck;

namespace GpuMlp.Tests.Fuzz;

/// <summary>One change to a file's bytes. Positions are taken modulo the current length, so a
/// mutation applies to any input and several compose; every Apply returns a new array.</summary>
internal abstract record Mutation
{
    public abstract byte[] Apply(byte[] input);

    public static byte[] ApplyAll(byte[] input, IEnumerable<Mutation> mutations)
    {
        byte[] bytes = input;
        foreach (Mutation m in mutations)
        {
            bytes = m.Apply(bytes);
        }
        return bytes;
    }
}

internal sealed record FlipBit(int At, int Bit) : Mutation
{
    public override byte[] Apply(byte[] input)
    {
        if (input.Length == 0)
        {
            return input;
        }
        byte[] b = (byte[])input.Clone();
        b[At % b.Length] ^= (byte)(1 << (Bit & 7));
        return b;
    }
}

internal sealed record SetByte(int At, byte Value) : Mutation
{
    public override byte[] Apply(byte[] input)
    {
        if (input.Length == 0)
        {
            return input;
        }
        byte[] b = (byte[])input.Clone();
        b[At % b.Length] = Value;
        return b;
    }
}

/// <summary>Writes an integer of 1, 2, 4 or 8 bytes (clipped at the end of the file).</summary>
internal sealed record SetWord(int At, int Width, ulong Value, bool BigEndian) : Mutation
{
    public override byte[] Apply(byte[] input)
    {
        if (input.Length == 0)
        {
            return input;
        }
        byte[] b = (byte[])input.Clone();
        Span<byte> word = stackalloc byte[8];
        if (BigEndian)
        {
            BinaryPrimitives.WriteUInt64BigEndian(word, Value << (8 * (8 - Width)));
        }
        else
        {
            BinaryPrimitives.WriteUInt64LittleEndian(word, Value);
        }
        int at = At % b.Length;
        for (int i = 0; i < Width && at + i < b.Length; i++)
        {
            b[at + i] = word[i];
        }
        return b;
    }
}

/// <summary>Keeps a strict prefix: truncation at a random length.</summary>
internal sealed record Truncate(int Length) : Mutation
{
    public override byte[] Apply(byte[] input) => input.Length == 0 ? input : input.AsSpan(0, Length % input.Length).ToArray();
}

internal sealed record Insert(int At, byte[] Bytes) : Mutation
{
    public override byte[] Apply(byte[] input)
    {
        int at = At % (input.Length + 1);
        return [.. input.AsSpan(0, at), .. Bytes, .. input.AsSpan(at)];
    }

    public override string ToString() => $"Insert {{ At = {At}, Bytes = {Convert.ToHexString(Bytes)} }}";
}

internal sealed record Remove(int At, int Count) : Mutation
{
    public override byte[] Apply(byte[] input)
    {
        if (input.Length == 0)
        {
            return input;
        }
        int at = At % input.Length;
        int count = Math.Min(Count, input.Length - at);
        return [.. input.AsSpan(0, at), .. input.AsSpan(at + count)];
    }
}

/// <summary>Repeats a chunk in place (a duplicated record, a doubled gzip member).</summary>
internal sealed record Repeat(int At, int Count) : Mutation
{
    public override byte[] Apply(byte[] input)
    {
        if (input.Length == 0)
        {
            return input;
        }
        int at = At % input.Length;
        int count = Math.Min(Count, input.Length - at);
        return [.. input.AsSpan(0, at + count), .. input.AsSpan(at)];
    }
}

/// <summary>Sets a big-endian int32 header field of an IDX file (0 = magic, 1.. = dimensions).</summary>
internal sealed record SetIdxField(int Field, int Value) : Mutation
{
    public override byte[] Apply(byte[] input)
    {
        int at = 4 * Field;
        if (at + 4 > input.Length)
        {
            return input;
        }
        byte[] b = (byte[])input.Clone();
        BinaryPrimitives.WriteInt32BigEndian(b.AsSpan(at), Value);
        return b;
    }
}

/// <summary>Sets a little-endian integer at a fixed offset (a length field of a known layout).</summary>
internal sealed record SetField(string Name, int Offset, int Width, long Value) : Mutation
{
    public override byte[] Apply(byte[] input)
    {
        if (Offset + Width > input.Length)
        {
            return input;
        }
        byte[] b = (byte[])input.Clone();
        if (Width == 8)
        {
            BinaryPrimitives.WriteInt64LittleEndian(b.AsSpan(Offset), Value);
        }
        else
        {
            BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(Offset), unchecked((int)Value));
        }
        return b;
    }
}

/// <summary>Structure-aware change to an embedded JSON document (the safetensors header, the
/// checkpoint state): replace, remove or rename one node, or add a property; the container's
/// length field is rewritten to match, so the change reaches the JSON's meaning.</summary>
internal sealed record JsonEdit(int Node, int Action, int Choice, int Choice2) : Mutation
{
    /// <summary>Where the JSON sits: the length prefix's offset and width (little-endian), the JSON's offset.</summary>
    public required JsonFrame Frame { get; init; }

    public static readonly string[] Values =
    [
        "-1", "0", "1", "2", "3", "4", "7", "8", "9", "10", "12", "92", "784", "805", "2147483647", "2147483648",
        "-2147483649", "4294967296", "9223372036854775807", "18446744073709551615", "1e400", "-1e400", "-0", "0.5", "1e2",
        "null", "true", "false", "\"F32\"", "\"F16\"", "\"BF16\"", "\"\"", "\"x\"", "\"NaN\"", "\"Infinity\"", "\"-Infinity\"",
        "[]", "{}", "[0]", "[1]", "[0,0]", "[1,1]", "[0,92]", "[-1,4]", "[4,0]", "[784,1]", "[0,1,2]", "[null]",
        "[2147483647,2147483647]", "[65536,65536]", "[100000,100000]", "[\"a\"]", "{\"a\":1}", "{\"a\":\"b\"}",
        "\"constant\"", "\"cosine\"", "\"bogus\"",
    ];

    public static readonly string[] Names =
    [
        "__metadata__", "0.weight", "0.bias", "3.weight", "3.bias", "6.weight", "6.bias", "1.weight", "dtype", "shape",
        "data_offsets", "", "x", "options", "hidden", "epochs", "epochs_completed", "adam_steps", "history", "device",
        "batch_size", "learning_rate", "best_epoch", "schedule", "gpumlp.widths", "format",
    ];

    public override byte[] Apply(byte[] input)
    {
        if (input.Length < Frame.JsonOffset)
        {
            return input;
        }
        long declared = Frame.LengthWidth == 8
            ? (long)Math.Min(BinaryPrimitives.ReadUInt64LittleEndian(input.AsSpan(Frame.LengthOffset)), long.MaxValue)
            : BinaryPrimitives.ReadInt32LittleEndian(input.AsSpan(Frame.LengthOffset));
        if (declared <= 0 || declared > input.Length - Frame.JsonOffset)
        {
            return input;
        }
        int length = (int)declared;
        byte[] json;
        try
        {
            json = Edit(input.AsSpan(Frame.JsonOffset, length));
        }
        catch (Exception ex) when (ex is JsonException or ArgumentException or InvalidOperationException)
        {
            // Not JSON any more (an earlier mutation broke it), or duplicate keys: nothing to edit.
            return input;
        }
        byte[] output = [.. input.AsSpan(0, Frame.JsonOffset), .. json, .. input.AsSpan(Frame.JsonOffset + length)];
        if (Frame.LengthWidth == 8)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(output.AsSpan(Frame.LengthOffset), (ulong)json.Length);
        }
        else
        {
            BinaryPrimitives.WriteInt32LittleEndian(output.AsSpan(Frame.LengthOffset), json.Length);
        }
        return output;
    }

    private byte[] Edit(ReadOnlySpan<byte> original)
    {
        JsonNode? root = JsonNode.Parse(original);
        if (root is null)
        {
            return original.ToArray();
        }

        var nodes = new List<JsonNode>();
        Collect(root, nodes);
        JsonNode target = nodes[Node % nodes.Count];
        JsonNode? parent = target.Parent;
        string value = Values[Choice % Values.Length];
        string name = Names[Choice2 % Names.Length];
        switch (Action % 4)
        {
            case 0:
                if (parent is null)
                {
                    root = JsonNode.Parse(value);
                }
                else
                {
                    target.ReplaceWith(JsonNode.Parse(value));
                }
                break;
            case 1:
                if (parent is JsonObject po)
                {
                    po.Remove(target.GetPropertyName());
                }
                else if (parent is JsonArray pa)
                {
                    pa.Remove(target);
                }
                break;
            case 2:
                if (parent is JsonObject owner && !owner.ContainsKey(name))
                {
                    string old = target.GetPropertyName();
                    owner.Remove(old);
                    owner[name] = target;
                }
                break;
            default:
                if (target is JsonObject obj && !obj.ContainsKey(name))
                {
                    obj[name] = JsonNode.Parse(value);
                }
                else if (target is JsonArray arr)
                {
                    arr.Add(JsonNode.Parse(value));
                }
                break;
        }

        return root is null ? "null"u8.ToArray() : Encoding.UTF8.GetBytes(root.ToJsonString());
    }

    private static void Collect(JsonNode node, List<JsonNode> nodes)
    {
        nodes.Add(node);
        if (node is JsonObject o)
        {
            foreach (KeyValuePair<string, JsonNode?> p in o)
            {
                if (p.Value is not null)
                {
                    Collect(p.Value, nodes);
                }
            }
        }
        else if (node is JsonArray a)
        {
            foreach (JsonNode? item in a)
            {
                if (item is not null)
                {
                    Collect(item, nodes);
                }
            }
        }
    }

    public override string ToString()
    {
        string what = (Action % 4) switch
        {
            0 => $"replace with {Values[Choice % Values.Length]}",
            1 => "remove",
            2 => $"rename to \"{Names[Choice2 % Names.Length]}\"",
            _ => $"add \"{Names[Choice2 % Names.Length]}\": {Values[Choice % Values.Length]}",
        };
        return $"JsonEdit {{ Node = {Node}, {what} }}";
    }
}

internal sealed record JsonFrame(int LengthOffset, int LengthWidth, int JsonOffset);

/// <summary>The generators: generic byte-level mutations plus format-specific field changes.</summary>
internal static class Mutate
{
    public static readonly ulong[] InterestingWords =
    [
        0, 1, 2, 3, 4, 7, 8, 9, 10, 12, 16, 28, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFF, 0x1_0000,
        0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF, 0x1_0000_0000, 0x7FFF_FFFF_FFFF_FFFF, 0x8000_0000_0000_0000,
        0xFFFF_FFFF_FFFF_FFFF, 0xFFFF_FFFE,
        0x7FC0_0000, 0x7F80_0000, 0xFF80_0000, 0x7F7F_FFFF, // float NaN, +Inf, -Inf, MaxValue
    ];

    public static readonly int[] InterestingInts =
    [
        0, 1, 2, 3, 4, 5, 8, 9, 27, 28, 29, 255, 256, 4095, 4096, 4097, 10_000, 60_000, 65_536, 1 << 20,
        1_369_000, 1 << 24, 1 << 30, int.MaxValue, -1, -2, int.MinValue, 0x0803, 0x0801, 0x0802, 0x0903, 0x0D03,
    ];

    /// <summary>Positions: mostly near the start (headers), sometimes anywhere.</summary>
    public static readonly Gen<int> Position = Gen.Frequency(
        (3, Gen.Int[0, 96]),
        (1, Gen.Int[0, 512]),
        (2, Gen.Int.NonNegative));

    public static readonly Gen<Mutation> Generic = Gen.Frequency(
        (4, Gen.Select(Position, Gen.Int[0, 7], (at, bit) => (Mutation)new FlipBit(at, bit))),
        (3, Gen.Select(Position, Gen.Byte, (at, v) => (Mutation)new SetByte(at, v))),
        (3, Gen.Select(Position, Gen.OneOf(1, 2, 4, 8), Gen.OneOf(InterestingWords), Gen.Bool,
            (at, width, value, big) => (Mutation)new SetWord(at, width, value, big))),
        (2, Gen.Int.NonNegative.Select(n => (Mutation)new Truncate(n))),
        (2, Gen.Select(Position, Gen.Byte.Array[1, 16], (at, bytes) => (Mutation)new Insert(at, bytes))),
        (1, Gen.Select(Position, Gen.Int[1, 64], (at, n) => (Mutation)new Remove(at, n))),
        (1, Gen.Select(Position, Gen.Int[1, 64], (at, n) => (Mutation)new Repeat(at, n))));

    public static readonly Gen<int> IdxValue = Gen.Frequency(
        (3, Gen.OneOf(InterestingInts)),
        (1, Gen.Int));

    /// <summary>IDX header fields: magic and up to three dimensions.</summary>
    public static readonly Gen<Mutation> IdxField =
        Gen.Select(Gen.Int[0, 3], IdxValue, (field, value) => (Mutation)new SetIdxField(field, value));

    public static Gen<Mutation> Json(JsonFrame frame) =>
        Gen.Select(Gen.Int.NonNegative, Gen.Int[0, 3], Gen.Int.NonNegative, Gen.Int.NonNegative,
            (node, action, choice, choice2) => (Mutation)new JsonEdit(node, action, choice, choice2) { Frame = frame });

    public static Gen<Mutation> Field(string name, int offset, int width) =>
        Gen.Frequency(
            (3, Gen.OneOf(InterestingWords).Select(v => unchecked((long)v))),
            (1, Gen.Long))
        .Select(v => (Mutation)new SetField(name, offset, width, v));

    /// <summary>One to three mutations drawn from <paramref name="kinds"/>.</summary>
    public static Gen<Mutation[]> Some(Gen<Mutation> kinds) =>
        Gen.Frequency((6, kinds.Array[1]), (3, kinds.Array[2]), (1, kinds.Array[3]));

    public static string Print(IEnumerable<Mutation> mutations) => "[" + string.Join(", ", mutations) + "]";

    public static byte[] Gzip(byte[] data)
    {
        using var ms = new MemoryStream();
        using (var gz = new GZipStream(ms, CompressionLevel.Fastest, leaveOpen: true))
        {
            gz.Write(data);
        }
        return ms.ToArray();
    }
}
