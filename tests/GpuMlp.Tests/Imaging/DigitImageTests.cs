using GpuMlp.Imaging;
using GpuMlp.Tests.Data;
using SkiaSharp;

namespace GpuMlp.Tests.Imaging;

public sealed class DigitImageTests : IDisposable
{
    private readonly TempDir dir = new();

    public void Dispose() => dir.Dispose();

    private string PathOf(string name) => Path.Combine(dir.Path, name);

    /// <summary>A few real MNIST test digits (one of each class among the first images).</summary>
    private static IEnumerable<(int Index, byte[] Pixels)> RealDigits(int count = 12)
    {
        var images = RealMnist.Load().Test;
        for (int k = 0; k < count; k++)
        {
            yield return (k, images.Pixels.AsSpan(k * 784, 784).ToArray());
        }
    }

    private static double MeanAbsDiff(float[] actual, byte[] mnist) =>
        actual.Select((v, i) => Math.Abs(v - (mnist[i] / 255.0))).Average();

    private static (double X, double Y) CentreOfMass(float[] image)
    {
        double mass = 0, mx = 0, my = 0;
        for (int i = 0; i < image.Length; i++)
        {
            mass += image[i];
            mx += (i % 28) * image[i];
            my += (i / 28) * image[i];
        }
        return (mx / mass, my / mass);
    }

    /// <summary>784 values in [0, 1], max 1, centre of mass within 1 pixel of (14, 14).</summary>
    private static void AssertMnistLike(float[] image)
    {
        Assert.Equal(784, image.Length);
        Assert.All(image, v => Assert.InRange(v, 0f, 1f));
        Assert.Equal(1f, image.Max());
        (double x, double y) = CentreOfMass(image);
        Assert.InRange(x, 13, 15);
        Assert.InRange(y, 13, 15);
    }

    private static void AssertCloseToOriginal(float[] image, byte[] original, double tolerance = 0.1)
    {
        AssertMnistLike(image);
        double diff = MeanAbsDiff(image, original);
        Assert.True(diff < tolerance, $"mean absolute difference {diff:F4} is not below {tolerance}");
    }

    private static void WriteEncoded(SKBitmap bitmap, string path, SKEncodedImageFormat format, int quality)
    {
        using SKData data = bitmap.Encode(format, quality);
        File.WriteAllBytes(path, data.ToArray());
    }

    [Fact]
    public void LoadAsMnist_DarkOnLight200Png_RoundTripsToTheOriginalDigit()
    {
        foreach ((int k, byte[] digit) in RealDigits())
        {
            string path = PathOf($"digit{k}.png");
            DigitImage.SaveMnistDigitAsPng(digit, path, 200, darkOnLight: true);
            AssertCloseToOriginal(DigitImage.LoadAsMnist(path), digit);
        }
    }

    [Fact]
    public void LoadAsMnist_LightOnDark56Png_RoundTripsToTheOriginalDigit()
    {
        foreach ((int k, byte[] digit) in RealDigits())
        {
            string path = PathOf($"digit{k}.png");
            DigitImage.SaveMnistDigitAsPng(digit, path, 56, darkOnLight: false);
            AssertCloseToOriginal(DigitImage.LoadAsMnist(path), digit);
        }
    }

    [Fact]
    public void LoadAsMnist_EitherPolarity_IsDetected()
    {
        (_, byte[] digit) = RealDigits(1).Single();
        string dark = PathOf("dark.png"), light = PathOf("light.png");
        DigitImage.SaveMnistDigitAsPng(digit, dark, 140, darkOnLight: true);
        DigitImage.SaveMnistDigitAsPng(digit, light, 140, darkOnLight: false);

        float[] a = DigitImage.LoadAsMnist(dark), b = DigitImage.LoadAsMnist(light);

        // Same digit either way, and white-on-black like MNIST: the frame corners are background.
        Assert.True(a.Zip(b, (x, y) => Math.Abs(x - y)).Average() < 0.02);
        Assert.Equal(0f, a[0]);
        Assert.Equal(0f, b[0]);
        AssertCloseToOriginal(a, digit);
    }

