using System.Globalization;
using System.Text;
using BenchmarkDotNet.Reports;

namespace GpuMlp.Bench;

/// <summary>One compact table of every case after the run: median time and the rates, also
/// written to gpumlp-rates.md in BenchmarkDotNet's results folder.</summary>
public static class RatesReport
{
    public static void Print(IEnumerable<Summary> summaries, TextWriter output)
    {
        var table = new StringBuilder();
        table.AppendLine("| benchmark | device | batch | case | median | GFLOP/s | GB/s | ratio to baseline |");
        table.AppendLine("| --- | --- | --- | --- | ---: | ---: | ---: | ---: |");
        string? resultsDirectory = null;
        int rows = 0;
        foreach (var summary in summaries)
        {
            resultsDirectory ??= summary.ResultsDirectoryPath;
            foreach (var report in summary.Reports)
            {
                var benchmarkCase = report.BenchmarkCase;
                var parameters = benchmarkCase.Parameters;
                string Param(string name) => parameters.Items.Any(p => p.Name == name)
                    ? Convert.ToString(parameters[name], CultureInfo.InvariantCulture) ?? ""
                    : "";
                string name = $"{benchmarkCase.Descriptor.Type.Name.Replace("Benchmarks", "", StringComparison.Ordinal)}.{benchmarkCase.Descriptor.WorkloadMethodDisplayInfo}";
                var stats = report.ResultStatistics;
                string median = stats is null ? "failed" : FormatTime(stats.Median);
                double? gflops = RateColumn.Rate(summary, benchmarkCase, flops: true);
                double? gbs = RateColumn.Rate(summary, benchmarkCase, flops: false);
                string ratio = "";
                var baseline = summary.GetBaseline(summary.GetLogicalGroupKey(benchmarkCase));
                if (baseline is not null && baseline != benchmarkCase && stats is not null
                    && summary[baseline]?.ResultStatistics is { } baselineStats && stats.Median > 0)
                {
                    ratio = (stats.Median / baselineStats.Median).ToString("F3", CultureInfo.InvariantCulture);
                }
                table.AppendLine(CultureInfo.InvariantCulture,
                    $"| {name} | {Param("Device")} | {Param("Batch")} | {Param("Case")} | {median} | {Format(gflops)} | {Format(gbs)} | {ratio} |");
                rows++;
            }
        }
        if (rows == 0)
            return;
        output.WriteLine();
        output.WriteLine("GpuMlp rates (median of the measured iterations):");
        output.Write(table.ToString());
        if (resultsDirectory is not null && Directory.Exists(resultsDirectory))
        {
            string path = Path.Combine(resultsDirectory, "gpumlp-rates.md");
            File.WriteAllText(path, table.ToString());
            output.WriteLine($"written to {path}");
        }
    }

    private static string Format(double? value) => value is double v
        ? v.ToString(v >= 100 ? "F0" : v >= 1 ? "F2" : "F3", CultureInfo.InvariantCulture)
        : "";

    private static string FormatTime(double nanoseconds) => nanoseconds switch
    {
        >= 1e9 => (nanoseconds / 1e9).ToString("F3", CultureInfo.InvariantCulture) + " s",
        >= 1e6 => (nanoseconds / 1e6).ToString("F3", CultureInfo.InvariantCulture) + " ms",
        _ => (nanoseconds / 1e3).ToString("F1", CultureInfo.InvariantCulture) + " µs",
    };
}
