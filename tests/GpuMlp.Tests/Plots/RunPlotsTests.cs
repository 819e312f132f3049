using System.Buffers.Binary;
using GpuMlp.Metrics;
using GpuMlp.Plots;
using GpuMlp.Runs;
using GpuMlp.Tests.Data;
using SkiaSharp;

namespace GpuMlp.Tests.Plots;

/// <summary>Realistic inputs for the figures: a 20-epoch history and an MNIST test confusion matrix.</summary>
internal static class PlotSamples
{
    public static IReadOnlyList<EpochRecord> History(int epochs = 20, bool validation = true)
    {
        var list = new List<EpochRecord>();
        for (int e = 1; e <= epochs; e++)
        {
            double trainLoss = 0.012 + (0.26 * Math.Exp(-(e - 1) / 2.8));
            double trainAcc = 0.9965 - (0.075 * Math.Exp(-(e - 1) / 2.5));
            double valLoss = 0.068 + (0.045 * Math.Exp(-(e - 1) / 2.0)) + (0.0009 * e) + (0.003 * Math.Sin(e * 1.7));
            double valAcc = 0.9815 - (0.014 * Math.Exp(-(e - 1) / 2.2)) + (0.0012 * Math.Sin(e * 2.3));
            list.Add(new EpochRecord(e, trainLoss, trainAcc, validation ? valLoss : null, validation ? valAcc : null, 3.1, 17_400));
        }
        return list;
    }

    /// <summary>10,000 test images, 98.12 % correct, with MNIST's usual confusions (4↔9, 7→2, 3↔5 ...).</summary>
    public static ClassificationReport MnistConfusion()
    {
        int[] support = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009];
        (int T, int P, int N)[] errors =
        [
            (0, 6, 4), (0, 2, 2), (0, 7, 1), (0, 5, 2),
            (1, 2, 3), (1, 6, 2), (1, 3, 1), (1, 8, 2),
            (2, 7, 7), (2, 8, 5), (2, 3, 3), (2, 0, 2), (2, 1, 2), (2, 6, 1),
            (3, 5, 8), (3, 2, 4), (3, 8, 4), (3, 7, 3), (3, 9, 2),
            (4, 9, 10), (4, 6, 3), (4, 2, 2), (4, 7, 2),
            (5, 3, 9), (5, 6, 4), (5, 8, 3), (5, 0, 2), (5, 9, 1),
            (6, 0, 5), (6, 5, 4), (6, 4, 3), (6, 1, 2),
            (7, 2, 9), (7, 9, 6), (7, 1, 3), (7, 4, 1),
            (8, 3, 6), (8, 5, 4), (8, 9, 4), (8, 2, 3), (8, 4, 2), (8, 7, 2),
            (9, 4, 9), (9, 7, 6), (9, 3, 3), (9, 8, 3), (9, 0, 2),
        ];
        var m = new long[10, 10];
        for (int t = 0; t < 10; t++)
        {
            m[t, t] = support[t];
        }
        foreach ((int t, int p, int n) in errors)
        {
            m[t, p] += n;
            m[t, t] -= n;
        }
        return ClassificationReport.FromConfusion(m);
    }
}

public sealed class RunPlotsTests : IDisposable
{
    private readonly TempDir dir = new();

    public void Dispose() => dir.Dispose();

