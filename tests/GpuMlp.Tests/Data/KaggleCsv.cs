using System.Globalization;
using System.Text;
using GpuMlp.Data;

namespace GpuMlp.Tests.Data;

/// <summary>Writes images as Kaggle Digit Recognizer CSV text: a header label,pixel0,... (or
/// pixel0,... without labels), then one image per line.</summary>
internal static class KaggleCsv
{
    public static string Text(ImageSet images, bool withLabels, int first = 0, int? count = null)
    {
        int n = count ?? images.Count - first;
        int pixels = images.Shape.Pixels;
        var text = new StringBuilder();
        if (withLabels)
            text.Append("label,");
        text.AppendJoin(',', Enumerable.Range(0, pixels).Select(i => "pixel" + i.ToString(CultureInfo.InvariantCulture))).Append('\n');
        for (int i = first; i < first + n; i++)
        {
            if (withLabels)
                text.Append(images.Labels[i]).Append(',');
            text.AppendJoin(',', images.Image(i).ToArray()).Append('\n');
        }
        return text.ToString();
    }

    /// <summary>A CSV of images of side x side with the given labels (null: no label column), pixel
    /// values (image * 31 + pixel) mod 256.</summary>
    public static string Synthetic(int side, byte[]? labels, int count)
    {
        var text = new StringBuilder();
        if (labels is not null)
            text.Append("label,");
        text.AppendJoin(',', Enumerable.Range(0, side * side).Select(i => "pixel" + i.ToString(CultureInfo.InvariantCulture))).Append('\n');
        for (int i = 0; i < count; i++)
        {
            if (labels is not null)
                text.Append(labels[i]).Append(',');
            text.AppendJoin(',', Enumerable.Range(0, side * side).Select(p => ((i * 31) + p) % 256)).Append('\n');
        }
        return text.ToString();
    }
}