    [Fact]
    public void LoadAsMnist_Jpeg_RoundTrips()
    {
        foreach ((int k, byte[] digit) in RealDigits(6))
        {
            using SKBitmap bitmap = DigitImage.RenderMnistDigit(digit, 200, darkOnLight: true);
            string path = PathOf($"digit{k}.jpg");
            WriteEncoded(bitmap, path, SKEncodedImageFormat.Jpeg, 85);
            AssertCloseToOriginal(DigitImage.LoadAsMnist(path), digit);
        }
    }

    [Fact]
    public void LoadAsMnist_TransparentBackground_IsCompositedOntoWhite()
    {
        (_, byte[] digit) = RealDigits(1).Single();
        using SKBitmap opaque = DigitImage.RenderMnistDigit(digit, 100, darkOnLight: false);
        // Black ink whose coverage is the alpha channel, on a fully transparent background.
        using var bitmap = new SKBitmap(new SKImageInfo(100, 100, SKColorType.Rgba8888, SKAlphaType.Unpremul));
        Span<byte> dst = bitmap.GetPixelSpan();
        ReadOnlySpan<byte> src = opaque.GetPixelSpan();
        for (int i = 0; i < 100 * 100; i++)
        {
            dst[4 * i] = dst[(4 * i) + 1] = dst[(4 * i) + 2] = 0;
            dst[(4 * i) + 3] = src[4 * i];
        }
        string path = PathOf("alpha.png");
        WriteEncoded(bitmap, path, SKEncodedImageFormat.Png, 100);

        AssertCloseToOriginal(DigitImage.LoadAsMnist(path), digit);
    }

    [Fact]
    public void GrayscaleBytes_OfAnMnistDigit_AreAlmostUnchanged()
    {
        foreach ((_, byte[] digit) in RealDigits())
        {
            AssertCloseToOriginal(DigitImage.ToMnist(digit, 28, 28), digit, tolerance: 0.03);
        }
    }

    [Fact]
    public void LoadAsMnist_OffCentreStrokeInALargeImage_IsCroppedScaledAndCentred()
    {
        // A tall thin "1" near the top-left corner of a 400x300 light-grey page.
        using var bitmap = new SKBitmap(new SKImageInfo(400, 300, SKColorType.Rgba8888, SKAlphaType.Opaque));
        using (var canvas = new SKCanvas(bitmap))
        {
            canvas.Clear(new SKColor(235, 235, 230));
            using var ink = new SKPaint { Color = new SKColor(20, 20, 40), IsAntialias = true };
            canvas.DrawRect(new SKRect(30, 20, 54, 140), ink);
        }

        float[] image = DigitImage.ToMnist(bitmap);

        AssertMnistLike(image);
        int[] rows = Enumerable.Range(0, 28).Where(r => Enumerable.Range(0, 28).Any(c => image[(r * 28) + c] > 0)).ToArray();
        int[] cols = Enumerable.Range(0, 28).Where(c => Enumerable.Range(0, 28).Any(r => image[(r * 28) + c] > 0)).ToArray();
        Assert.Equal(20, rows.Length);                      // longer side fitted to 20 pixels
        Assert.InRange(rows[0], 4, 5);                      // centred vertically (centre of mass 9.5 rows in)
        Assert.Equal(rows[0] + 19, rows[^1]);
        Assert.InRange(cols.Length, 4, 5);                  // aspect ratio kept (24:120 of 20 is 4)
        Assert.InRange(cols[0], 12, 13);
    }

