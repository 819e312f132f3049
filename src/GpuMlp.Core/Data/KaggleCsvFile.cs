using System.Buffers.Text;
using System.Globalization;
using System.Text;

namespace GpuMlp.Data;

/// <summary>The images of one Kaggle-style pixel CSV: <see cref="Count"/> images of
/// <see cref="Shape"/> (1 x side x side) in <see cref="Pixels"/> (Count x side x side bytes, image
/// after image, row-major), and their labels when the file has a <c>label</c> column.</summary>
public sealed class KaggleCsvImages
{
    internal KaggleCsvImages(string path, ImageShape shape, byte[] pixels, byte[]? labels, int count)
    {
        Path = path;
        Shape = shape;
        Pixels = pixels;
        Labels = labels;
        Count = count;
    }

    /// <summary>The file, as given.</summary>
    public string Path { get; }

    public ImageShape Shape { get; }

    /// <summary>Count x side x side bytes: pixel<c>x</c> of row r at r*side*side + x.</summary>
    public byte[] Pixels { get; }

    /// <summary>The <c>label</c> column, one byte per image; null when the file has none (Kaggle's test.csv).</summary>
    public byte[]? Labels { get; }

    public int Count { get; }
}

/// <summary>Reader for the Kaggle "Digit Recognizer" CSV and any file laid out like it: a header
/// <c>label,pixel0,...,pixel{n-1}</c> (the <c>label</c> column optional, as in Kaggle's test.csv),
/// then one image per line, each value a whole number 0..255. n must be a square (side x side);
/// <c>pixelx</c> sits at row x / side, column x % side. The file is read streaming, line by line
/// through one reused buffer, and every error is one line naming the file and the line number.</summary>
public static class KaggleCsvFile
{
    /// <summary>The header's name of the label column.</summary>
    public const string LabelColumn = "label";

    /// <summary>The prefix of the pixel columns' names: pixel0, pixel1, ...</summary>
    public const string PixelColumnPrefix = "pixel";

    /// <summary>Reads the whole file.</summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="DataFormatException">The header or a row is malformed (one line: file, line number, problem).</exception>
    public static KaggleCsvImages Read(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        FileStream stream;
        try
        {
            stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new FileNotFoundException($"CSV file not found: {path}", path, ex);
        }
        using (stream)
        {
            return Read(stream, path);
        }
    }

    /// <summary>Reads a CSV from <paramref name="stream"/>; <paramref name="nameForMessages"/> names it in errors.</summary>
    /// <exception cref="DataFormatException">The header or a row is malformed.</exception>
    public static KaggleCsvImages Read(Stream stream, string nameForMessages)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentException.ThrowIfNullOrEmpty(nameForMessages);
        var lines = new LineReader(stream);
        if (!lines.Next(out ReadOnlySpan<byte> headerLine))
            throw new DataFormatException($"{nameForMessages}: empty; expected a header line {LabelColumn},{PixelColumnPrefix}0,{PixelColumnPrefix}1,...");
        (bool hasLabel, int pixelCount, int side) = ReadHeader(headerLine, nameForMessages);
        int columns = pixelCount + (hasLabel ? 1 : 0);
        var shape = new ImageShape(1, side, side);