    /// <summary>The file is a PNG (signature and IHDR) that SkiaSharp decodes to the given size.</summary>
    private static SKBitmap AssertPng(string path, int width, int height)
    {
        Assert.True(File.Exists(path));
        byte[] bytes = File.ReadAllBytes(path);
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G', 0x0d, 0x0a, 0x1a, 0x0a }, bytes[..8]);
        Assert.Equal(width, BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(16)));
        Assert.Equal(height, BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(20)));
        SKBitmap? bitmap = SKBitmap.Decode(bytes);
        Assert.NotNull(bitmap);
        Assert.Equal((width, height), (bitmap.Width, bitmap.Height));
        return bitmap;
    }

    /// <summary>Distinct colours in a coarse sample: a blank or one-colour image has very few.</summary>
    private static int DistinctColours(SKBitmap bitmap)
    {
        var colours = new HashSet<uint>();
        for (int y = 0; y < bitmap.Height; y += 3)
        {
            for (int x = 0; x < bitmap.Width; x += 3)
            {
                colours.Add((uint)bitmap.GetPixel(x, y));
            }
        }
        return colours.Count;
    }

    private static int CountNear(SKBitmap bitmap, SKColor target, int tolerance = 40)
    {
        int count = 0;
        for (int y = 0; y < bitmap.Height; y++)
        {
            for (int x = 0; x < bitmap.Width; x++)
            {
                SKColor c = bitmap.GetPixel(x, y);
                if (Math.Abs(c.Red - target.Red) + Math.Abs(c.Green - target.Green) + Math.Abs(c.Blue - target.Blue) < tolerance)
                {
                    count++;
                }
            }
        }
        return count;
    }

    [Fact]
    public void WriteCurves_WritesA1200x500Png_WithBothSeries()
    {
        string path = Path.Combine(dir.Path, "curves.png");
        RunPlots.WriteCurves(path, PlotSamples.History());

        using SKBitmap bitmap = AssertPng(path, RunPlots.CurvesWidth, RunPlots.CurvesHeight);
        Assert.True(DistinctColours(bitmap) > 20);
        // Both panels draw the train (blue) and validation (orange) series.
        int half = bitmap.Width / 2;
        using SKBitmap left = new(half, bitmap.Height);
        using SKBitmap right = new(half, bitmap.Height);
        Assert.True(bitmap.ExtractSubset(left, new SKRectI(0, 0, half, bitmap.Height)));
        Assert.True(bitmap.ExtractSubset(right, new SKRectI(half, 0, bitmap.Width, bitmap.Height)));
        foreach (SKBitmap panel in new[] { left, right })
        {
            Assert.True(CountNear(panel, new SKColor(0x1f, 0x77, 0xb4)) > 200, "train series");
            Assert.True(CountNear(panel, new SKColor(0xff, 0x7f, 0x0e)) > 200, "validation series");
        }
        Assert.Empty(Directory.GetFiles(dir.Path, "*.tmp-*"));
    }

    [Fact]
    public void WriteCurves_WithoutValidation_DrawsNoValidationSeries()
    {
        string path = Path.Combine(dir.Path, "curves.png");
        RunPlots.WriteCurves(path, PlotSamples.History(validation: false));

        using SKBitmap bitmap = AssertPng(path, RunPlots.CurvesWidth, RunPlots.CurvesHeight);
        Assert.True(CountNear(bitmap, new SKColor(0x1f, 0x77, 0xb4)) > 200);
        Assert.Equal(0, CountNear(bitmap, new SKColor(0xff, 0x7f, 0x0e)));
    }

    [Fact]
    public void WriteCurves_SingleEpochAndNonFiniteLoss_StillRender()
    {
        string one = Path.Combine(dir.Path, "one.png");
        RunPlots.WriteCurves(one, PlotSamples.History(epochs: 1));
        AssertPng(one, RunPlots.CurvesWidth, RunPlots.CurvesHeight).Dispose();

        var diverged = PlotSamples.History(epochs: 5).Select(e => e.Epoch >= 4 ? e with { TrainLoss = double.NaN, ValLoss = double.PositiveInfinity } : e).ToList();
        string nan = Path.Combine(dir.Path, "nan.png");
        RunPlots.WriteCurves(nan, diverged);
        AssertPng(nan, RunPlots.CurvesWidth, RunPlots.CurvesHeight).Dispose();
    }

    [Fact]
    public void WriteCurves_NoEpochs_Throws() =>
        Assert.Throws<ArgumentException>(() => RunPlots.WriteCurves(Path.Combine(dir.Path, "x.png"), []));

    [Fact]
    public void WriteConfusion_AnyReport_WritesA700x650Png()
    {
        string path = Path.Combine(dir.Path, "confusion.png");
        RunPlots.WriteConfusion(path, PlotSamples.MnistConfusion());

        using SKBitmap bitmap = AssertPng(path, RunPlots.ConfusionWidth, RunPlots.ConfusionHeight);
        Assert.True(DistinctColours(bitmap) > 20);
        Assert.Empty(Directory.GetFiles(dir.Path, "*.tmp-*"));
    }

    [Fact]
    public void WriteConfusion_MostlyCorrect_DiagonalIsDarkWithTrueZeroAtTheTop()
    {
        string path = Path.Combine(dir.Path, "confusion.png");
        // All samples on the diagonal: only the cells (t, t) are coloured.
        var m = new long[10, 10];
        for (int t = 0; t < 10; t++)
        {
            m[t, t] = 100;
        }
        RunPlots.WriteConfusion(path, ClassificationReport.FromConfusion(m));

        using SKBitmap bitmap = AssertPng(path, RunPlots.ConfusionWidth, RunPlots.ConfusionHeight);
        // Find the dark cells' bounding box: the diagonal runs from top-left to bottom-right, so the
        // topmost dark pixel lies left of the bottommost.
        (int x, int y)? topmost = null, bottommost = null;
        for (int y = 0; y < bitmap.Height; y++)
        {
            for (int x = 0; x < bitmap.Width - 120; x++) // skip the colour bar on the right
            {
                SKColor c = bitmap.GetPixel(x, y);
                if (c.Blue > 80 && c.Red < 40 && c.Green < 80)
                {
                    topmost ??= (x, y);
                    bottommost = (x, y);
                }
            }
        }
        Assert.NotNull(topmost);
        Assert.True(bottommost!.Value.y - topmost.Value.y > 300, "the diagonal spans the plot");
        Assert.True(topmost.Value.x < bottommost.Value.x - 300, "true label 0 is the top row, predicted 0 the left column");
    }

    [Fact]
    public void WriteConfusion_ClassNames_RendersAndRefusesAWrongCount()
    {
        var report = ClassificationReport.FromConfusion(new long[,] { { 5, 1, 0 }, { 0, 6, 1 }, { 2, 0, 7 } });
        string path = Path.Combine(dir.Path, "named.png");
        RunPlots.WriteConfusion(path, report, ["north", "a class name far too long for an axis", "south"]);
        Assert.True(new FileInfo(path).Length > 0);
        var error = Assert.Throws<ArgumentException>(() => RunPlots.WriteConfusion(Path.Combine(dir.Path, "wrong.png"), report, ["north", "south"]));
        Assert.Contains("2 class names for a 3-class confusion matrix", error.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(dir.Path, "wrong.png")));
    }

    [Fact]
    public void WriteConfusion_EmptyMatrix_StillRenders()
    {
        string path = Path.Combine(dir.Path, "empty.png");
        RunPlots.WriteConfusion(path, ClassificationReport.FromConfusion(new long[10, 10]));
        AssertPng(path, RunPlots.ConfusionWidth, RunPlots.ConfusionHeight).Dispose();
    }
}
