using GpuMlp.Metrics;

namespace GpuMlp.Runs;

/// <summary>Typed form of a run's metrics.json (property names are snake_case on disk). Optimizer
/// describes the update rule and its hyperparameters ("sgd (lr 0.05, momentum 0.9, ...)"); files
/// written before it was recorded have none. Target is there only for a run with a target accuracy.</summary>
public sealed record MetricsDocument(
    string Device,
    IReadOnlyList<EpochRecord> Epochs,
    TestMetrics Test,
    TimingRecord Timing,
    [property: System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)] string? Optimizer = null,
    [property: System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)] TargetRecord? Target = null);

/// <summary>The "test" section of metrics.json: held-out loss plus the classification report.</summary>
public sealed record TestMetrics(
    double Accuracy,
    double Loss,
    double MacroPrecision,
    double MacroRecall,
    double MacroF1,
    double WeightedPrecision,
    double WeightedRecall,
    double WeightedF1,
    IReadOnlyList<ClassMetrics> PerClass,
    IReadOnlyList<IReadOnlyList<long>> Confusion)
{
    /// <summary>Flattens a <see cref="ClassificationReport"/> and its test loss into the on-disk shape.</summary>
    public static TestMetrics From(ClassificationReport report, double loss)
    {
        ArgumentNullException.ThrowIfNull(report);
        return new TestMetrics(
            report.Accuracy,
            loss,
            report.MacroPrecision,
            report.MacroRecall,
            report.MacroF1,
            report.WeightedPrecision,
            report.WeightedRecall,
            report.WeightedF1,
            report.PerClass,
            report.ConfusionRows());
    }

    /// <summary>Rebuilds the full report from the stored confusion matrix (e.g. for an eval command).</summary>
    /// <exception cref="ArgumentException">The stored matrix is ragged or otherwise invalid.</exception>
    public ClassificationReport ToReport()
    {
        int n = Confusion.Count;
        var matrix = new long[n, n];
        for (int t = 0; t < n; t++)
        {
            if (Confusion[t].Count != n)
            {
                throw new ArgumentException($"Confusion row {t} has {Confusion[t].Count} entries, expected {n}.");
            }

            for (int p = 0; p < n; p++)
            {
                matrix[t, p] = Confusion[t][p];
            }
        }

        return ClassificationReport.FromConfusion(matrix);
    }
}
