using System.Text.RegularExpressions;

namespace GpuMlp.Tests.Data;

/// <summary>MNIST's dimensions live in the MNIST source alone: outside src/GpuMlp.Core/Data/Mnist*.cs
/// and IdxFile.cs, no code of src names 28, 784 or 10 (comments are not code). Everything else reads
/// the shape and the classes from the dataset or the model.</summary>
public sealed partial class MnistLiteralTests
{
    // Matches 28, 784 or 10 as a number of their own ("28x28" included), not inside a longer
    // number, an identifier, a decimal, an exponent (1e-10) or a thousands group ("10,000").
    [GeneratedRegex(@"(?<![\w.])(?<!e-)(?<!e\+)(28|784|10)(?!(?!x\d)[\w.]|,\d{3})")]
    private static partial Regex MnistNumber();

    /// <summary>The uses of 10 that are not MNIST's class count, each with why (file, code fragment).</summary>
    private static readonly (string File, string Fragment, string Why)[] Allowed =
    [
        ("GpuMlp.Core/Plots/RunPlots.cs", "float fontSize = n <= 10 ? 15 : n <= 20 ? 10 : 7;", "font sizes by class count, for any count"),
        ("GpuMlp.Core/Plots/RunPlots.cs", "v *= 10", "decade ticks of a log axis"),
        ("GpuMlp.Core/Tuning/SearchSpace.cs", "Math.Pow(10,", "rounding to significant decimal digits"),
        ("GpuMlp.Core/Tuning/HalvingSchedule.cs", "MaxEta = 10", "the largest halving factor"),
        ("GpuMlp.Cli/BenchCommand.cs", "DefaultGpuWarmup = 10", "warm-up steps"),
        ("GpuMlp.Cli/BenchCommand.cs", "DefaultCpuConvolutionSteps = 10", "timed steps"),
    ];

    private static bool IsMnistSource(string relative) =>
        relative.StartsWith("GpuMlp.Core/Data/Mnist", StringComparison.Ordinal) || relative == "GpuMlp.Core/Data/IdxFile.cs";

    [Fact]
    public void SourceTree_OutsideTheMnistSource_NamesNoMnistDimension()
    {
        string src = Path.Combine(RealMnist.RepoRoot(), "src");
        var found = new List<string>();
        var used = new HashSet<int>();
        foreach (string path in Directory.EnumerateFiles(src, "*.cs", SearchOption.AllDirectories))
        {
            string relative = Path.GetRelativePath(src, path).Replace('\\', '/');
            if (relative.Contains("/bin/", StringComparison.Ordinal) || relative.Contains("/obj/", StringComparison.Ordinal) || IsMnistSource(relative))
                continue;
            string[] lines = File.ReadAllLines(path);
            for (int i = 0; i < lines.Length; i++)
            {
                int comment = lines[i].IndexOf("//", StringComparison.Ordinal);
                string code = comment >= 0 ? lines[i][..comment] : lines[i];
                if (!MnistNumber().IsMatch(code))
                    continue;
                int allowed = Array.FindIndex(Allowed, a => a.File == relative && code.Contains(a.Fragment, StringComparison.Ordinal));
                if (allowed >= 0)
                    used.Add(allowed);
                else
                    found.Add($"{relative}:{i + 1}: {code.Trim()}");
            }
        }
        Assert.True(found.Count == 0, $"MNIST dimensions outside the MNIST source:{Environment.NewLine}{string.Join(Environment.NewLine, found)}");
        var stale = Allowed.Where((_, i) => !used.Contains(i)).Select(a => $"{a.File}: {a.Fragment}").ToList();
        Assert.True(stale.Count == 0, $"allow-list entries that match nothing any more: {string.Join("; ", stale)}");
    }

    [Fact]
    public void MnistNumberPattern_MnistDimensionsAndOtherNumbers_AreToldApart()
    {
        foreach (string code in new[] { "new(28 * 28, hidden, 10)", "Vector(784)", "\"28x28 images\"", "classes = 10;", "[batch, 10]" })
            Assert.Matches(MnistNumber(), code);
        foreach (string code in new[] { "1e-10", "0.10", "100", "x10", "\"10,000 images\"", "\"10m\"", "Dense10" })
            Assert.DoesNotMatch(MnistNumber(), code);
    }
}
