using GpuMlp.Data;
using GpuMlp.Runs;
using SkiaSharp;

namespace GpuMlp.Imaging;

/// <summary>An image cannot be decoded, or holds no digit. The message is one line naming the file.</summary>
public sealed class ImageFormatException : Exception
{
    public ImageFormatException(string message) : base(message) { }

    public ImageFormatException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>
/// Turns a picture of one handwritten digit (PNG, JPEG, ... of any size, dark ink on light paper or
/// light on dark) into an MNIST-style input, following how MNIST itself was made: grayscale
/// (transparency composited onto white); polarity from the border (a light border means dark ink,
/// which is inverted); background subtracted; crop to the bounding box of the ink; scale so the
/// longer side is 20 pixels, keeping the aspect ratio (area averaging when shrinking, bilinear when
/// enlarging); place in a 28x28 field so the intensity-weighted centre of mass is at (14, 14); and
/// scale so the strongest pixel is 1. The result is 784 floats in [0, 1], row-major, white ink on black.
/// </summary>
public static class DigitImage
{
    public const int Side = MnistDataset.Side;

    /// <summary>The longer side of the digit's bounding box in the 28x28 field, as in MNIST.</summary>
    public const int Box = 20;

    /// <summary>Ink below this fraction of the strongest ink counts as background (paper texture,
    /// compression noise) and is cleared; the crop is the bounding box of what remains.</summary>
    public const float InkFloor = 0.1f;

    /// <summary>An image whose ink contrast (difference to the background, in [0, 1]) never reaches
    /// this is taken as blank.</summary>
    public const float MinContrast = 0.1f;

    /// <summary>Images are decoded at a reduced size when the codec can (JPEG) so that the longer
    /// side is not much above this; a digit needs far less.</summary>
    private const int DecodeTargetSide = 2048;

    /// <summary>Largest decoded image accepted, in pixels.</summary>
    private const long MaxPixels = 100_000_000;

    /// <summary>Decodes <paramref name="path"/> (honouring the EXIF orientation) and converts it with
    /// <see cref="ToMnist(SKBitmap, string)"/>.</summary>
    /// <exception cref="FileNotFoundException">There is no such file.</exception>
    /// <exception cref="ImageFormatException">The file cannot be decoded, or holds no digit.</exception>
    public static float[] LoadAsMnist(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"image not found: {path}", path);
        }