        // Each row holds at least one digit and one separator per column, so the file's length
        // bounds the row count: the arrays are sized once from it (capped) and trimmed at the end.
        long rowBound = stream.CanSeek ? Math.Max(1, (stream.Length - stream.Position) / (2L * columns)) : 1024;
        long maxRows = Array.MaxLength / pixelCount;
        var pixels = new byte[Math.Min(rowBound, Math.Min(maxRows, 1L << 20)) * pixelCount];
        byte[]? labels = hasLabel ? new byte[pixels.Length / pixelCount] : null;
        int count = 0;
        while (lines.Next(out ReadOnlySpan<byte> line))
        {
            if (line.IsEmpty)
                continue;
            if ((long)(count + 1) * pixelCount > pixels.Length)
            {
                if (count >= maxRows)
                    throw new DataFormatException(string.Create(CultureInfo.InvariantCulture, $"{nameForMessages} line {lines.Number}: more than {maxRows} images of {shape} do not fit in memory"));
                int grown = (int)Math.Min(maxRows, 2L * count);
                Array.Resize(ref pixels, grown * pixelCount);
                if (labels is not null)
                    Array.Resize(ref labels, grown);
            }
            ReadRow(line, hasLabel, columns, pixels.AsSpan(count * pixelCount, pixelCount), labels is null ? Span<byte>.Empty : labels.AsSpan(count, 1), nameForMessages, lines.Number);
            count++;
        }
        if (count == 0)
            throw new DataFormatException($"{nameForMessages}: no rows after the header");
        if (pixels.Length != count * pixelCount)
            Array.Resize(ref pixels, count * pixelCount);
        if (labels is not null && labels.Length != count)
            Array.Resize(ref labels, count);
        return new KaggleCsvImages(nameForMessages, shape, pixels, labels, count);
    }

    /// <summary>The header: optional <c>label</c>, then pixel0..pixel{n-1} in order, n a square.</summary>
    private static (bool HasLabel, int PixelCount, int Side) ReadHeader(ReadOnlySpan<byte> line, string name)
    {
        if (line.StartsWith("\uFEFF"u8))
            line = line[3..];
        string header = Encoding.UTF8.GetString(line);
        string[] names = header.Split(',');
        bool hasLabel = names[0].Trim() == LabelColumn;
        int pixelCount = names.Length - (hasLabel ? 1 : 0);
        if (pixelCount == 0)
            throw new DataFormatException($"{name} line 1: the header has no {PixelColumnPrefix}0,{PixelColumnPrefix}1,... columns");
        for (int i = 0; i < pixelCount; i++)
        {
            string column = names[i + (hasLabel ? 1 : 0)].Trim();
            string expected = PixelColumnPrefix + i.ToString(CultureInfo.InvariantCulture);
            if (column != expected)
            {
                string hint = i == 0 && !hasLabel ? $" (the first column is '{LabelColumn}' or '{expected}')" : "";
                throw new DataFormatException(string.Create(CultureInfo.InvariantCulture,
                    $"{name} line 1: header column {i + (hasLabel ? 2 : 1)} is '{Printable(column)}', expected '{expected}'{hint}"));
            }
        }
        int side = (int)Math.Round(Math.Sqrt(pixelCount));
        if (side * side != pixelCount)
        {
            throw new DataFormatException(string.Create(CultureInfo.InvariantCulture,
                $"{name} line 1: {pixelCount} pixel columns are not a square image (side x side)"));
        }
        return (hasLabel, pixelCount, side);
    }

    /// <summary>One row's values into <paramref name="pixels"/> (and <paramref name="label"/>).</summary>
    private static void ReadRow(ReadOnlySpan<byte> line, bool hasLabel, int columns, Span<byte> pixels, Span<byte> label, string name, long lineNumber)
    {
        int column = 0;
        while (true)
        {
            int comma = line.IndexOf((byte)',');
            ReadOnlySpan<byte> field = comma >= 0 ? line[..comma] : line;
            if (column >= columns)
            {
                int total = column + 1 + line.Count((byte)',');
                throw new DataFormatException(string.Create(CultureInfo.InvariantCulture,
                    $"{name} line {lineNumber}: {total} values, the header has {columns} columns"));
            }
            byte value = Value(field, hasLabel, column, name, lineNumber);
            if (hasLabel && column == 0)
                label[0] = value;
            else
                pixels[column - (hasLabel ? 1 : 0)] = value;
            column++;
            if (comma < 0)
                break;
            line = line[(comma + 1)..];
        }
        if (column != columns)
        {
            throw new DataFormatException(string.Create(CultureInfo.InvariantCulture,
                $"{name} line {lineNumber}: {column} values, the header has {columns} columns"));
        }
    }

    /// <summary>The header's name of column <paramref name="column"/> (0-based), for messages.</summary>
    private static string ColumnName(bool hasLabel, int column) =>
        hasLabel && column == 0 ? LabelColumn : PixelColumnPrefix + (column - (hasLabel ? 1 : 0)).ToString(CultureInfo.InvariantCulture);

    /// <summary>A whole number 0..255 (surrounding spaces allowed).</summary>
    private static byte Value(ReadOnlySpan<byte> field, bool hasLabel, int columnIndex, string name, long lineNumber)
    {
        ReadOnlySpan<byte> digits = field.Trim((byte)' ');
        if (digits.IsEmpty || digits.IndexOfAnyExceptInRange((byte)'0', (byte)'9') >= 0)
        {
            throw new DataFormatException(string.Create(CultureInfo.InvariantCulture,
                $"{name} line {lineNumber}, column {ColumnName(hasLabel, columnIndex)}: '{Printable(Encoding.UTF8.GetString(field))}' is not a whole number 0..255"));
        }
        if (!Utf8Parser.TryParse(digits, out int value, out int consumed) || consumed != digits.Length || value > byte.MaxValue)
        {
            throw new DataFormatException(string.Create(CultureInfo.InvariantCulture,
                $"{name} line {lineNumber}, column {ColumnName(hasLabel, columnIndex)}: {Printable(Encoding.UTF8.GetString(digits))} is outside 0..255"));
        }
        return (byte)value;
    }

    /// <summary>At most 20 characters, control characters as '?': messages stay one line.</summary>
    private static string Printable(string text)
    {
        string cut = text.Length > 20 ? text[..20] + "..." : text;
        return string.Concat(cut.Select(c => char.IsControl(c) ? '?' : c));
    }

    /// <summary>The lines of a stream through one reused buffer (grown only for a line longer than
    /// it); a line's span excludes its "\n" or "\r\n" and is valid until the next call.</summary>
    private sealed class LineReader(Stream stream)
    {
        private byte[] buffer = new byte[1 << 20];
        private int start;
        private int end;
        private bool atEnd;

        /// <summary>1-based number of the line last returned.</summary>
        public long Number { get; private set; }

        public bool Next(out ReadOnlySpan<byte> line)
        {
            while (true)
            {
                int newline = buffer.AsSpan(start, end - start).IndexOf((byte)'\n');
                if (newline >= 0)
                {
                    line = TrimCarriageReturn(buffer.AsSpan(start, newline));
                    start += newline + 1;
                    Number++;
                    return true;
                }
                if (atEnd)
                {
                    if (start == end)
                    {
                        line = default;
                        return false;
                    }
                    line = TrimCarriageReturn(buffer.AsSpan(start, end - start));
                    start = end;
                    Number++;
                    return true;
                }
                Fill();
            }
        }

        private void Fill()
        {
            if (start > 0)
            {
                buffer.AsSpan(start, end - start).CopyTo(buffer);
                end -= start;
                start = 0;
            }
            if (end == buffer.Length)
                Array.Resize(ref buffer, buffer.Length * 2);
            int read = stream.Read(buffer, end, buffer.Length - end);
            if (read == 0)
                atEnd = true;
            end += read;
        }

        private static ReadOnlySpan<byte> TrimCarriageReturn(ReadOnlySpan<byte> line) =>
            line.Length > 0 && line[^1] == (byte)'\r' ? line[..^1] : line;
    }
}
