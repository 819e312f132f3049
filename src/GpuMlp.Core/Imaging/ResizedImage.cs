using GpuMlp.Data;
using SkiaSharp;

namespace GpuMlp.Imaging;

/// <summary>
/// The "resize" preparation (<see cref="ImagePreprocessing.Resize"/>): an image of any size becomes
/// a network input of C x H x W. Transparency is composited onto white (as <see cref="DigitImage"/>
/// does); the whole picture is scaled to W x H without keeping its aspect ratio (trilinear with
/// mipmaps to shrink, bicubic to enlarge, untouched at W x H already); one channel is the Rec. 601 luma rounded to a byte, three
/// are R, G, B; each value is byte / 255, as a dataset's stored bytes are. Output: C*H*W floats in
/// [0, 1], NCHW (channel planes, each row-major).
/// </summary>
public static class ResizedImage
{
    /// <summary>Decodes <paramref name="path"/> (honouring the EXIF orientation) and converts it with
    /// <see cref="FromBitmap"/>.</summary>
    /// <exception cref="FileNotFoundException">There is no such file.</exception>
    /// <exception cref="ImageFormatException">The file cannot be decoded.</exception>
    /// <exception cref="ArgumentException">The shape has other than one or three channels.</exception>
    public static float[] Load(string path, ImageShape shape)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        RequireChannels(shape);
        if (!File.Exists(path))
            throw new FileNotFoundException($"image not found: {path}", path);
        using SKBitmap bitmap = DigitImage.Decode(path);
        return FromBitmap(bitmap, shape);
    }

    /// <summary>Decodes an encoded image held in memory (honouring the EXIF orientation) and converts
    /// it with <see cref="FromBitmap"/>; <paramref name="nameForMessages"/> names it in errors.</summary>
    /// <exception cref="ImageFormatException">The bytes cannot be decoded.</exception>
    /// <exception cref="ArgumentException">The shape has other than one or three channels.</exception>
    public static float[] FromEncoded(byte[] encoded, ImageShape shape, string nameForMessages)
    {
        RequireChannels(shape);
        using SKBitmap bitmap = DigitImage.Decode(encoded, nameForMessages);
        return FromBitmap(bitmap, shape);
    }

    /// <summary>A decoded image as C*H*W values of <paramref name="shape"/> (see the class summary).</summary>
    /// <exception cref="ArgumentException">The shape has other than one or three channels.</exception>
    public static float[] FromBitmap(SKBitmap bitmap, ImageShape shape)
    {
        ArgumentNullException.ThrowIfNull(bitmap);
        RequireChannels(shape);
        int w = bitmap.Width, h = bitmap.Height;
        using var opaque = new SKBitmap(new SKImageInfo(w, h, SKColorType.Rgba8888, SKAlphaType.Premul));
        using (var canvas = new SKCanvas(opaque))
        {
            canvas.Clear(SKColors.White);
            canvas.DrawBitmap(bitmap, 0, 0);
        }

        // An image of the model's size is read as it is (Mitchell's cubic would blur it).
        SKSamplingOptions sampling = shape.Width >= w && shape.Height >= h
            ? new SKSamplingOptions(SKCubicResampler.Mitchell)
            : new SKSamplingOptions(SKFilterMode.Linear, SKMipmapMode.Linear);
        using SKBitmap scaled = shape.Width == w && shape.Height == h
            ? opaque.Copy()
            : opaque.Resize(new SKImageInfo(shape.Width, shape.Height, SKColorType.Rgba8888, SKAlphaType.Premul), sampling)
                ?? throw new InvalidOperationException($"cannot scale the image to {shape.Width}x{shape.Height}");

        ReadOnlySpan<byte> rgba = scaled.GetPixelSpan();
        int rowBytes = scaled.RowBytes, plane = shape.Height * shape.Width;
        var values = new float[shape.Pixels];
        for (int y = 0; y < shape.Height; y++)
        {
            ReadOnlySpan<byte> row = rgba.Slice(y * rowBytes, 4 * shape.Width);
            for (int x = 0; x < shape.Width; x++)
            {
                int at = (y * shape.Width) + x;
                byte r = row[4 * x], g = row[(4 * x) + 1], b = row[(4 * x) + 2];
                if (shape.Channels == 1)
                {
                    // Rec. 601 luma of the (gamma-encoded) colour, stored as a byte as datasets are.
                    values[at] = MathF.Round((0.299f * r) + (0.587f * g) + (0.114f * b)) / 255f;
                }
                else
                {
                    values[at] = r / 255f;
                    values[plane + at] = g / 255f;
                    values[(2 * plane) + at] = b / 255f;
                }
            }
        }
        return values;
    }

    private static void RequireChannels(ImageShape shape)
    {
        if (shape.Channels is not (1 or 3))
            throw new ArgumentException($"images are read as one channel (gray) or three (RGB), not {shape.Channels}", nameof(shape));
    }
}