        using SKBitmap bitmap = Decode(path);
        return ToMnist(bitmap, path);
    }

    /// <summary>Decodes an encoded image held in memory (PNG, JPEG, WebP, GIF or BMP, honouring the
    /// EXIF orientation) and converts it with <see cref="ToMnist(SKBitmap, string)"/>;
    /// <paramref name="nameForMessages"/> names it in errors.</summary>
    /// <exception cref="ImageFormatException">The bytes cannot be decoded, or hold no digit.</exception>
    public static float[] FromEncoded(byte[] encoded, string nameForMessages)
    {
        using SKBitmap bitmap = Decode(encoded, nameForMessages);
        return ToMnist(bitmap, nameForMessages);
    }

    /// <summary>The width and height an encoded image declares in its header, read without decoding
    /// any pixel (a tiny file can declare a huge image); null when the bytes are no image Skia reads.</summary>
    public static (int Width, int Height)? DeclaredSize(byte[] encoded)
    {
        ArgumentNullException.ThrowIfNull(encoded);
        using var data = SKData.CreateCopy(encoded);
        using SKCodec? codec = SKCodec.Create(data);
        return codec is null ? null : (codec.Info.Width, codec.Info.Height);
    }

    /// <summary>Converts a decoded image to 784 MNIST-style values (see the class summary).</summary>
    /// <exception cref="ImageFormatException">The image holds no digit.</exception>
    public static float[] ToMnist(SKBitmap bitmap, string nameForMessages = "image")
    {
        ArgumentNullException.ThrowIfNull(bitmap);
        ArgumentNullException.ThrowIfNull(nameForMessages);
        int w = bitmap.Width, h = bitmap.Height;
        if (w < 1 || h < 1)
        {
            throw new ImageFormatException($"cannot decode {nameForMessages}: the image is empty ({w}x{h})");
        }

        // Composite onto white with Skia itself, whatever the source's colour and alpha types.
        using var opaque = new SKBitmap(new SKImageInfo(w, h, SKColorType.Rgba8888, SKAlphaType.Premul));
        using (var canvas = new SKCanvas(opaque))
        {
            canvas.Clear(SKColors.White);
            canvas.DrawBitmap(bitmap, 0, 0);
        }

        ReadOnlySpan<byte> rgba = opaque.GetPixelSpan();
        int rowBytes = opaque.RowBytes;
        var gray = new float[w * h];
        for (int y = 0; y < h; y++)
        {
            ReadOnlySpan<byte> row = rgba.Slice(y * rowBytes, 4 * w);
            for (int x = 0; x < w; x++)
            {
                // Rec. 601 luma of the (gamma-encoded) colour, in [0, 1].
                gray[(y * w) + x] = ((0.299f * row[4 * x]) + (0.587f * row[(4 * x) + 1]) + (0.114f * row[(4 * x) + 2])) / 255f;
            }
        }

        return FromGray(gray, w, h, nameForMessages);
    }

    /// <summary>Converts a grayscale image (row-major, <paramref name="width"/> x <paramref name="height"/>
    /// bytes; either polarity) to 784 MNIST-style values.</summary>
    /// <exception cref="ImageFormatException">The image holds no digit.</exception>
    public static float[] ToMnist(ReadOnlySpan<byte> gray, int width, int height, string nameForMessages = "image")
    {
        ArgumentNullException.ThrowIfNull(nameForMessages);
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(height, 1);
        if (gray.Length != (long)width * height)
        {
            throw new ArgumentException($"{width}x{height} needs {(long)width * height} bytes but {gray.Length} were given", nameof(gray));
        }

        var values = new float[gray.Length];
        for (int i = 0; i < values.Length; i++)
        {
            values[i] = gray[i] / 255f;
        }
        return FromGray(values, width, height, nameForMessages);
    }

    /// <summary>Renders an MNIST digit (784 bytes, 0 = background, 255 = ink) as a
    /// <paramref name="size"/> x <paramref name="size"/> PNG with smooth scaling; black ink on white
    /// when <paramref name="darkOnLight"/>, else white on black. Written atomically.</summary>
    public static void SaveMnistDigitAsPng(ReadOnlySpan<byte> mnist784, string path, int size, bool darkOnLight)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        using SKBitmap bitmap = RenderMnistDigit(mnist784, size, darkOnLight);
        using SKData png = bitmap.Encode(SKEncodedImageFormat.Png, 100)
            ?? throw new InvalidOperationException("PNG encoding failed");
        AtomicFile.WriteAllBytes(path, png.Span);
    }

    /// <summary>The bitmap <see cref="SaveMnistDigitAsPng"/> encodes (opaque RGBA).</summary>
    public static SKBitmap RenderMnistDigit(ReadOnlySpan<byte> mnist784, int size, bool darkOnLight)
    {
        if (mnist784.Length != Side * Side)
        {
            throw new ArgumentException($"an MNIST digit has {Side * Side} bytes, not {mnist784.Length}", nameof(mnist784));
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(size, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(size, 8192);

        var info = new SKImageInfo(Side, Side, SKColorType.Rgba8888, SKAlphaType.Opaque);
        using var digit = new SKBitmap(info);
        Span<byte> px = digit.GetPixelSpan();
        for (int y = 0; y < Side; y++)
        {
            for (int x = 0; x < Side; x++)
            {
                byte v = mnist784[(y * Side) + x];
                if (darkOnLight)
                {
                    v = (byte)(255 - v);
                }

                int o = (y * digit.RowBytes) + (4 * x);
                px[o] = px[o + 1] = px[o + 2] = v;
                px[o + 3] = 255;
            }
        }

        // Bicubic (Mitchell) to enlarge, trilinear with mipmaps to shrink: smooth either way.
        SKSamplingOptions sampling = size >= Side
            ? new SKSamplingOptions(SKCubicResampler.Mitchell)
            : new SKSamplingOptions(SKFilterMode.Linear, SKMipmapMode.Linear);
        return digit.Resize(new SKImageInfo(size, size, SKColorType.Rgba8888, SKAlphaType.Opaque), sampling)
            ?? throw new InvalidOperationException($"cannot scale the digit to {size}x{size}");
    }

    internal static SKBitmap Decode(string path)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new FileNotFoundException($"image not found: {path}", path, ex);
        }

        return Decode(bytes, path);
    }

    /// <summary>Decodes encoded image bytes; <paramref name="path"/> names them in errors.</summary>
    internal static SKBitmap Decode(byte[] bytes, string path)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        using var data = SKData.CreateCopy(bytes);
        using SKCodec? codec = SKCodec.Create(data);
        if (codec is null)
        {
            throw new ImageFormatException($"cannot decode {path}: not a PNG, JPEG, WebP, GIF or BMP image ({bytes.Length} bytes)");
        }

        SKImageInfo full = codec.Info;
        if (full.Width < 1 || full.Height < 1)
        {
            throw new ImageFormatException($"cannot decode {path}: the image is empty ({full.Width}x{full.Height})");
        }

        // Let the codec shrink large photos while decoding (JPEG can, by 1/2, 1/4, 1/8).
        float scale = Math.Min(1f, (float)DecodeTargetSide / Math.Max(full.Width, full.Height));
        SKSizeI size = scale < 1 ? codec.GetScaledDimensions(scale) : new SKSizeI(full.Width, full.Height);
        if ((long)size.Width * size.Height > MaxPixels)
        {
            throw new ImageFormatException($"cannot decode {path}: {full.Width}x{full.Height} pixels is too large");
        }

        SKAlphaType alpha = full.AlphaType == SKAlphaType.Opaque ? SKAlphaType.Opaque : SKAlphaType.Premul;
        var info = new SKImageInfo(size.Width, size.Height, SKColorType.Rgba8888, alpha);
        var bitmap = new SKBitmap(info);
        SKCodecResult result = codec.GetPixels(info, bitmap.GetPixels());
        if (result is not (SKCodecResult.Success or SKCodecResult.IncompleteInput))
        {
            bitmap.Dispose();
            throw new ImageFormatException($"cannot decode {path}: {result}");
        }

        if (codec.EncodedOrigin == SKEncodedOrigin.TopLeft)
        {
            return bitmap;
        }

        using (bitmap)
        {
            return ApplyOrigin(bitmap, codec.EncodedOrigin);
        }
    }

    /// <summary>Rotates or mirrors a decoded image as its EXIF orientation says it should be displayed.</summary>
    internal static SKBitmap ApplyOrigin(SKBitmap source, SKEncodedOrigin origin)
    {
        float w = source.Width, h = source.Height;
        bool swap = origin is SKEncodedOrigin.LeftTop or SKEncodedOrigin.RightTop or SKEncodedOrigin.RightBottom or SKEncodedOrigin.LeftBottom;
        // x' = ScaleX x + SkewX y + TransX, y' = SkewY x + ScaleY y + TransY.
        SKMatrix m = origin switch
        {
            SKEncodedOrigin.TopRight => new SKMatrix(-1, 0, w, 0, 1, 0, 0, 0, 1),
            SKEncodedOrigin.BottomRight => new SKMatrix(-1, 0, w, 0, -1, h, 0, 0, 1),
            SKEncodedOrigin.BottomLeft => new SKMatrix(1, 0, 0, 0, -1, h, 0, 0, 1),
            SKEncodedOrigin.LeftTop => new SKMatrix(0, 1, 0, 1, 0, 0, 0, 0, 1),
            SKEncodedOrigin.RightTop => new SKMatrix(0, -1, h, 1, 0, 0, 0, 0, 1),
            SKEncodedOrigin.RightBottom => new SKMatrix(0, -1, h, -1, 0, w, 0, 0, 1),
            SKEncodedOrigin.LeftBottom => new SKMatrix(0, 1, 0, -1, 0, w, 0, 0, 1),
            _ => SKMatrix.Identity,
        };

        var result = new SKBitmap(new SKImageInfo(swap ? source.Height : source.Width, swap ? source.Width : source.Height, source.ColorType, source.AlphaType));
        using var canvas = new SKCanvas(result);
        canvas.Clear(SKColors.Transparent);
        canvas.SetMatrix(m);
        canvas.DrawBitmap(source, 0, 0);
        return result;
    }

    /// <summary>The MNIST pipeline on a grayscale image with values in [0, 1] (either polarity).</summary>
    private static float[] FromGray(float[] gray, int w, int h, string name)
    {
        // 1. Polarity and background level from the median of the border pixels.
        float background = BorderMedian(gray, w, h);
        bool lightBackground = background >= 0.5f;
        var ink = new float[gray.Length];
        float max = 0;
        for (int i = 0; i < gray.Length; i++)
        {
            float v = lightBackground ? background - gray[i] : gray[i] - background;
            ink[i] = v > 0 ? v : 0;
            max = Math.Max(max, ink[i]);
        }

        if (max < MinContrast)
        {
            throw new ImageFormatException($"no digit found in {name}");
        }

        // 2. Normalise, clear what is fainter than the ink floor, and find the bounding box of the rest.
        int left = w, right = -1, top = h, bottom = -1;
        for (int y = 0; y < h; y++)
        {
            for (int x = 0; x < w; x++)
            {
                int i = (y * w) + x;
                float v = ink[i] / max;
                if (v <= InkFloor)
                {
                    ink[i] = 0;
                    continue;
                }

                ink[i] = v;
                left = Math.Min(left, x);
                right = Math.Max(right, x);
                top = Math.Min(top, y);
                bottom = Math.Max(bottom, y);
            }
        }

        int cw = right - left + 1, ch = bottom - top + 1;
        var crop = new float[cw * ch];
        for (int y = 0; y < ch; y++)
        {
            Array.Copy(ink, ((top + y) * w) + left, crop, y * cw, cw);
        }

        // 3. Fit the longer side to the 20-pixel box, keeping the aspect ratio.
        double scale = (double)Box / Math.Max(cw, ch);
        int dw = Math.Clamp((int)Math.Round(cw * scale), 1, Box);
        int dh = Math.Clamp((int)Math.Round(ch * scale), 1, Box);
        float[] scaled = Resample(crop, cw, ch, dw, dh);

        // 4. Centre of mass to (14, 14) (pixel indices, as MNIST), by a whole-pixel shift; clip to the frame.
        double mass = 0, mx = 0, my = 0;
        for (int y = 0; y < dh; y++)
        {
            for (int x = 0; x < dw; x++)
            {
                float v = scaled[(y * dw) + x];
                mass += v;
                mx += x * v;
                my += y * v;
            }
        }

        int ox, oy;
        if (mass > 0)
        {
            ox = (int)Math.Round((Side / 2) - (mx / mass), MidpointRounding.AwayFromZero);
            oy = (int)Math.Round((Side / 2) - (my / mass), MidpointRounding.AwayFromZero);
        }
        else
        {
            ox = (Side - dw) / 2;
            oy = (Side - dh) / 2;
        }

        var output = new float[Side * Side];
        float peak = 0;
        for (int y = 0; y < dh; y++)
        {
            int ty = y + oy;
            if (ty is < 0 or >= Side)
            {
                continue;
            }

            for (int x = 0; x < dw; x++)
            {
                int tx = x + ox;
                if (tx is < 0 or >= Side)
                {
                    continue;
                }

                float v = scaled[(y * dw) + x];
                output[(ty * Side) + tx] = v;
                peak = Math.Max(peak, v);
            }
        }

        if (peak <= 0)
        {
            throw new ImageFormatException($"no digit found in {name}");
        }

        // 5. Strongest pixel to 1, as MNIST's digits all reach 255.
        for (int i = 0; i < output.Length; i++)
        {
            output[i] = Math.Clamp(output[i] / peak, 0f, 1f);
        }
        return output;
    }

    private static float BorderMedian(float[] gray, int w, int h)
    {
        var border = new List<float>(2 * (w + h));
        for (int x = 0; x < w; x++)
        {
            border.Add(gray[x]);
            if (h > 1)
            {
                border.Add(gray[((h - 1) * w) + x]);
            }
        }

        for (int y = 1; y < h - 1; y++)
        {
            border.Add(gray[y * w]);
            if (w > 1)
            {
                border.Add(gray[(y * w) + w - 1]);
            }
        }

        border.Sort();
        return border[border.Count / 2];
    }

    /// <summary>Separable resampling: area averaging along an axis that shrinks, bilinear along one
    /// that grows.</summary>
    private static float[] Resample(float[] src, int sw, int sh, int dw, int dh)
    {
        var rows = new float[sh * dw];
        for (int y = 0; y < sh; y++)
        {
            Resample1D(src.AsSpan(y * sw, sw), rows.AsSpan(y * dw, dw));
        }

        var result = new float[dh * dw];
        var column = new float[sh];
        var target = new float[dh];
        for (int x = 0; x < dw; x++)
        {
            for (int y = 0; y < sh; y++)
            {
                column[y] = rows[(y * dw) + x];
            }

            Resample1D(column, target);
            for (int y = 0; y < dh; y++)
            {
                result[(y * dw) + x] = target[y];
            }
        }
        return result;
    }

    private static void Resample1D(ReadOnlySpan<float> src, Span<float> dst)
    {
        int n = src.Length, m = dst.Length;
        double ratio = (double)n / m; // source pixels per target pixel
        if (ratio >= 1)
        {
            // Each target pixel is the mean of the source interval [i*ratio, (i+1)*ratio).
            for (int i = 0; i < m; i++)
            {
                double a = i * ratio, b = (i + 1) * ratio, sum = 0;
                for (int j = (int)a; j < n && j < b; j++)
                {
                    double overlap = Math.Min(b, j + 1) - Math.Max(a, j);
                    if (overlap > 0)
                    {
                        sum += overlap * src[j];
                    }
                }
                dst[i] = (float)(sum / ratio);
            }
        }
        else
        {
            // Pixel centres aligned: target centre i + 0.5 maps to source coordinate (i + 0.5) * ratio.
            for (int i = 0; i < m; i++)
            {
                double s = ((i + 0.5) * ratio) - 0.5;
                int j0 = (int)Math.Floor(s);
                double t = s - j0;
                float v0 = src[Math.Clamp(j0, 0, n - 1)];
                float v1 = src[Math.Clamp(j0 + 1, 0, n - 1)];
                dst[i] = (float)(((1 - t) * v0) + (t * v1));
            }
        }
    }
}
