using System.Collections.ObjectModel;
using System.Globalization;
using System.Text;

namespace GpuMlp.Metrics;

/// <summary>Per-class precision, recall, F1 and support (number of true samples of the class).</summary>
public sealed record ClassMetrics(int Label, double Precision, double Recall, double F1, long Support);

/// <summary>
/// Classification metrics derived from a confusion matrix, following scikit-learn's
/// <c>classification_report</c> with <c>zero_division=0</c>: any ratio whose denominator is zero is
/// reported as 0 rather than NaN, so reports stay serialisable and comparable.
/// </summary>
public sealed class ClassificationReport
{
    private readonly long[,] counts;

    private ClassificationReport(long[,] confusion)
    {
        // Takes ownership of an already-validated matrix; factories are responsible for copying.
        counts = confusion;
        int n = confusion.GetLength(0);
        Classes = n;

        var support = new long[n];
        var predicted = new long[n];
        long total = 0;
        long correct = 0;
        checked
        {
            for (int t = 0; t < n; t++)
            {
                for (int p = 0; p < n; p++)
                {
                    long c = confusion[t, p];
                    support[t] += c;
                    predicted[p] += c;
                    total += c;
                }

                correct += confusion[t, t];
            }
        }

        Total = total;
        Accuracy = Ratio(correct, total);

        var perClass = new ClassMetrics[n];
        double sumP = 0, sumR = 0, sumF = 0;
        double wP = 0, wR = 0, wF = 0;
        for (int k = 0; k < n; k++)
        {
            long tp = confusion[k, k];
            double precision = Ratio(tp, predicted[k]);
            double recall = Ratio(tp, support[k]);
            double sum = precision + recall;
            double f1 = sum == 0 ? 0 : 2 * precision * recall / sum;
            perClass[k] = new ClassMetrics(k, precision, recall, f1, support[k]);

            sumP += precision;
            sumR += recall;
            sumF += f1;
            wP += precision * support[k];
            wR += recall * support[k];
            wF += f1 * support[k];
        }

        PerClass = Array.AsReadOnly(perClass);

        // Macro averages weight every class equally (macro F1 is the mean of per-class F1, as in
        // scikit-learn, not the harmonic mean of macro P and macro R).
        MacroPrecision = sumP / n;
        MacroRecall = sumR / n;
        MacroF1 = sumF / n;

        // Support-weighted averages; an empty matrix has no weight at all, so report 0.
        WeightedPrecision = total == 0 ? 0 : wP / total;
        WeightedRecall = total == 0 ? 0 : wR / total;
        WeightedF1 = total == 0 ? 0 : wF / total;
    }

    /// <summary>Number of classes (side length of the confusion matrix).</summary>
    public int Classes { get; }

    /// <summary>Total number of samples counted in the confusion matrix.</summary>
    public long Total { get; }

    /// <summary>trace / total, or 0 when there are no samples.</summary>
    public double Accuracy { get; }

    /// <summary>Metrics for each class, indexed by label.</summary>
    public IReadOnlyList<ClassMetrics> PerClass { get; }

    public double MacroPrecision { get; }

    public double MacroRecall { get; }

    public double MacroF1 { get; }

    public double WeightedPrecision { get; }

    public double WeightedRecall { get; }

    public double WeightedF1 { get; }

    /// <summary>A copy of the confusion matrix, indexed [true, predicted].</summary>
    public long[,] Confusion => (long[,])counts.Clone();

    /// <summary>The confusion matrix as jagged rows ([true][predicted]), the shape JSON serialisers expect.</summary>
    public long[][] ConfusionRows()
    {
        var rows = new long[Classes][];
        for (int t = 0; t < Classes; t++)
        {
            rows[t] = new long[Classes];
            for (int p = 0; p < Classes; p++)
            {
                rows[t][p] = counts[t, p];
            }
        }

        return rows;
    }

