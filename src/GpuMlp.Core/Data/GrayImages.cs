using System.Globalization;
using SkiaSharp;

namespace GpuMlp.Data;

/// <summary>What the sources of grayscale pixel arrays (IDX, pixel CSV) share: turning H x W gray
/// images into the shape <see cref="ImageLoadOptions"/> asks for, drawing a test split when the
/// data has none, and the names of label values.</summary>
internal static class GrayImages
{
    /// <summary>The shape H x W gray images take under <paramref name="options"/>: 3 channels for
    /// <see cref="ImageChannels.Rgb"/> (the gray plane copied), else 1; ImageSize x ImageSize when given.</summary>
    public static ImageShape ShapeFor(int height, int width, ImageLoadOptions options)
    {
        int channels = options.Channels switch
        {
            ImageChannels.Auto or ImageChannels.Gray => 1,
            ImageChannels.Rgb => 3,
            _ => throw new ArgumentOutOfRangeException(nameof(options), options.Channels, "unknown channel choice"),
        };
        return options.ImageSize is int side ? new ImageShape(channels, side, side) : new ImageShape(channels, height, width);
    }

    /// <summary><paramref name="count"/> images of 1 x height x width as <paramref name="shape"/>
    /// (resized with bilinear filtering, then the plane repeated per channel); the array itself
    /// when nothing changes.</summary>
    public static byte[] Convert(byte[] pixels, int count, int height, int width, ImageShape shape)
    {
        int plane = shape.Height * shape.Width;
        bool resize = shape.Height != height || shape.Width != width;
        if (!resize && shape.Channels == 1)
            return pixels;
        var converted = new byte[(long)count * shape.Pixels];
        using var source = resize ? new SKBitmap(new SKImageInfo(width, height, SKColorType.Gray8, SKAlphaType.Opaque)) : null;
        using var target = resize ? new SKBitmap(new SKImageInfo(shape.Width, shape.Height, SKColorType.Gray8, SKAlphaType.Opaque)) : null;
        for (int i = 0; i < count; i++)
        {
            ReadOnlySpan<byte> image = pixels.AsSpan(i * height * width, height * width);
            if (source is not null && target is not null)
            {
                CopyRows(image, width, source.GetPixelSpan(), source.RowBytes, height);
                source.ScalePixels(target, new SKSamplingOptions(SKFilterMode.Linear, SKMipmapMode.Linear));
                Span<byte> first = converted.AsSpan(i * shape.Pixels, plane);
                CopyRows(target.GetPixelSpan(), target.RowBytes, first, shape.Width, shape.Height);
                image = first;
            }
            for (int c = resize ? 1 : 0; c < shape.Channels; c++)
                image.CopyTo(converted.AsSpan((i * shape.Pixels) + (c * plane), plane));
        }
        return converted;
    }

    private static void CopyRows(ReadOnlySpan<byte> from, int fromStride, Span<byte> to, int toStride, int rows)
    {
        int width = Math.Min(fromStride, toStride);
        for (int y = 0; y < rows; y++)
            from.Slice(y * fromStride, width).CopyTo(to.Slice(y * toStride, width));
    }

    /// <summary>Holds out round(TestSplit x n) images as the test split, chosen by a Fisher-Yates
    /// shuffle seeded with SplitSeed (System.Random's seeded sequence is fixed across runtimes);
    /// both splits keep the images' file order.</summary>
    /// <exception cref="DataFormatException">A split would be empty (one line naming <paramref name="name"/>).</exception>
    public static (ImageSet Train, ImageSet Test) DrawTestSplit(string name, ImageShape shape, byte[] pixels, byte[] labels, ImageLoadOptions options)
    {
        int n = labels.Length;
        int testCount = (int)Math.Round(n * options.TestSplit, MidpointRounding.AwayFromZero);
        if (testCount < 1 || testCount >= n)
        {
            throw new DataFormatException(string.Create(CultureInfo.InvariantCulture,
                $"{name}: a test split of {options.TestSplit} of {n} images leaves a split empty; give more images or another --test-split"));
        }
        int[] order = [.. Enumerable.Range(0, n)];
        var random = new Random(options.SplitSeed);
        for (int i = n - 1; i > 0; i--)
        {
            int j = random.Next(i + 1);
            (order[i], order[j]) = (order[j], order[i]);
        }
        var isTest = new bool[n];
        foreach (int index in order.AsSpan(0, testCount))
            isTest[index] = true;
        return (Pick(name + " (train split)", shape, pixels, labels, isTest, want: false, n - testCount),
                Pick(name + " (test split)", shape, pixels, labels, isTest, want: true, testCount));
    }

