using System.Runtime.InteropServices;
using GpuMlp.Data;
using SkiaSharp;

namespace GpuMlp.Tests.Data;

/// <summary>Writes 8-bit gray PNG files from row-major bytes (the test folders' images).</summary>
internal static class GrayPng
{
    /// <summary>Writes <paramref name="gray"/> (<paramref name="height"/> rows of
    /// <paramref name="width"/> bytes) to <paramref name="path"/>, creating its folder.</summary>
    public static void Write(string path, ReadOnlySpan<byte> gray, int width, int height)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        using var bitmap = new SKBitmap(new SKImageInfo(width, height, SKColorType.Gray8, SKAlphaType.Opaque));
        byte[] rows = gray.ToArray();
        for (int y = 0; y < height; y++)
            Marshal.Copy(rows, y * width, bitmap.GetPixels() + (y * bitmap.RowBytes), width);
        using SKData png = bitmap.Encode(SKEncodedImageFormat.Png, 100);
        File.WriteAllBytes(path, png.ToArray());
    }
}

/// <summary>Image folders load their training split in a seeded random order; tests compare it in
/// the folder's own order.</summary>
internal static class FolderOrder
{
    /// <summary>The images of a split loaded from an image folder in the order the folder lists them
    /// (class folder, then file): by item name, ordinal.</summary>
    public static ImageSet Of(ImageSet loaded)
    {
        ArgumentNullException.ThrowIfNull(loaded);
        IReadOnlyList<string> names = loaded.ItemNames ?? throw new ArgumentException($"{loaded.Name} has no item names", nameof(loaded));
        int[] order = [.. Enumerable.Range(0, loaded.Count).OrderBy(i => names[i], StringComparer.Ordinal)];
        return new ImageSet(loaded.Name, loaded.Shape, [.. order.SelectMany(i => loaded.Image(i).ToArray())], [.. order.Select(i => loaded.Labels[i])], [.. order.Select(i => names[i])]);
    }

    /// <summary>Images <paramref name="indices"/> of <paramref name="source"/>, in that order, as a split named <paramref name="name"/>.</summary>
    public static ImageSet Select(ImageSet source, string name, IReadOnlyList<int> indices)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(indices);
        return new ImageSet(name, source.Shape, [.. indices.SelectMany(i => source.Image(i).ToArray())], [.. indices.Select(i => source.Labels[i])]);
    }

    /// <summary>Images [<paramref name="from"/>, <paramref name="to"/>) of <paramref name="source"/>
    /// in the order a folder of them lists them (written as label/index.png): by label, then index.</summary>
    public static ImageSet ByLabel(ImageSet source, string name, int from, int to)
    {
        ArgumentNullException.ThrowIfNull(source);
        return Select(source, name, [.. Enumerable.Range(from, to - from).OrderBy(i => source.Labels[i]).ThenBy(i => i)]);
    }

    /// <summary>The original index each image of <paramref name="loaded"/> was written from, read from
    /// its file name (NNNNN.png).</summary>
    public static int[] WrittenIndices(ImageSet loaded)
    {
        ArgumentNullException.ThrowIfNull(loaded);
        IReadOnlyList<string> names = loaded.ItemNames ?? throw new ArgumentException($"{loaded.Name} has no item names", nameof(loaded));
        return [.. names.Select(name => int.Parse(Path.GetFileNameWithoutExtension(name), System.Globalization.CultureInfo.InvariantCulture))];
    }
}
