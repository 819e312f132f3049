using System.Globalization;
using System.Text.Json;
using GpuMlp.Metrics;
using GpuMlp.Training;
using Spectre.Console;

namespace GpuMlp.Cli;

/// <summary>What the commands print besides their own lines: grey info lines, the test report
/// table, and the JSON settings of --json output.</summary>
public static class Output
{
    public static JsonSerializerOptions Json { get; } = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
    };

    public static void Info(string line) => AnsiConsole.MarkupLineInterpolated($"[grey]{line}[/]");

    /// <summary>An info line on standard error, plain, for commands whose standard output is a document.</summary>
    public static void InfoOnStandardError(string line) => Console.Error.WriteLine(line);

    /// <summary>The per-class table, each class by its name, and the accuracy line; with
    /// <paramref name="confusion"/>, the confusion matrix by class names between them.</summary>
    public static void PrintReport(EvaluationResult result, IReadOnlyList<string> classNames, bool confusion)
    {
        ArgumentNullException.ThrowIfNull(result);
        ArgumentNullException.ThrowIfNull(classNames);
        var report = result.Report;
        AnsiConsole.Write(ReportTable(report, classNames));
        if (confusion)
        {
            AnsiConsole.WriteLine("confusion matrix (rows: true class, columns: predicted class)");
            foreach (string line in report.ConfusionLines(classNames))
                AnsiConsole.WriteLine(line);
        }
        AnsiConsole.MarkupLine(string.Create(CultureInfo.InvariantCulture,
            $"test accuracy [bold]{report.Accuracy:P2}[/]  loss {result.Loss:F4}  macro F1 {report.MacroF1:P2}"));
    }

    /// <summary>The per-class table: precision, recall, F1 and support of each class, named by
    /// <paramref name="classNames"/>[label], then the macro and weighted averages.</summary>
    public static Table ReportTable(ClassificationReport report, IReadOnlyList<string> classNames)
    {
        ArgumentNullException.ThrowIfNull(report);
        ArgumentNullException.ThrowIfNull(classNames);
        var table = new Table().Title("test set").AddColumns("class", "precision", "recall", "f1", "support");
        foreach (var c in report.PerClass)
            table.AddRow(Markup.Escape(classNames[c.Label]), Pct(c.Precision), Pct(c.Recall), Pct(c.F1), c.Support.ToString(CultureInfo.InvariantCulture));
        table.AddRow("macro", Pct(report.MacroPrecision), Pct(report.MacroRecall), Pct(report.MacroF1), report.Total.ToString(CultureInfo.InvariantCulture));
        table.AddRow("weighted", Pct(report.WeightedPrecision), Pct(report.WeightedRecall), Pct(report.WeightedF1), report.Total.ToString(CultureInfo.InvariantCulture));
        return table;
    }

    private static string Pct(double value) => value.ToString("P2", CultureInfo.InvariantCulture);
}