    [Fact]
    public void LoadAsMnist_ExifOrientation_IsHonoured()
    {
        (_, byte[] digit) = RealDigits(1).Single();
        // Store the digit rotated 90° counter-clockwise, tagged "rotate 90° clockwise to display" (6).
        byte[] stored = new byte[784];
        for (int r = 0; r < 28; r++)
        {
            for (int c = 0; c < 28; c++)
            {
                stored[(r * 28) + c] = digit[(c * 28) + 27 - r];
            }
        }
        using SKBitmap bitmap = DigitImage.RenderMnistDigit(stored, 200, darkOnLight: true);
        using SKData jpeg = bitmap.Encode(SKEncodedImageFormat.Jpeg, 90);
        string plain = PathOf("plain.jpg"), tagged = PathOf("tagged.jpg");
        File.WriteAllBytes(plain, jpeg.ToArray());
        File.WriteAllBytes(tagged, WithExifOrientation(jpeg.ToArray(), 6));

        Assert.True(MeanAbsDiff(DigitImage.LoadAsMnist(plain), digit) > 0.1, "without the tag the digit stays rotated");
        AssertCloseToOriginal(DigitImage.LoadAsMnist(tagged), digit);
    }

    [Theory]
    [InlineData(SKEncodedOrigin.TopRight)]
    [InlineData(SKEncodedOrigin.BottomRight)]
    [InlineData(SKEncodedOrigin.BottomLeft)]
    [InlineData(SKEncodedOrigin.LeftTop)]
    [InlineData(SKEncodedOrigin.RightTop)]
    [InlineData(SKEncodedOrigin.RightBottom)]
    [InlineData(SKEncodedOrigin.LeftBottom)]
    public void ApplyOrigin_EveryExifOrigin_MapsCornersAsExifDefines(SKEncodedOrigin origin)
    {
        // A 3x2 image whose pixel values are their indices; expected displays per the EXIF spec.
        using var src = new SKBitmap(new SKImageInfo(3, 2, SKColorType.Rgba8888, SKAlphaType.Opaque));
        for (int y = 0; y < 2; y++)
        {
            for (int x = 0; x < 3; x++)
            {
                src.SetPixel(x, y, new SKColor((byte)((y * 3) + x), 0, 0));
            }
        }

        int[][] expected = origin switch
        {
            SKEncodedOrigin.TopRight => [[2, 1, 0], [5, 4, 3]],
            SKEncodedOrigin.BottomRight => [[5, 4, 3], [2, 1, 0]],
            SKEncodedOrigin.BottomLeft => [[3, 4, 5], [0, 1, 2]],
            SKEncodedOrigin.LeftTop => [[0, 3], [1, 4], [2, 5]],
            SKEncodedOrigin.RightTop => [[3, 0], [4, 1], [5, 2]],
            SKEncodedOrigin.RightBottom => [[5, 2], [4, 1], [3, 0]],
            SKEncodedOrigin.LeftBottom => [[2, 5], [1, 4], [0, 3]],
            _ => throw new ArgumentOutOfRangeException(nameof(origin)),
        };

        using SKBitmap shown = DigitImage.ApplyOrigin(src, origin);
        int[][] actual = Enumerable.Range(0, shown.Height)
            .Select(y => Enumerable.Range(0, shown.Width).Select(x => (int)shown.GetPixel(x, y).Red).ToArray()).ToArray();
        Assert.Equal(expected, actual);
    }

    [Theory]
    [InlineData(255)]
    [InlineData(0)]
    [InlineData(128)]
    public void LoadAsMnist_BlankImage_HasNoDigit(byte level)
    {
        using var bitmap = new SKBitmap(new SKImageInfo(64, 48, SKColorType.Rgba8888, SKAlphaType.Opaque));
        bitmap.Erase(new SKColor(level, level, level));
        string path = PathOf("blank.png");
        WriteEncoded(bitmap, path, SKEncodedImageFormat.Png, 100);

        var ex = Assert.Throws<ImageFormatException>(() => DigitImage.LoadAsMnist(path));
        Assert.Equal($"no digit found in {path}", ex.Message);
    }

    [Fact]
    public void LoadAsMnist_FaintNoise_HasNoDigit()
    {
        var random = new Random(3);
        byte[] gray = Enumerable.Range(0, 50 * 50).Select(_ => (byte)random.Next(235, 256)).ToArray();
        var ex = Assert.Throws<ImageFormatException>(() => DigitImage.ToMnist(gray, 50, 50, "noise"));
        Assert.Equal("no digit found in noise", ex.Message);
    }

