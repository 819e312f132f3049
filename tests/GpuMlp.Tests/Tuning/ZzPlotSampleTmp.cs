using GpuMlp.Tuning;

namespace GpuMlp.Tests.Tuning;

public sealed class ZzPlotSampleTmp
{
    [Fact]
    public void Dump()
    {
        if (Directory.Exists("/tmp/tune1"))
            TuningPlot.Write("/tmp/plot-real.png", TuningFiles.Load("/tmp/tune1"));
        var space = new SearchSpace { LearningRateMin = 1e-4, LearningRateMax = 3e-2, Hidden = [[512, 256], [256, 128]] };
        var state = TuningSearch.Create(TuningSearchTests.Settings(trials: 27, eta: 3, minEpochs: 1, maxEpochs: 20, space: space));
        new TuningSearch(state, new FakeObjective { DivergeAbove = 1.5e-2 }).Run(TestContext.Current.CancellationToken);
        TuningPlot.Write("/tmp/plot-fake27.png", state);
    }
}
