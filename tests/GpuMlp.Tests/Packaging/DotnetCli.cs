using System.Diagnostics;
using System.Text;
using GpuMlp.Tests.Cli;

namespace GpuMlp.Tests.Packaging;

/// <summary>Runs the dotnet CLI and installed programs as child processes, with an environment
/// cleaned of what the test host's own `dotnet test` put there.</summary>
public static class DotnetCli
{
    /// <summary>The dotnet host running the tests (DOTNET_HOST_PATH, else the one on PATH or in DOTNET_ROOT).</summary>
    public static string Host()
    {
        string? host = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH");
        if (!string.IsNullOrEmpty(host) && File.Exists(host))
            return host;
        string name = OperatingSystem.IsWindows() ? "dotnet.exe" : "dotnet";
        foreach (string dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            string candidate = Path.Combine(dir, name);
            if (File.Exists(candidate))
                return candidate;
        }
        string? root = Environment.GetEnvironmentVariable("DOTNET_ROOT");
        if (root is not null && File.Exists(Path.Combine(root, name)))
            return Path.Combine(root, name);
        throw new InvalidOperationException("cannot find the dotnet host");
    }

    /// <summary>Runs <paramref name="fileName"/> in <paramref name="workingDirectory"/> and returns
    /// its exit code and output; kills it (and its children) after <paramref name="timeout"/>.
    /// MSBuild's variables from the `dotnet test` that started this process are removed, so a child
    /// `dotnet pack` evaluates projects as a fresh command line would; DOTNET_ROOT points at the
    /// running SDK so an installed tool's launcher finds the runtime wherever it is installed.</summary>
    public static CliProcess.Result Run(string fileName, IEnumerable<string> arguments, string workingDirectory, TimeSpan timeout)
    {
        var info = new ProcessStartInfo(fileName)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (string argument in arguments)
            info.ArgumentList.Add(argument);
        foreach (string key in info.Environment.Keys.Where(k => k.StartsWith("MSBUILD", StringComparison.OrdinalIgnoreCase)).ToArray())
            info.Environment.Remove(key);
        info.Environment["DOTNET_ROOT"] = Path.GetDirectoryName(Host());
        info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        info.Environment["DOTNET_NOLOGO"] = "1";
        info.Environment["NO_COLOR"] = "1";
        using var process = Process.Start(info)!;
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{fileName} {string.Join(' ', arguments)} ran longer than {timeout}");
        }
        return new CliProcess.Result(process.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>"exit 1" and the last lines of both streams, for assertion messages.</summary>
    public static string Describe(CliProcess.Result result)
    {
        static string Tail(string text) => string.Join("\n", text.TrimEnd().Split('\n').TakeLast(25));
        return new StringBuilder()
            .Append("exit ").Append(result.ExitCode)
            .Append("\n--- stdout (tail) ---\n").Append(Tail(result.StandardOutput))
            .Append("\n--- stderr (tail) ---\n").Append(Tail(result.StandardError))
            .ToString();
    }
}
