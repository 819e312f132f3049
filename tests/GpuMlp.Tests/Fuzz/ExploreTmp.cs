using GpuMlp.Training;

namespace GpuMlp.Tests.Fuzz;

public sealed class ExploreTmp
{
    [Fact]
    public void Explore()
    {
        byte[] b = Mutation.ApplyAll(FuzzSeeds.Checkpoint, [new Remove(96, 42)]);
        string f = Path.GetTempFileName();
        File.WriteAllBytes(f, b);
        var e = Assert.ThrowsAny<Exception>(() => Checkpoint.Load(f));
        Assert.Fail(e.GetType().Name + "<<" + e.Message + ">> inner " + e.InnerException?.GetType().Name + " text " + System.Text.Encoding.UTF8.GetString(b, 12, 200));
    }
}
