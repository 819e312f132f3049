using System.Diagnostics;
using System.Text.Json;
using GpuMlp.Compute;
using GpuMlp.Tests.Data;

namespace GpuMlp.Tests.Cli;

/// <summary>--cpu-simd and GPUMLP_CPU_SIMD: shown by `gpumlp devices` and the train header,
/// recorded in config.json, bad values refused with the usage exit code.</summary>
public sealed class CpuSimdCliTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(3);

    private static CliProcess.Result Run(string? simdVariable, params string[] arguments)
    {
        ProcessStartInfo info = CliProcess.StartInfo(arguments);
        if (simdVariable is null)
            info.Environment.Remove(CpuSimdChoice.VariableName);
        else
            info.Environment[CpuSimdChoice.VariableName] = simdVariable;
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        if (!process.WaitForExit(Timeout))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"gpumlp {string.Join(' ', arguments)} ran longer than {Timeout}");
        }
        return new CliProcess.Result(process.ExitCode, stdout.Result, stderr.Result);
    }

    [Fact]
    public void Devices_AutoOrForced_ShowsThePath()
    {
        var auto = Run(null, "devices");
        Assert.True(auto.ExitCode == 0, auto.StandardError);
        Assert.Contains("SIMD kernels: " + GpuMlp.Kernels.Cpu.CpuSimd.Name(GpuMlp.Kernels.Cpu.CpuSimd.Best) + " (auto",
            Flatten(auto.StandardOutput), StringComparison.Ordinal);

        var forced = Run("scalar", "devices", "--cpu-simd", "256");
        Assert.True(forced.ExitCode == 0, forced.StandardError);
        Assert.Contains("SIMD kernels: vector256", Flatten(forced.StandardOutput), StringComparison.Ordinal);
        Assert.Contains("(forced;", Flatten(forced.StandardOutput), StringComparison.Ordinal);
    }

    /// <summary>The environment variable forces the path when no option is given; the header says so
    /// and config.json records it.</summary>
    [Fact]
    public void Train_ForcedByTheVariable_ReportsAndRecordsThePath()
    {
        using var dir = new TempDir();
        string run = Path.Combine(dir.Path, "run");
        var result = Run("scalar", "train", "--device", "cpu", "--data", RealMnist.RealMnistDir(), "--epochs", "1",
            "--limit-train", "300", "--batch-size", "50", "--hidden", "16", "--out", run);
        Assert.True(result.ExitCode == 0, result.StandardError);
        Assert.Contains("CPU SIMD scalar, ", result.StandardOutput, StringComparison.Ordinal);
        using var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(run, "config.json")));
        Assert.Equal("scalar", config.RootElement.GetProperty("cpu_simd").GetString());
    }

    [Theory]
    [InlineData(null, "--cpu-simd", "128", "--cpu-simd")]
    [InlineData("avx", null, null, CpuSimdChoice.VariableName)]
    public void CpuSimd_BadValue_IsAUsageErrorNamingItsSource(string? variable, string? option, string? value, string mention)
    {
        string[] arguments = option is null ? ["devices"] : ["devices", option, value!];
        var result = Run(variable, arguments);
        Assert.Equal(2, result.ExitCode);
        Assert.Contains(mention, result.StandardError, StringComparison.Ordinal);
        Assert.Contains(CpuSimdChoice.Values, result.StandardError, StringComparison.Ordinal);
    }

    /// <summary>Spectre wraps table cells; joins the lines of the detail column back together.</summary>
    private static string Flatten(string table) =>
        string.Join(' ', table.Split('\n').Select(line => line.Split('│', StringSplitOptions.TrimEntries).ElementAtOrDefault(4) ?? ""));
}
