using GpuMlp.Data;
using GpuMlp.Tests.Runs;
using GpuMlp.Tuning;
using SkiaSharp;

namespace GpuMlp.Tests.Tuning;

public sealed class TuningPlotTests
{
    [Fact]
    public void Write_AnySearch_WritesAPngOfTheDocumentedSize()
    {
        using var dir = new TempDir();
        var space = new SearchSpace { LearningRateMin = 1e-4, LearningRateMax = 2e-2 };
        var state = TuningSearch.Create(TuningSearchTests.Settings(trials: 9, eta: 3, minEpochs: 1, maxEpochs: 9, space: space), MnistDataset.Schema);
        new TuningSearch(state, new FakeObjective { DivergeAbove = 1e-2 }).Run(TestContext.Current.CancellationToken);
        string path = Path.Combine(dir.Path, TuningFiles.PlotFileName);
        TuningPlot.Write(path, state);
        using var bitmap = SKBitmap.Decode(path);
        Assert.NotNull(bitmap);
        Assert.Equal((TuningPlot.Width, TuningPlot.Height), (bitmap.Width, bitmap.Height));
        // The best trial's colour is on the canvas.
        bool red = false;
        for (int y = 0; y < bitmap.Height && !red; y += 2)
        {
            for (int x = 0; x < bitmap.Width && !red; x += 2)
            {
                var c = bitmap.GetPixel(x, y);
                red = c.Red > 200 && c.Green < 60 && c.Blue < 60;
            }
        }
        Assert.True(red, "the best trial is not drawn in red");
    }

    [Fact]
    public void Write_EmptySearch_StillRenders()
    {
        var state = TuningSearch.Create(TuningSearchTests.Settings(trials: 3), MnistDataset.Schema);
        Assert.NotEmpty(TuningPlot.Render(state));
    }
}