    private static ImageSet Pick(string name, ImageShape shape, byte[] pixels, byte[] labels, bool[] isTest, bool want, int count)
    {
        int size = shape.Pixels;
        var picked = new byte[(long)count * size];
        var pickedLabels = new byte[count];
        int k = 0;
        for (int i = 0; i < labels.Length; i++)
        {
            if (isTest[i] != want)
                continue;
            pixels.AsSpan(i * size, size).CopyTo(picked.AsSpan(k * size, size));
            pickedLabels[k++] = labels[i];
        }
        return new ImageSet(name, shape, picked, pickedLabels);
    }

    /// <summary>The names of classes whose label values are <paramref name="labelValues"/>
    /// (ascending; class i has value labelValues[i]): each value's decimal form, or from
    /// <paramref name="file"/>. The file is EMNIST's mapping ("label codepoint [codepoint...]" per
    /// line: the label's name is the first codepoint's character) or one name per line, naming the
    /// classes in order (as many lines as classes) or the label values 0, 1, 2, ... (more lines).</summary>
    /// <exception cref="DataFormatException">The file names too few classes or is malformed (one line).</exception>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    public static string[] ClassNames(IReadOnlyList<int> labelValues, string? file)
    {
        if (file is null)
            return [.. labelValues.Select(v => v.ToString(CultureInfo.InvariantCulture))];
        if (!File.Exists(file))
            throw new FileNotFoundException($"--class-names file not found: {file}", file);
        string[] lines = File.ReadAllLines(file);
        int last = lines.Length;
        while (last > 0 && string.IsNullOrWhiteSpace(lines[last - 1]))
            last--;
        lines = lines[..last];
        if (lines.Length == 0)
            throw new DataFormatException($"{file}: names no classes");
        if (lines.All(IsMappingLine))
            return FromMapping(labelValues, file, lines);
        if (lines.Length == labelValues.Count)
            return [.. lines.Select(line => line.Trim())];
        int maxValue = labelValues[^1];
        if (lines.Length > maxValue)
            return [.. labelValues.Select(v => lines[v].Trim())];
        throw new DataFormatException(string.Create(CultureInfo.InvariantCulture,
            $"{file}: {lines.Length} names for {labelValues.Count} classes (labels {labelValues[0]}..{maxValue}); give one name per class, or per label value from 0"));
    }

    private static bool IsMappingLine(string line)
    {
        string[] parts = line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
        return parts.Length >= 2 && parts.All(p => p.All(char.IsAsciiDigit));
    }

    private static string[] FromMapping(IReadOnlyList<int> labelValues, string file, string[] lines)
    {
        var names = new Dictionary<int, string>();
        for (int i = 0; i < lines.Length; i++)
        {
            string[] parts = lines[i].Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            if (!int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out int label)
                || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int codepoint)
                || codepoint > 0x10FFFF || codepoint is >= 0xD800 and <= 0xDFFF || codepoint < 0x20)
            {
                throw new DataFormatException(string.Create(CultureInfo.InvariantCulture,
                    $"{file} line {i + 1}: expected 'label codepoint' with a printable Unicode codepoint"));
            }
            if (!names.TryAdd(label, char.ConvertFromUtf32(codepoint)))
                throw new DataFormatException(string.Create(CultureInfo.InvariantCulture, $"{file} line {i + 1}: label {label} is mapped twice"));
        }
        int missing = labelValues.FirstOrDefault(v => !names.ContainsKey(v), -1);
        if (missing >= 0)
            throw new DataFormatException(string.Create(CultureInfo.InvariantCulture, $"{file}: no name for label {missing}"));
        return [.. labelValues.Select(v => names[v])];
    }

    /// <summary>The distinct values of the label arrays, ascending.</summary>
    public static int[] PresentLabels(params byte[][] labelArrays)
    {
        var present = new bool[byte.MaxValue + 1];
        foreach (byte[] labels in labelArrays)
        {
            foreach (byte label in labels)
                present[label] = true;
        }
        return [.. Enumerable.Range(0, present.Length).Where(v => present[v])];
    }

    /// <summary>Labels rewritten through <paramref name="classOf"/> (label value → class index).</summary>
    public static byte[] Remap(byte[] labels, byte[] classOf)
    {
        var mapped = new byte[labels.Length];
        for (int i = 0; i < labels.Length; i++)
            mapped[i] = classOf[labels[i]];
        return mapped;
    }

    /// <summary>A message's "(3 x 28 x 28, rgb: the gray plane repeated)" note for what was converted.</summary>
    public static string Describe(int height, int width, ImageShape shape)
    {
        var notes = new List<string>();
        if (shape.Height != height || shape.Width != width)
            notes.Add(string.Create(CultureInfo.InvariantCulture, $"resized from {height}x{width}"));
        if (shape.Channels > 1)
            notes.Add("gray copied to every channel");
        return notes.Count == 0 ? "" : $" ({string.Join(", ", notes)})";
    }
}
