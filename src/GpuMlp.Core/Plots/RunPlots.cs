using System.Globalization;
using GpuMlp.Metrics;
using GpuMlp.Runs;
using ScottPlot;
using SkiaSharp;

namespace GpuMlp.Plots;

/// <summary>PNG figures of a run: training curves and the test confusion matrix (ScottPlot).
/// Files are written atomically.</summary>
public static class RunPlots
{
    public const int CurvesWidth = 1200;
    public const int CurvesHeight = 500;
    public const int ConfusionWidth = 700;
    public const int ConfusionHeight = 650;

    // ScottPlot's own detection can settle on a serif face on Linux; prefer a common sans-serif one.
    private static readonly Lazy<string> SansFont = new(() =>
        new[] { "DejaVu Sans", "Liberation Sans", "Arial", "Helvetica", "Noto Sans", "Open Sans" }
            .FirstOrDefault(f => SKFontManager.Default.MatchFamily(f) is { } t && t.FamilyName == f)
        ?? Fonts.Default);

    private static readonly Color TrainColor = Color.FromHex("#1f77b4");
    private static readonly Color ValidationColor = Color.FromHex("#ff7f0e");

    /// <summary>Two panels side by side: loss (left) and accuracy in percent (right) per epoch, train
    /// and validation; the validation series is left out where it is null. Non-finite values
    /// (a diverged run) are skipped.</summary>
    /// <exception cref="ArgumentException"><paramref name="epochs"/> is empty.</exception>
    public static void WriteCurves(string path, IReadOnlyList<EpochRecord> epochs)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(epochs);
        if (epochs.Count == 0)
        {
            throw new ArgumentException("there are no epochs to plot", nameof(epochs));
        }

        double[] x = epochs.Select(e => (double)e.Epoch).ToArray();
        using Plot loss = CurvePanel(
            "Loss", "loss", x,
            epochs.Select(e => e.TrainLoss).ToArray(),
            epochs.Select(e => e.ValLoss ?? double.NaN).ToArray(),
            legendAt: Alignment.UpperRight);
        using Plot accuracy = CurvePanel(
            "Accuracy", "accuracy (%)", x,
            epochs.Select(e => 100 * e.TrainAccuracy).ToArray(),
            epochs.Select(e => 100 * (e.ValAccuracy ?? double.NaN)).ToArray(),
            legendAt: Alignment.LowerRight);

