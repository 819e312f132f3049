using System.Runtime.InteropServices;
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
