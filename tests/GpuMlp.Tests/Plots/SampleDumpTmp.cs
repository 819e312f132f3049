using GpuMlp.Plots;
using GpuMlp.Imaging;
namespace GpuMlp.Tests.Plots;
public sealed class SampleDumpTmp
{
    [Fact]
    public void Dump()
    {
        RunPlots.WriteCurves("/tmp/sample-curves.png", PlotSamples.History());
        RunPlots.WriteConfusion("/tmp/sample-confusion.png", PlotSamples.MnistConfusion());
        var images = GpuMlp.Tests.Data.RealMnist.Load().TestImages;
        byte[] d = images.Pixels.AsSpan(0, 784).ToArray();
        DigitImage.SaveMnistDigitAsPng(d, "/tmp/digit-200.png", 200, true);
        float[] back = DigitImage.LoadAsMnist("/tmp/digit-200.png");
        byte[] both = new byte[784];
        for (int i = 0; i < 784; i++) both[i] = (byte)Math.Round(back[i] * 255);
        // side by side: original (left) and round trip (right), as 2 PNGs
        DigitImage.SaveMnistDigitAsPng(both, "/tmp/digit-back.png", 200, false);
        DigitImage.SaveMnistDigitAsPng(d, "/tmp/digit-orig.png", 200, false);
    }
}
