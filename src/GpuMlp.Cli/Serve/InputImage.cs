using GpuMlp.Data;
using SkiaSharp;

namespace GpuMlp.Cli.Serve;

/// <summary>The input a model saw, as a PNG the page can show: C x H x W values in [0, 1] (NCHW),
/// one channel as gray, three as RGB, each value * 255 rounded.</summary>
public static class InputImage
{
    public static byte[] ToPng(float[] values, ImageShape shape)
    {
        ArgumentNullException.ThrowIfNull(values);
        if (values.Length != shape.Pixels)
            throw new ArgumentException($"{values.Length} values for a {shape} image", nameof(values));
        int plane = shape.Height * shape.Width;
        using var bitmap = new SKBitmap(new SKImageInfo(shape.Width, shape.Height, SKColorType.Rgba8888, SKAlphaType.Opaque));
        Span<byte> pixels = bitmap.GetPixelSpan();
        for (int y = 0; y < shape.Height; y++)
        {
            for (int x = 0; x < shape.Width; x++)
            {
                int at = (y * shape.Width) + x, o = (y * bitmap.RowBytes) + (4 * x);
                pixels[o] = Byte(values[at]);
                pixels[o + 1] = Byte(values[shape.Channels == 3 ? plane + at : at]);
                pixels[o + 2] = Byte(values[shape.Channels == 3 ? (2 * plane) + at : at]);
                pixels[o + 3] = 255;
            }
        }
        using SKData png = bitmap.Encode(SKEncodedImageFormat.Png, 100)
            ?? throw new InvalidOperationException("PNG encoding failed");
        return png.ToArray();
    }

    private static byte Byte(float value) => (byte)Math.Clamp(MathF.Round(value * 255f), 0f, 255f);
}
