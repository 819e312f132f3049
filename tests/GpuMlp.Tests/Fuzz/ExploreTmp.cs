using System.Collections.Concurrent;
using CsCheck;
using GpuMlp.Training;

namespace GpuMlp.Tests.Fuzz;

public sealed class ExploreTmp
{
    [Fact]
    public void Explore()
    {
        var t = new CheckpointFuzzTests();
        var found = new ConcurrentDictionary<string, string>();
        var check = typeof(CheckpointFuzzTests).GetMethod("Check", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance)!;
        var kinds = (Gen<Mutation>)typeof(CheckpointFuzzTests).GetField("Kinds", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static)!.GetValue(null)!;
        Mutate.Some(kinds).Sample(m =>
        {
            try { check.Invoke(t, [Mutation.ApplyAll(FuzzSeeds.Checkpoint, m)]); }
            catch (System.Reflection.TargetInvocationException e)
            {
                var x = e.InnerException!;
                string key = x.GetType().Name + ": " + (x.Message.Length > 90 ? x.Message[..90] : x.Message);
                if (x is InvalidOperationException) key = x.Message.Contains("parsed successfully") ? x.Message.Split(':')[0] + (x.InnerException?.Message ?? "") : key;
                key = System.Text.RegularExpressions.Regex.Replace(key, @"/tmp/\S+", "F");
                key = System.Text.RegularExpressions.Regex.Replace(key, @"\d+", "N");
                found.TryAdd(key, Mutate.Print(m) + "\n      at " + x.StackTrace?.Split('\n').FirstOrDefault(l => l.Contains("GpuMlp") ) );
            }
        }, iter: 30000);
        t.Dispose();
        foreach (var kv in found) TestContext.Current.SendDiagnosticMessage(kv.Key + "\n    " + kv.Value);
        Assert.Fail(string.Join("\n", found.Select(kv => kv.Key + "\n    " + kv.Value)));
    }
}
