using System.Globalization;
using GpuMlp.Runs;
using ScottPlot;

namespace GpuMlp.Tuning;

/// <summary>trials.png: validation accuracy against epochs, one line per trial, the best trial
/// highlighted, trials eliminated early in grey, dashed lines at the rung boundaries.</summary>
public static class TuningPlot
{
    public const int Width = 1100;
    public const int Height = 650;

    /// <summary>Accuracies this far (percentage points) below the best trial's peak are cut off,
    /// so a trial that barely learned does not flatten the interesting curves; the title says so.</summary>
    public const double MaxSpan = 30;

    /// <summary>Trials labelled with their id.</summary>
    public const int MaxLabels = 6;

    private static readonly Color BestColor = Color.FromHex("#d62728");
    private static readonly Color FurtherColor = Color.FromHex("#1f77b4");
    private static readonly Color StoppedColor = Color.FromHex("#7f7f7f");

    public static void Write(string path, TuningState state)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        AtomicFile.WriteAllBytes(path, Render(state));
    }

    public static byte[] Render(TuningState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        var culture = CultureInfo.InvariantCulture;
        using var plot = new Plot();
        plot.Axes.Bottom.TickLabelStyle.FontSize = 14;
        plot.Axes.Left.TickLabelStyle.FontSize = 14;

        var trained = state.Trials.Where(t => t.Epochs.Any(e => e.IsFinite)).ToList();
        int lastRungEpochs = state.Rungs.Count > 0 ? state.Rungs.Max(r => r.Epochs) : 1;
        int maxEpoch = Math.Max(1, trained.Count == 0 ? 1 : trained.Max(t => t.EpochsRun));
        var best = state.BestTrial is int b ? state.Trials[b] : Ranking.Order(trained.Where(t => !t.HasDiverged)).FirstOrDefault();

        // Rung boundaries first, so the curves draw over them.
        foreach (var rung in state.Rungs.Where(r => r.Epochs < maxEpoch))
        {
            var line = plot.Add.VerticalLine(rung.Epochs + 0.5);
            line.LineColor = Colors.Black.WithAlpha(0.25);
            line.LinePattern = LinePattern.Dashed;
            line.LineWidth = 1;
        }

        double top = double.NegativeInfinity, bottom = double.PositiveInfinity;
        foreach (var e in trained.SelectMany(t => t.Epochs).Where(e => e.IsFinite))
        {
            top = Math.Max(top, 100 * e.ValAccuracy);
            bottom = Math.Min(bottom, 100 * e.ValAccuracy);
        }
        double floor = top - MaxSpan;
        bool clipped = bottom < floor;

        // Ids next to the last points of the trials that went furthest (at most MaxLabels, the
        // best included), so that labels do not pile up at the early rungs.
        var labelled = Ranking.Order(trained.Where(t => t != best && !t.HasDiverged && t.Rung > 0))
            .OrderByDescending(t => t.Rung).Take(MaxLabels - 1).ToHashSet();
        bool stoppedLabelled = false, furtherLabelled = false;
        foreach (var trial in trained.Where(t => t != best).OrderBy(t => t.EpochsRun).ThenBy(t => t.Id))
        {
            bool further = trial.Rung > 0 || trial.EpochsRun > state.Rungs.FirstOrDefault()?.Epochs;
            var color = further ? FurtherColor.WithAlpha(0.75) : StoppedColor.WithAlpha(0.55);
            var scatter = AddTrial(plot, trial, color, further ? 2f : 1.5f, further ? 6 : 5);
            if (scatter is not null && further && !furtherLabelled)
            {
                scatter.LegendText = "promoted at least once";
                furtherLabelled = true;
            }
            else if (scatter is not null && !further && !stoppedLabelled)
            {
                scatter.LegendText = "stopped after the first rung";
                stoppedLabelled = true;
            }
            if (labelled.Contains(trial))
                Label(plot, trial, FurtherColor, floor);
        }
        if (best is not null)
        {
            var scatter = AddTrial(plot, best, BestColor, 3.5f, 9);
            if (scatter is not null)
            {
                var at = best.Best()!;
                scatter.LegendText = string.Create(culture,
                    $"best: trial {best.Id} ({best.Config}), val acc {100 * at.ValAccuracy:F2} % at epoch {at.Epoch}");
            }
            Label(plot, best, BestColor, floor);
            if (best.Best() is { } chosen)
            {
                var marker = plot.Add.Marker(chosen.Epoch, 100 * chosen.ValAccuracy, MarkerShape.OpenCircle, 22, BestColor);
                marker.MarkerLineWidth = 2.5f;
                marker.LegendText = "best epoch (lowest validation loss): the retrain's epoch count";
            }
        }

        plot.Title(string.Create(culture,
            $"Validation accuracy of {trained.Count} trials (successive halving, η = {state.Settings.Eta}, rungs at {string.Join(", ", state.Rungs.Select(r => r.Epochs))} epochs)")
            + (clipped ? string.Create(culture, $"; below {floor:F0} % cut off") : ""), 16);
        plot.XLabel("epoch", 16);
        plot.YLabel("validation accuracy (%)", 16);
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic { IntegerTicksOnly = true };
        plot.Axes.SetLimitsX(0.5, Math.Max(lastRungEpochs, maxEpoch) + 0.9);
        if (double.IsFinite(top))
        {
            double low = Math.Max(bottom, floor);
            double pad = Math.Max(0.2, (top - low) * 0.06);
            plot.Axes.SetLimitsY(low - pad, Math.Min(100.5, top + pad));
        }
        var legend = plot.ShowLegend(Alignment.LowerRight);
        legend.FontSize = 14;
        return plot.GetImageBytes(Width, Height, ImageFormat.Png);
    }

    private static ScottPlot.Plottables.Scatter? AddTrial(Plot plot, TrialState trial, Color color, float width, float marker)
    {
        var points = trial.Epochs.Where(e => e.IsFinite).ToList();
        if (points.Count == 0)
            return null;
        var scatter = plot.Add.Scatter(points.Select(e => (double)e.Epoch).ToArray(), points.Select(e => 100 * e.ValAccuracy).ToArray(), color);
        scatter.LineWidth = width;
        scatter.MarkerSize = marker;
        scatter.MarkerShape = MarkerShape.FilledCircle;
        return scatter;
    }

    private static void Label(Plot plot, TrialState trial, Color color, double floor)
    {
        var last = trial.Epochs.LastOrDefault(e => e.IsFinite);
        if (last is null || 100 * last.ValAccuracy < floor)
            return;
        var text = plot.Add.Text($"#{trial.Id.ToString(CultureInfo.InvariantCulture)}", last.Epoch, 100 * last.ValAccuracy);
        text.LabelFontSize = 13;
        text.LabelBold = true;
        text.LabelFontColor = color;
        text.LabelAlignment = Alignment.MiddleLeft;
        text.OffsetX = 7;
    }
}