    /// <summary>The confusion matrix as text lines for a terminal: a header of predicted class names,
    /// then one row per true class, its name and its counts, right-aligned. A column is as wide as
    /// its widest count, or as the longest name up to <paramref name="maxNameWidth"/>; longer names
    /// are cut with an ellipsis ("…"), in the header and in the row names alike.</summary>
    /// <exception cref="ArgumentException">There is not one name per class, or <paramref name="maxNameWidth"/> is below 2.</exception>
    public IReadOnlyList<string> ConfusionLines(IReadOnlyList<string> classNames, int maxNameWidth = 8)
    {
        ArgumentNullException.ThrowIfNull(classNames);
        if (classNames.Count != Classes)
            throw new ArgumentException($"{Classes} classes need {Classes} names, got {classNames.Count}", nameof(classNames));
        ArgumentOutOfRangeException.ThrowIfLessThan(maxNameWidth, 2);
        int longestName = classNames.Max(n => n.Length);
        int countWidth = 1;
        foreach (long count in counts)
            countWidth = Math.Max(countWidth, count.ToString(CultureInfo.InvariantCulture).Length);
        int column = Math.Max(countWidth, Math.Min(longestName, maxNameWidth));
        int rowName = Math.Min(longestName, Math.Max(maxNameWidth, column));
        var lines = new List<string>(Classes + 1);
        var line = new StringBuilder();
        line.Append(new string(' ', rowName));
        foreach (string name in classNames)
            line.Append("  ").Append(Cut(name, column).PadLeft(column));
        lines.Add(line.ToString().TrimEnd());
        for (int t = 0; t < Classes; t++)
        {
            line.Clear().Append(Cut(classNames[t], rowName).PadRight(rowName));
            for (int p = 0; p < Classes; p++)
                line.Append("  ").Append(counts[t, p].ToString(CultureInfo.InvariantCulture).PadLeft(column));
            lines.Add(line.ToString());
        }
        return lines;
    }

    /// <summary><paramref name="name"/> in at most <paramref name="width"/> characters: cut to
    /// width − 1 and an ellipsis when longer.</summary>
    private static string Cut(string name, int width) => name.Length <= width ? name : string.Concat(name.AsSpan(0, width - 1), "…");

    /// <summary>Builds a report from a square confusion matrix indexed [true, predicted].</summary>
    /// <exception cref="ArgumentException">The matrix is empty, not square, not zero-based or has a negative count.</exception>
    public static ClassificationReport FromConfusion(long[,] confusion)
    {
        ArgumentNullException.ThrowIfNull(confusion);
        int rows = confusion.GetLength(0);
        int cols = confusion.GetLength(1);
        if (rows != cols)
        {
            throw new ArgumentException($"Confusion matrix must be square, got {rows}x{cols}.", nameof(confusion));
        }

        if (rows == 0)
        {
            throw new ArgumentException("Confusion matrix must have at least one class.", nameof(confusion));
        }

        if (confusion.GetLowerBound(0) != 0 || confusion.GetLowerBound(1) != 0)
        {
            throw new ArgumentException("Confusion matrix must be zero-based.", nameof(confusion));
        }

        for (int t = 0; t < rows; t++)
        {
            for (int p = 0; p < cols; p++)
            {
                if (confusion[t, p] < 0)
                {
                    throw new ArgumentException(
                        $"Confusion count at [{t}, {p}] is negative ({confusion[t, p]}).", nameof(confusion));
                }
            }
        }

        // Copy so later mutation of the caller's array cannot change this report.
        return new ClassificationReport((long[,])confusion.Clone());
    }

    /// <summary>Builds a report from parallel label arrays; every label must be below <paramref name="classes"/>.</summary>
    /// <exception cref="ArgumentException">Lengths differ, <paramref name="classes"/> is outside 1..256, or a label is out of range.</exception>
    public static ClassificationReport FromPredictions(ReadOnlySpan<byte> truth, ReadOnlySpan<byte> predicted, int classes)
    {
        if (truth.Length != predicted.Length)
        {
            throw new ArgumentException(
                $"Truth and prediction lengths differ ({truth.Length} vs {predicted.Length}).", nameof(predicted));
        }

        // Labels are bytes, so more than 256 classes could never be observed.
        if (classes is < 1 or > 256)
        {
            throw new ArgumentOutOfRangeException(nameof(classes), classes, "Class count must be in 1..256.");
        }

        var confusion = new long[classes, classes];
        for (int i = 0; i < truth.Length; i++)
        {
            int t = truth[i];
            int p = predicted[i];
            if (t >= classes)
            {
                throw new ArgumentException($"Truth label {t} at index {i} is not below {classes}.", nameof(truth));
            }

            if (p >= classes)
            {
                throw new ArgumentException($"Predicted label {p} at index {i} is not below {classes}.", nameof(predicted));
            }

            confusion[t, p]++;
        }

        return new ClassificationReport(confusion);
    }

    private static double Ratio(long numerator, long denominator) =>
        denominator == 0 ? 0 : (double)numerator / denominator;
}
