using System.Globalization;
using System.Text;

namespace GpuMlp.Cli;

/// <summary>A Kaggle submission: the header <c>ImageId,Label</c>, then one line per image in the
/// test file's order, ImageId counting from 1 and Label the predicted class's name (a name holding
/// a comma, quote or line break is quoted as RFC 4180 says). Lines end in "\n"; `predict --csv`
/// writes it with <see cref="OutputFile.Write"/>.</summary>
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
            text.Append((i + 1).ToString(CultureInfo.InvariantCulture)).Append(',').Append(OutputFile.CsvField(labels[i])).Append('\n');
        return text.ToString();
    }
}
