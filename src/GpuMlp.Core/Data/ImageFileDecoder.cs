using System.Globalization;
using GpuMlp.Imaging;
using SkiaSharp;

namespace GpuMlp.Data;

/// <summary>What an image file's header says: its size as displayed (after the EXIF orientation)
/// and whether its pixels are stored in colour (any colour type other than 8-bit gray).</summary>
internal readonly record struct ImageHeader(int Width, int Height, bool StoredInColour);

/// <summary>Which files are read as images: the extensions image folders, predict's folders and
/// the decoder know.</summary>
public static class ImageFileNames
{
    /// <summary>The file extensions read as images (compared ignoring case).</summary>
    public static IReadOnlyList<string> Extensions { get; } = [".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"];

    public static bool HasImageExtension(string path) =>
        Extensions.Contains(System.IO.Path.GetExtension(path), StringComparer.OrdinalIgnoreCase);
}

/// <summary>
/// Reads the image files of a dataset with SkiaSharp: PNG, JPEG, BMP, GIF (the first frame) and
/// WebP. Decoding honours the EXIF orientation; transparency is composited onto black (the decoded
/// pixels are premultiplied by alpha), so a transparent background reads as 0 like MNIST's.
/// Images of another size are resized (bilinear with mipmaps when shrinking, Mitchell cubic when
/// enlarging); an image already of the target size keeps its exact pixel values.
/// </summary>
internal static class ImageFileDecoder
{
    /// <summary>Largest decoded image accepted, in pixels (a guard against corrupt headers).</summary>
    private const long MaxPixels = 100_000_000;

    /// <exception cref="DataFormatException">The file is not an image SkiaSharp can read (one line naming it).</exception>
    public static ImageHeader ReadHeader(string path)
    {
        using SKCodec codec = Open(path);
        return HeaderOf(codec, path);
    }

    /// <summary>Decodes <paramref name="path"/> into <paramref name="destination"/> as
    /// <paramref name="shape"/> (C x H x W bytes, NCHW). One channel is the gray value (an image
    /// whose R, G and B are equal keeps it exactly; others take the Rec. 601 luma, rounded);
    /// three channels are the R, G and B planes.</summary>
    /// <exception cref="DataFormatException">The file cannot be decoded, or is truncated (one line naming it).</exception>
    public static void Decode(string path, ImageShape shape, Span<byte> destination)
    {
        if (shape.Channels is not (1 or 3))
            throw new ArgumentOutOfRangeException(nameof(shape), shape, "images are read as 1 (gray) or 3 (RGB) channels");
        if (destination.Length != shape.Pixels)
            throw new ArgumentException($"{shape} needs {shape.Pixels} bytes but {destination.Length} were given", nameof(destination));

        using SKCodec codec = Open(path);
        ImageHeader header = HeaderOf(codec, path);
        var info = new SKImageInfo(codec.Info.Width, codec.Info.Height, SKColorType.Rgba8888, SKAlphaType.Premul);
        using var decoded = new SKBitmap(info);
        SKCodecResult result = codec.GetPixels(info, decoded.GetPixels());
        if (result != SKCodecResult.Success)
        {
            string what = result == SKCodecResult.IncompleteInput ? "the file is truncated" : result.ToString();
            throw new DataFormatException($"{path}: cannot decode the image ({what})");
        }

        using SKBitmap? rotated = codec.EncodedOrigin == SKEncodedOrigin.TopLeft ? null : DigitImage.ApplyOrigin(decoded, codec.EncodedOrigin);
        SKBitmap oriented = rotated ?? decoded;
        if (header.Width == shape.Width && header.Height == shape.Height)
        {
            WritePlanes(oriented, shape, destination);
            return;
        }

        bool shrinking = (long)shape.Width * shape.Height < (long)header.Width * header.Height;
        SKSamplingOptions sampling = shrinking
            ? new SKSamplingOptions(SKFilterMode.Linear, SKMipmapMode.Linear)
            : new SKSamplingOptions(SKCubicResampler.Mitchell);
        using SKBitmap resized = oriented.Resize(new SKImageInfo(shape.Width, shape.Height, SKColorType.Rgba8888, SKAlphaType.Premul), sampling)
            ?? throw new DataFormatException(string.Create(CultureInfo.InvariantCulture,
                $"{path}: cannot resize the image from {header.Width}x{header.Height} to {shape.Width}x{shape.Height}"));
        WritePlanes(resized, shape, destination);
    }

    private static SKCodec Open(string path)
    {
        SKCodec? codec;
        try
        {
            codec = SKCodec.Create(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new DataFormatException($"{path}: cannot read the file ({ex.Message})", ex);
        }
        return codec ?? throw new DataFormatException($"{path}: cannot decode the image (not a PNG, JPEG, BMP, GIF or WebP file, or corrupt)");
    }

    private static ImageHeader HeaderOf(SKCodec codec, string path)
    {
        int w = codec.Info.Width, h = codec.Info.Height;
        if (w < 1 || h < 1 || (long)w * h > MaxPixels || w > ImageShape.MaxDimension || h > ImageShape.MaxDimension)
            throw new DataFormatException(string.Create(CultureInfo.InvariantCulture, $"{path}: cannot decode the image (its size {w}x{h} is empty or too large)"));
        bool swap = codec.EncodedOrigin is SKEncodedOrigin.LeftTop or SKEncodedOrigin.RightTop or SKEncodedOrigin.RightBottom or SKEncodedOrigin.LeftBottom;
        return new ImageHeader(swap ? h : w, swap ? w : h, codec.Info.ColorType != SKColorType.Gray8);
    }

    private static void WritePlanes(SKBitmap bitmap, ImageShape shape, Span<byte> destination)
    {
        ReadOnlySpan<byte> rgba = bitmap.GetPixelSpan();
        int rowBytes = bitmap.RowBytes, width = shape.Width, plane = shape.Height * shape.Width;
        for (int y = 0; y < shape.Height; y++)
        {
            ReadOnlySpan<byte> row = rgba.Slice(y * rowBytes, 4 * width);
            for (int x = 0; x < width; x++)
            {
                byte r = row[4 * x], g = row[(4 * x) + 1], b = row[(4 * x) + 2];
                int i = (y * width) + x;
                if (shape.Channels == 1)
                {
                    destination[i] = r == g && g == b ? r : (byte)(((299 * r) + (587 * g) + (114 * b) + 500) / 1000);
                }
                else
                {
                    destination[i] = r;
                    destination[plane + i] = g;
                    destination[(2 * plane) + i] = b;
                }
            }
        }
    }
}