    [Theory]
    [InlineData("garbage")]
    [InlineData("png-header")]
    [InlineData("empty")]
    public void LoadAsMnist_CorruptFile_IsAnImageFormatError(string kind)
    {
        byte[] bytes = kind switch
        {
            "garbage" => "this is not an image at all\n"u8.ToArray(),
            "png-header" => [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3, 4, 5, 6, 7, 8],
            _ => [],
        };
        string path = PathOf("corrupt.png");
        File.WriteAllBytes(path, bytes);

        var ex = Assert.Throws<ImageFormatException>(() => DigitImage.LoadAsMnist(path));
        Assert.StartsWith($"cannot decode {path}: ", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', ex.Message);
    }

    [Fact]
    public void LoadAsMnist_MissingFile_IsFileNotFound()
    {
        string path = PathOf("nope.png");
        var ex = Assert.Throws<FileNotFoundException>(() => DigitImage.LoadAsMnist(path));
        Assert.Contains(path, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void SaveMnistDigitAsPng_SizeAndPolarity_AreWrittenAsRequested()
    {
        (_, byte[] digit) = RealDigits(1).Single();
        string dark = PathOf("dark.png"), light = PathOf("light.png");
        DigitImage.SaveMnistDigitAsPng(digit, dark, 200, darkOnLight: true);
        DigitImage.SaveMnistDigitAsPng(digit, light, 56, darkOnLight: false);

        using SKBitmap a = SKBitmap.Decode(dark);
        using SKBitmap b = SKBitmap.Decode(light);
        Assert.Equal((200, 200), (a.Width, a.Height));
        Assert.Equal((56, 56), (b.Width, b.Height));
        Assert.Equal(SKColors.White, a.GetPixel(0, 0));
        Assert.Equal(SKColors.Black, b.GetPixel(0, 0));
        // Ink covers about as much of the picture as it does of the 28x28 digit.
        double inkShare = digit.Count(v => v >= 128) / 784.0;
        double darkShare = Enumerable.Range(0, 200 * 200).Count(i => a.GetPixel(i % 200, i / 200).Red < 128) / 40000.0;
        double lightShare = Enumerable.Range(0, 56 * 56).Count(i => b.GetPixel(i % 56, i / 56).Red >= 128) / (56.0 * 56);
        Assert.InRange(darkShare, inkShare * 0.8, inkShare * 1.25);
        Assert.InRange(lightShare, inkShare * 0.8, inkShare * 1.25);
        Assert.Empty(Directory.GetFiles(dir.Path, "*.tmp-*"));

        Assert.Throws<ArgumentException>(() => DigitImage.SaveMnistDigitAsPng(new byte[783], PathOf("x.png"), 28, true));
        Assert.Throws<ArgumentOutOfRangeException>(() => DigitImage.SaveMnistDigitAsPng(digit, PathOf("x.png"), 0, true));
    }

    /// <summary>Inserts an EXIF APP1 segment holding only the orientation tag right after the JPEG's SOI marker.</summary>
    private static byte[] WithExifOrientation(byte[] jpeg, ushort orientation)
    {
        Assert.Equal(new byte[] { 0xff, 0xd8 }, jpeg[..2]);
        byte[] tiff =
        [
            (byte)'I', (byte)'I', 0x2a, 0x00, 0x08, 0x00, 0x00, 0x00, // little-endian header, IFD at 8
            0x01, 0x00,                                               // one entry
            0x12, 0x01, 0x03, 0x00, 0x01, 0x00, 0x00, 0x00,           // tag 0x0112 (Orientation), SHORT, count 1
            (byte)orientation, (byte)(orientation >> 8), 0x00, 0x00,  // value
            0x00, 0x00, 0x00, 0x00,                                   // no next IFD
        ];
        byte[] payload = [.. "Exif\0\0"u8, .. tiff];
        int length = payload.Length + 2;
        return [0xff, 0xd8, 0xff, 0xe1, (byte)(length >> 8), (byte)length, .. payload, .. jpeg[2..]];
    }
}
