using System.Globalization;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace GpuMlp.Bench;

/// <summary>GFLOP/s or GB/s of a case, from its median time and <see cref="Work"/>.</summary>
public sealed class RateColumn : IColumn
{
    private readonly bool flops;

    private RateColumn(bool flops) => this.flops = flops;

    public static RateColumn GflopsPerSecond { get; } = new(flops: true);
    public static RateColumn GigabytesPerSecond { get; } = new(flops: false);

    public string Id => flops ? "GpuMlp.GFLOPs" : "GpuMlp.GBs";
    public string ColumnName => flops ? "GFLOP/s" : "GB/s";
    public bool AlwaysShow => true;
    public ColumnCategory Category => ColumnCategory.Custom;
    public int PriorityInCategory => flops ? 0 : 1;
    public bool IsNumeric => true;
    public UnitType UnitType => UnitType.Dimensionless;
    public string Legend => flops
        ? "Floating-point operations per second from the median time (GEMM: 2*M*N*K; step: all eight GEMMs)"
        : "Minimum bytes moved per second from the median time (each operand read or written once)";

    public bool IsAvailable(Summary summary) => true;
    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) =>
        GetValue(summary, benchmarkCase, SummaryStyle.Default);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        double? rate = Rate(summary, benchmarkCase, flops);
        return rate is double value ? value.ToString(value >= 100 ? "F0" : value >= 1 ? "F2" : "F3", CultureInfo.InvariantCulture) : "-";
    }

    /// <summary>Units per nanosecond = giga-units per second, or null when not applicable.</summary>
    public static double? Rate(Summary summary, BenchmarkCase benchmarkCase, bool flops)
    {
        var statistics = summary[benchmarkCase]?.ResultStatistics;
        if (statistics is null || statistics.Median <= 0)
            return null;
        var work = Work.Of(benchmarkCase);
        double units = flops ? work.Flops : work.Bytes;
        return units > 0 ? units / statistics.Median : null;
    }

    public override string ToString() => ColumnName;
}
