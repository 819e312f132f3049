using System.Diagnostics;
using GpuMlp.Tests.Cli;

namespace GpuMlp.Tests.Serve;

/// <summary>`gpumlp serve` as a real process: it answers on the port it prints, SIGTERM lets it
/// finish and exit 0, and bad options are one-line usage errors before any device work.</summary>
[Collection(ServeCollection.Name)]
public sealed class ServeCommandTests(ServeFixture fixture)
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Serve_Sigterm_AnswersInFlightRequestsAndExitsZero()
    {
        Assert.SkipWhen(OperatingSystem.IsWindows(), "SIGTERM is a POSIX signal");
        var info = CliProcess.StartInfo("serve", "--model", $"digits={fixture.DigitsPath}", "--port", "0", "--device", TestDevice.RequestedName, "--max-wait-ms", "50");
        using var process = Process.Start(info)!;
        var stderr = process.StandardError.ReadToEndAsync(Cancel);
        try
        {
            string? line;
            Uri? address = null;
            var output = new List<string>();
            while ((line = await process.StandardOutput.ReadLineAsync(Cancel)) is not null)
            {
                output.Add(line);
                if (line.StartsWith("listening on ", StringComparison.Ordinal))
                {
                    address = new Uri(line.Split(' ')[2]);
                    break;
                }
            }
            if (address is null)
                Assert.Fail($"no 'listening on' line: {string.Join('\n', output)} {await stderr}");
            Assert.Equal("127.0.0.1", address.Host);
            using var client = new HttpClient { BaseAddress = address };
            byte[] png = await File.ReadAllBytesAsync(fixture.DigitPngs[0], Cancel);
            using (var content = new ByteArrayContent(png))
            using (var response = await client.PostAsync("/predict", content, Cancel))
                Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
            // Requests in flight when SIGTERM arrives (each waits up to 50 ms for its batch) are answered.
            var inFlight = Enumerable.Range(0, 4).Select(_ => client.PostAsync("/predict", new ByteArrayContent(png), Cancel)).ToArray();
            await Task.Delay(10, Cancel);
            using (var kill = Process.Start("kill", ["-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
                await kill.WaitForExitAsync(Cancel);
            foreach (var request in inFlight)
            {
                try
                {
                    using var response = await request;
                    Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
                }
                catch (HttpRequestException)
                {
                    // Sent after the listener closed: refused, never half-answered.
                }
            }
            string rest = await process.StandardOutput.ReadToEndAsync(Cancel);
            Assert.True(process.WaitForExit(TimeSpan.FromSeconds(30)), "serve did not stop within 30 s of SIGTERM");
            Assert.True(process.ExitCode == 0, $"exit {process.ExitCode}: {await stderr}");
            Assert.Contains("stopped", rest, StringComparison.Ordinal);
        }
        finally
        {
            if (!process.HasExited)
                process.Kill(entireProcessTree: true);
        }
    }

    [Theory]
    [InlineData("--max-batch", "0", "--max-batch must be in 1..4096")]
    [InlineData("--max-wait-ms", "-1", "--max-wait-ms must be in 0..1000")]
    [InlineData("--queue", "0", "--queue must be in 1..1000000")]
    [InlineData("--host", "example.com", "--host must be an IP address")]
    [InlineData("--port", "70000", "--port must be in 0..65535")]
    [InlineData("--api-key", "short", "at least 8 characters")]
    [InlineData("--max-body-bytes", "10", "--max-body-bytes must be in")]
    public void Serve_BadOption_IsAOneLineUsageError(string option, string value, string says)
    {
        var result = CliProcess.Run(TimeSpan.FromMinutes(1), "serve", "--model", fixture.DigitsPath, option, value);
        Assert.Equal(2, result.ExitCode);
        string error = result.StandardError.Trim();
        Assert.DoesNotContain('\n', error);
        Assert.Contains(says, error, StringComparison.Ordinal);
        Assert.StartsWith("gpumlp: error: ", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Serve_PortTaken_IsAOneLineUsageErrorNamingIt()
    {
        using var taken = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        taken.Start();
        int port = ((System.Net.IPEndPoint)taken.LocalEndpoint).Port;
        var result = CliProcess.Run(TimeSpan.FromMinutes(2), "serve", "--model", fixture.DigitsPath, "--device", TestDevice.RequestedName, "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(2, result.ExitCode);
        string error = result.StandardError.Trim();
        Assert.DoesNotContain('\n', error);
        Assert.Contains($"cannot listen on 127.0.0.1:{port}", error, StringComparison.Ordinal);
        Assert.Contains("--port", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Serve_TwoModelsOfOneName_IsAUsageErrorAndAMissingModelADataError()
    {
        var twice = CliProcess.Run(TimeSpan.FromMinutes(1), "serve", "--model", $"a={fixture.DigitsPath}", "--model", $"a={fixture.CompassPath}");
        Assert.Equal(2, twice.ExitCode);
        Assert.Contains("two models are named 'a'", twice.StandardError, StringComparison.Ordinal);
        var missing = CliProcess.Run(TimeSpan.FromMinutes(1), "serve", "--model", Path.Combine(fixture.Root, "nothing-here"));
        Assert.Equal(3, missing.ExitCode);
        Assert.Contains("nothing-here", missing.StandardError, StringComparison.Ordinal);
    }
}
