using System.Diagnostics;

namespace GpuMlp.Tests.Cli;

/// <summary>Runs the real gpumlp CLI (built next to the tests) as a child process.</summary>
public static class CliProcess
{
    public static string CliDll => Path.Combine(AppContext.BaseDirectory, "gpumlp.dll");

    /// <summary>The dotnet host that starts the CLI: DOTNET_HOST_PATH when it names a file (the .NET
    /// SDK sets it for the processes it starts; the device bundle's runner points it at the bundled
    /// runtime, on a machine without an SDK), else "dotnet" from PATH.</summary>
    public static string DotnetHost =>
        Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host : "dotnet";

    public static ProcessStartInfo StartInfo(params string[] arguments)
    {
        var info = new ProcessStartInfo(DotnetHost)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(CliDll);
        foreach (var argument in arguments)
            info.ArgumentList.Add(argument);
        info.Environment["NO_COLOR"] = "1";
        // Image folders' decoded caches go to a scratch folder, not the user's ~/.cache.
        info.Environment["GPUMLP_CACHE_DIR"] = TestCacheDirectory;
        return info;
    }

    /// <summary>Where the CLI started by the tests caches decoded image folders.</summary>
    public static string TestCacheDirectory { get; } = Path.Combine(Path.GetTempPath(), "gpumlp-tests-cache");

    public sealed record Result(int ExitCode, string StandardOutput, string StandardError);

    /// <summary>The run failed with <paramref name="exitCode"/> and one line on stderr, "gpumlp: error: ...",
    /// holding every one of <paramref name="mentions"/>.</summary>
    public static void AssertOneLineError(Result result, int exitCode, params string[] mentions)
    {
        ArgumentNullException.ThrowIfNull(result);
        ArgumentNullException.ThrowIfNull(mentions);
        Assert.True(result.ExitCode == exitCode, $"exit {result.ExitCode}, expected {exitCode}; stderr: {result.StandardError}");
        string error = result.StandardError.Trim();
        Assert.DoesNotContain('\n', error);
        Assert.StartsWith("gpumlp: error: ", error, StringComparison.Ordinal);
        foreach (string mention in mentions)
            Assert.Contains(mention, error, StringComparison.Ordinal);
    }

    public static Result Run(TimeSpan timeout, params string[] arguments)
    {
        using var process = Process.Start(StartInfo(arguments))!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"gpumlp {string.Join(' ', arguments)} ran longer than {timeout}");
        }
        return new Result(process.ExitCode, stdout.Result, stderr.Result);
    }
}
