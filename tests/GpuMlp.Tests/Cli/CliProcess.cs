using System.Diagnostics;

namespace GpuMlp.Tests.Cli;

/// <summary>Runs the real gpumlp CLI (built next to the tests) as a child process.</summary>
public static class CliProcess
{
    public static string CliDll => Path.Combine(AppContext.BaseDirectory, "gpumlp.dll");

    public static ProcessStartInfo StartInfo(params string[] arguments)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(CliDll);
        foreach (var argument in arguments)
            info.ArgumentList.Add(argument);
        info.Environment["NO_COLOR"] = "1";
        return info;
    }

    public sealed record Result(int ExitCode, string StandardOutput, string StandardError);

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
