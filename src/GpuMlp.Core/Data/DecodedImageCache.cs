using System.Security.Cryptography;
using System.Text;
using GpuMlp.Runs;

namespace GpuMlp.Data;

/// <summary>The shape, class names and the lines that say how they were chosen, as stored at the
/// head of a cache file (readable without the pixels).</summary>
internal sealed record CachedLayout(ImageShape Shape, IReadOnlyList<string> ClassNames, IReadOnlyList<string> Notes);

/// <summary>
/// Decoded image folders kept as one file each, outside the user's folders: under
/// $GPUMLP_CACHE_DIR, else $XDG_CACHE_HOME/gpumlp, else ~/.cache/gpumlp (in image-folders/).
/// A file is named by a SHA-256 of the folder's full path and the load options, and holds a key,
/// a SHA-256 that adds the decoder's version and every image's relative path, length and
/// last-write time: any change to the images reads the folder again and replaces the file. Files are written atomically; an
/// unreadable one counts as absent.
/// Layout (BinaryWriter, little-endian): magic, version, key, C, H, W, class count and names, note
/// count and notes, then for train and test: count, labels (count bytes), pixels (count x C x H x W).
/// </summary>
internal static class DecodedImageCache
{
    public const string VariableName = "GPUMLP_CACHE_DIR";

    private const string Magic = "gpumlp decoded image folder";

    private const int Version = 1;

    /// <summary>The cache folder: <see cref="VariableName"/>, else $XDG_CACHE_HOME/gpumlp, else
    /// ~/.cache/gpumlp; then image-folders/ in it. <paramref name="variable"/> reads the environment.</summary>
    public static string Directory(Func<string, string?> variable)
    {
        ArgumentNullException.ThrowIfNull(variable);
        string? own = variable(VariableName);
        string? xdg = variable("XDG_CACHE_HOME");
        string root = !string.IsNullOrEmpty(own) ? own
            : !string.IsNullOrEmpty(xdg) ? Path.Combine(xdg, "gpumlp")
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "gpumlp");
        return Path.Combine(root, "image-folders");
    }

    /// <summary>SHA-256 (hex) of the lines, each ended by a newline.</summary>
    public static string Key(IEnumerable<string> lines)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(Encoding.UTF8.GetBytes(Magic + "\n" + Version + "\n" + typeof(SkiaSharp.SKCodec).Assembly.GetName().Version + "\n"));
        foreach (string line in lines)
            hash.AppendData(Encoding.UTF8.GetBytes(line + "\n"));
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    public static string FileFor(string directory, string name) => Path.Combine(directory, name + ".bin");

    /// <summary>The head of the cache file, or null when there is none or it cannot be read.</summary>
    public static CachedLayout? ReadLayout(string file, string key)
    {
        try
        {
            if (!File.Exists(file))
                return null;
            using var reader = new BinaryReader(File.OpenRead(file), Encoding.UTF8);
            return ReadHead(reader, key);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or DataFormatException)
        {
            return null;
        }
    }

    /// <summary>The cached dataset, or null when there is none or it cannot be read.</summary>
    public static ImageDataset? Read(string file, string key)
    {
        try
        {
            if (!File.Exists(file))
                return null;
            using var reader = new BinaryReader(File.OpenRead(file), Encoding.UTF8);
            CachedLayout? layout = ReadHead(reader, key);
            if (layout is null)
                return null;
            ImageSet train = ReadSet(reader, "train", layout.Shape);
            ImageSet test = ReadSet(reader, "test", layout.Shape);
            return new ImageDataset(train, test, layout.ClassNames);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or DataFormatException)
        {
            return null;
        }
    }

    /// <summary>Writes the dataset atomically (creating the folder).</summary>
    public static void Write(string file, string key, ImageDataset data, IReadOnlyList<string> notes)
    {
        System.IO.Directory.CreateDirectory(Path.GetDirectoryName(file)!);
        AtomicFile.Write(file, stream =>
        {
            using var writer = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true);
            writer.Write(Magic);
            writer.Write(Version);
            writer.Write(key);
            writer.Write(data.Shape.Channels);
            writer.Write(data.Shape.Height);
            writer.Write(data.Shape.Width);
            writer.Write(data.Classes);
            foreach (string name in data.ClassNames)
                writer.Write(name);
            writer.Write(notes.Count);
            foreach (string note in notes)
                writer.Write(note);
            foreach (ImageSet split in new[] { data.Train, data.Test })
            {
                writer.Write(split.Count);
                writer.Write(split.Labels);
                writer.Write(split.Pixels);
            }
        });
    }

    private static CachedLayout? ReadHead(BinaryReader reader, string key)
    {
        if (reader.ReadString() != Magic || reader.ReadInt32() != Version || reader.ReadString() != key)
            return null;
        var shape = new ImageShape(reader.ReadInt32(), reader.ReadInt32(), reader.ReadInt32());
        shape.Check("cached images");
        string[] names = new string[CheckedCount(reader.ReadInt32(), ImageSchema.MaxClasses)];
        for (int i = 0; i < names.Length; i++)
            names[i] = reader.ReadString();
        string[] notes = new string[CheckedCount(reader.ReadInt32(), 64)];
        for (int i = 0; i < notes.Length; i++)
            notes[i] = reader.ReadString();
        return new CachedLayout(shape, names, notes);
    }

    private static ImageSet ReadSet(BinaryReader reader, string name, ImageShape shape)
    {
        int count = CheckedCount(reader.ReadInt32(), int.MaxValue / shape.Pixels);
        byte[] labels = ReadExactly(reader, count);
        byte[] pixels = ReadExactly(reader, count * shape.Pixels);
        return new ImageSet(name, shape, pixels, labels);
    }

    private static byte[] ReadExactly(BinaryReader reader, int count)
    {
        byte[] bytes = new byte[count];
        reader.BaseStream.ReadExactly(bytes);
        return bytes;
    }

    private static int CheckedCount(int count, int max) =>
        count >= 0 && count <= max ? count : throw new DataFormatException($"cache file: count {count} is outside 0..{max}");
}
