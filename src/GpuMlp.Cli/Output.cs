using System.Globalization;
using System.Text.Json;
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

    public static void PrintReport(EvaluationResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        var report = result.Report;
        var table = new Table().Title("test set").AddColumns("class", "precision", "recall", "f1", "support");
        foreach (var c in report.PerClass)
            table.AddRow(c.Label.ToString(CultureInfo.InvariantCulture), Pct(c.Precision), Pct(c.Recall), Pct(c.F1), c.Support.ToString(CultureInfo.InvariantCulture));
        table.AddRow("macro", Pct(report.MacroPrecision), Pct(report.MacroRecall), Pct(report.MacroF1), report.Total.ToString(CultureInfo.InvariantCulture));
        table.AddRow("weighted", Pct(report.WeightedPrecision), Pct(report.WeightedRecall), Pct(report.WeightedF1), report.Total.ToString(CultureInfo.InvariantCulture));
        AnsiConsole.Write(table);
        AnsiConsole.MarkupLine(string.Create(CultureInfo.InvariantCulture,
            $"test accuracy [bold]{report.Accuracy:P2}[/]  loss {result.Loss:F4}  macro F1 {report.MacroF1:P2}"));
    }

    private static string Pct(double value) => value.ToString("P2", CultureInfo.InvariantCulture);
}
