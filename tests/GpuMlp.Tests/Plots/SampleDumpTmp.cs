using GpuMlp.Plots;
namespace GpuMlp.Tests.Plots;
public sealed class SampleDumpTmp
{
    [Fact]
    public void Dump()
    {
        RunPlots.WriteCurves("/tmp/sample-curves.png", PlotSamples.History());
        RunPlots.WriteConfusion("/tmp/sample-confusion.png", PlotSamples.MnistConfusion());
    }
}
