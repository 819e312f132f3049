using System.Globalization;
using System.Text;
using GpuMlp.Runs;

namespace GpuMlp.Cli;

/// <summary>A Kaggle submission: the header <c>ImageId,Label</c>, then one line per image in the
/// test file's order, ImageId counting from 1 and Label the predicted class's name (a name holding
/// a comma, quote or line break is quoted as RFC 4180 says). Lines end in "\n".</summary>
public static class SubmissionFile
{
    public const string Header = "ImageId,Label";

    /// <summary>The file's text for <paramref name="labels"/>[i], the label of ImageId i + 1.</summary>
    public static string Format(IReadOnlyList<string> labels)
    {
        ArgumentNullException.ThrowIfNull(labels);
        var text = new StringBuilder(Header.Length + 1 + (labels.Count * 8));
        text.Append(Header).Append('\n');
        for (int i = 0; i < labels.Count; i++)
            text.Append((i + 1).ToString(CultureInfo.InvariantCulture)).Append(',').Append(Quoted(labels[i])).Append('\n');
        return text.ToString();
    }

    /// <summary>Writes the submission atomically: a failed write leaves nothing, and an existing file
    /// is replaced only with <paramref name="overwrite"/>.</summary>
    /// <exception cref="IOException">The file exists (or appeared while writing) and may not be replaced.</exception>
    public static void Write(string path, IReadOnlyList<string> labels, bool overwrite)
    {
        byte[] bytes = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false).GetBytes(Format(labels));
        if (overwrite)
            AtomicFile.WriteAllBytes(path, bytes);
        else
            AtomicFile.WriteNew(path, stream => stream.Write(bytes));
    }

    private static string Quoted(string value) =>
        value.AsSpan().IndexOfAny(",\"\r\n") < 0 ? value : "\"" + value.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
}