        byte[] png = RenderSideBySide(loss, accuracy, CurvesWidth, CurvesHeight);
        AtomicFile.WriteAllBytes(path, png);
    }

    /// <summary>The confusion matrix as a heatmap: predicted label on x, true label on y (0 at the
    /// top), the count in every cell, a colour bar, and the accuracy in the title. Colour follows
    /// log10(1 + count) so that the few misclassifications stand out next to the diagonal.</summary>
    /// <summary>A class name short enough for an axis tick: at most MaxAxisLabel characters.</summary>
    private static string AxisLabel(string name) =>
        name.Length <= MaxAxisLabel ? name : string.Concat(name.AsSpan(0, MaxAxisLabel - 1), "…");

    private const int MaxAxisLabel = 12;

    /// <param name="classNames">The classes' names, in label order, for the axes (long names cut
    /// with "…"); null labels them by index.</param>
    public static void WriteConfusion(string path, ClassificationReport report, IReadOnlyList<string>? classNames = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(report);
        long[,] counts = report.Confusion;
        int n = report.Classes;
        if (classNames is not null && classNames.Count != n)
            throw new ArgumentException($"{classNames.Count} class names for a {n}-class confusion matrix", nameof(classNames));

        // Row r of the heatmap is drawn at y = n - 1 - r (ScottPlot puts row 0 at the top), so
        // true label t sits at y = n - 1 - t and label 0 is the top row.
        var intensities = new double[n, n];
        long max = 0;
        for (int t = 0; t < n; t++)
        {
            for (int p = 0; p < n; p++)
            {
                intensities[t, p] = Math.Log10(1 + counts[t, p]);
                max = Math.Max(max, counts[t, p]);
            }
        }

        double top = Math.Log10(1 + Math.Max(max, 1));
        // Blues runs dark to light; reversed, an empty cell is white and the diagonal dark blue.
        var colormap = new ScottPlot.Colormaps.Reversed(new ScottPlot.Colormaps.Blues());
        using var plot = new Plot();
        StyleFonts(plot);
        var heatmap = plot.Add.Heatmap(intensities);
        heatmap.Colormap = colormap;
        heatmap.ManualRange = new ScottPlot.Range(0, top);
        heatmap.Rectangle = new CoordinateRect(-0.5, n - 0.5, -0.5, n - 0.5);

        float fontSize = n <= 10 ? 15 : n <= 20 ? 10 : 7;
        for (int t = 0; t < n; t++)
        {
            for (int p = 0; p < n; p++)
            {
                Color cell = colormap.GetColor(intensities[t, p] / top);
                var text = plot.Add.Text(counts[t, p].ToString(CultureInfo.InvariantCulture), p, n - 1 - t);
                text.LabelFontSize = fontSize;
                text.LabelBold = t == p;
                text.LabelFontColor = Luminance(cell) < 0.5 ? Colors.White : Colors.Black;
                text.LabelAlignment = Alignment.MiddleCenter;
                text.LabelFontName = SansFont.Value;
            }
        }

        double[] positions = Enumerable.Range(0, n).Select(i => (double)i).ToArray();
        string[] labels = Enumerable.Range(0, n)
            .Select(i => classNames is null ? i.ToString(CultureInfo.InvariantCulture) : AxisLabel(classNames[i]))
            .ToArray();
        plot.Axes.Bottom.SetTicks(positions, labels);
        plot.Axes.Left.SetTicks(positions.Select(y => n - 1 - y).ToArray(), labels);
        plot.Axes.Bottom.MajorTickStyle.Length = 0;
        plot.Axes.Left.MajorTickStyle.Length = 0;
        plot.Axes.SetLimits(-0.5, n - 0.5, -0.5, n - 0.5);
        plot.Grid.IsVisible = false;
        plot.XLabel("predicted", 16);
        plot.YLabel("true", 16);
        string accuracy = (100 * report.Accuracy).ToString("0.00", CultureInfo.InvariantCulture);
        plot.Title($"Confusion matrix: accuracy {accuracy} % of {report.Total.ToString("N0", CultureInfo.InvariantCulture)}", 17);

        // Label the colour bar in counts, at powers of ten (and the maximum), not in log units.
        var colorBar = plot.Add.ColorBar(heatmap);
        colorBar.Label = "count (log scale)";
        colorBar.LabelStyle.FontSize = 13;
        var ticks = new ScottPlot.TickGenerators.NumericManual();
        for (long v = 1; v <= max; v *= 10)
        {
            ticks.AddMajor(Math.Log10(1 + v), v.ToString("N0", CultureInfo.InvariantCulture));
        }
        ticks.AddMajor(0, "0");
        colorBar.Axis.TickGenerator = ticks;
        colorBar.Axis.TickLabelStyle.FontSize = 12;
        SetFont(plot);

        byte[] png = plot.GetImageBytes(ConfusionWidth, ConfusionHeight, ImageFormat.Png);
        AtomicFile.WriteAllBytes(path, png);
    }

    /// <summary>Applies the sans-serif face label by label (Plot.Font.Set would drop the bold titles).</summary>
    private static void SetFont(Plot plot)
    {
        string font = SansFont.Value;
        plot.Axes.Title.Label.FontName = font;
        foreach (IAxis axis in plot.Axes.GetAxes())
        {
            axis.Label.FontName = font;
            axis.TickLabelStyle.FontName = font;
        }

        foreach (ScottPlot.Panels.ColorBar bar in plot.Axes.GetPanels().OfType<ScottPlot.Panels.ColorBar>())
        {
            bar.LabelStyle.FontName = font;
            bar.Axis.TickLabelStyle.FontName = font;
        }
        plot.Legend.FontName = font;
    }

    private static Plot CurvePanel(string title, string yLabel, double[] x, double[] train, double[] validation, Alignment legendAt)
    {
        var plot = new Plot();
        StyleFonts(plot);
        AddSeries(plot, x, train, "train", TrainColor, LinePattern.Solid);
        AddSeries(plot, x, validation, "validation", ValidationColor, LinePattern.Dashed);

        plot.Title(title, 18);
        plot.XLabel("epoch", 15);
        plot.YLabel(yLabel, 15);
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic { IntegerTicksOnly = true };
        double first = x.Min(), last = x.Max();
        plot.Axes.AutoScale();
        plot.Axes.SetLimitsX(first - 0.5, last + 0.5);
        var legend = plot.ShowLegend(legendAt);
        legend.FontSize = 14;
        SetFont(plot);
        return plot;
    }

    private static void AddSeries(Plot plot, double[] x, double[] y, string label, Color color, LinePattern pattern)
    {
        var keep = Enumerable.Range(0, x.Length).Where(i => double.IsFinite(y[i])).ToArray();
        if (keep.Length == 0)
        {
            return;
        }

        var scatter = plot.Add.Scatter(keep.Select(i => x[i]).ToArray(), keep.Select(i => y[i]).ToArray(), color);
        scatter.LegendText = label;
        scatter.LineWidth = 2.5f;
        scatter.LinePattern = pattern;
        scatter.MarkerSize = 7;
        scatter.MarkerShape = MarkerShape.FilledCircle;
    }

    private static void StyleFonts(Plot plot)
    {
        plot.Axes.Bottom.TickLabelStyle.FontSize = 14;
        plot.Axes.Left.TickLabelStyle.FontSize = 14;
    }

    private static byte[] RenderSideBySide(Plot left, Plot right, int width, int height)
    {
        using SKSurface surface = SKSurface.Create(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Premul))
            ?? throw new InvalidOperationException($"cannot create a {width}x{height} drawing surface");
        SKCanvas canvas = surface.Canvas;
        canvas.Clear(SKColors.White);
        int half = width / 2;
        foreach ((Plot plot, int x, int w) in new[] { (left, 0, half), (right, half, width - half) })
        {
            canvas.Save();
            canvas.Translate(x, 0);
            canvas.ClipRect(new SKRect(0, 0, w, height));
            plot.Render(canvas, w, height);
            canvas.Restore();
        }

        using SKImage image = surface.Snapshot();
        using SKData data = image.Encode(SKEncodedImageFormat.Png, 100)
            ?? throw new InvalidOperationException("PNG encoding failed");
        return data.ToArray();
    }

    private static double Luminance(Color c) => ((0.2126 * c.R) + (0.7152 * c.G) + (0.0722 * c.B)) / 255.0;
}
