using System.Diagnostics;
using GpuMlp.Tests.Data;
using GpuMlp.Training;

namespace GpuMlp.Tests.Cli;

/// <summary>Kills a real `gpumlp train` process and resumes it: the final weights must be
/// bit-identical to an uninterrupted run on the same (CPU) device.</summary>
[Collection(DeviceCollection.Name)]
public sealed class ResumeTests : IDisposable
{
    private readonly string root = Directory.CreateTempSubdirectory("gpumlp-resume-").FullName;

    public void Dispose() => Directory.Delete(root, recursive: true);

    private string[] TrainArguments(string outDir) =>
    [
        "train", "--device", TestDevice.RequestedName, "--data", RealMnist.RealMnistDir(), "--epochs", "5", "--limit-train", "2000",
        "--hidden", "64,32", "--batch-size", "50", "--seed", "9", "--out", outDir,
    ];

    [Fact]
    public void Resume_AfterSigkill_IsBitIdenticalToAnUninterruptedRun()
    {
        string straight = Path.Combine(root, "straight"), killed = Path.Combine(root, "killed");
        var reference = CliProcess.Run(TimeSpan.FromMinutes(3), TrainArguments(straight));
        Assert.True(reference.ExitCode == 0, reference.StandardError);

        // Start the same run and SIGKILL it as soon as its first checkpoint exists.
        using (var process = Process.Start(CliProcess.StartInfo(TrainArguments(killed)))!)
        {
            _ = process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
            _ = process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
            string checkpointPath = Path.Combine(killed, Checkpoint.FileName);
            var deadline = DateTime.UtcNow.AddMinutes(3);
            while (!File.Exists(checkpointPath) && !process.HasExited && DateTime.UtcNow < deadline)
                Thread.Sleep(10);
            Assert.False(process.HasExited, "the run finished before it could be killed");
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
        }
        var interrupted = Checkpoint.Load(Path.Combine(killed, Checkpoint.FileName));
        Assert.InRange(interrupted.State.EpochsCompleted, 1, 4);
        Assert.False(File.Exists(Path.Combine(killed, "metrics.json")));

        var resumed = CliProcess.Run(TimeSpan.FromMinutes(3), "train", "--resume", killed, "--device", TestDevice.RequestedName, "--data", RealMnist.RealMnistDir());
        Assert.True(resumed.ExitCode == 0, resumed.StandardError);
        Assert.Contains("resuming", resumed.StandardOutput, StringComparison.Ordinal);

        var a = Checkpoint.Load(Path.Combine(straight, Checkpoint.FileName));
        var b = Checkpoint.Load(Path.Combine(killed, Checkpoint.FileName));
        Assert.Equal(5, b.State.EpochsCompleted);
        Assert.Equal(a.State.OptimizerSteps, b.State.OptimizerSteps);
        Assert.True(a.Parameters.AsSpan().SequenceEqual(b.Parameters), "resumed weights differ from the uninterrupted run");
        Assert.True(a.Optimizer.Tensors[Optimizers.ExpAvg].AsSpan().SequenceEqual(b.Optimizer.Tensors[Optimizers.ExpAvg])
            && a.Optimizer.Tensors[Optimizers.ExpAvgSq].AsSpan().SequenceEqual(b.Optimizer.Tensors[Optimizers.ExpAvgSq]));
        Assert.Equal(a.State.History.Select(e => e.TrainLoss), b.State.History.Select(e => e.TrainLoss));
        Assert.Equal(File.ReadAllText(Path.Combine(straight, "history.csv")).Split('\n').Length,
            File.ReadAllText(Path.Combine(killed, "history.csv")).Split('\n').Length);
        var metricsA = GpuMlp.Runs.RunArtifacts.ReadMetrics(Path.Combine(straight, "metrics.json"));
        var metricsB = GpuMlp.Runs.RunArtifacts.ReadMetrics(Path.Combine(killed, "metrics.json"));
        Assert.Equal(metricsA.Test.Accuracy, metricsB.Test.Accuracy);
    }
}

/// <summary>SIGTERM mid-epoch: the CLI finishes the step, writes a mid-epoch checkpoint, exits 130,
/// and --resume continues from that step to the same weights as an uninterrupted run.</summary>
[Collection(DeviceCollection.Name)]
public sealed class InterruptTests : IDisposable
{
    private readonly string root = Directory.CreateTempSubdirectory("gpumlp-sigterm-").FullName;

    public void Dispose() => Directory.Delete(root, recursive: true);

    private string[] TrainArguments(string outDir) =>
    [
        "train", "--device", TestDevice.RequestedName, "--data", RealMnist.RealMnistDir(), "--epochs", "2", "--limit-train", "12000",
        "--hidden", "256,64", "--batch-size", "32", "--seed", "21", "--out", outDir,
    ];

    [Fact]
    public async Task Train_Sigterm_WritesAMidEpochCheckpointThatResumesBitIdentically()
    {
        string straight = Path.Combine(root, "straight"), stopped = Path.Combine(root, "stopped");
        var reference = CliProcess.Run(TimeSpan.FromMinutes(4), TrainArguments(straight));
        Assert.True(reference.ExitCode == 0, reference.StandardError);

        using (var process = new Process { StartInfo = CliProcess.StartInfo(TrainArguments(stopped)) })
        {
            // The signal is sent when epoch 1 prints its first progress line (a quarter of the way
            // through; the output is redirected, so progress comes as plain lines): a fixed delay
            // cannot tell a slow start from a fast epoch (the CPU SIMD kernels run one in ~0.5 s).
            var inEpoch1 = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            process.OutputDataReceived += (_, line) =>
            {
                if (line.Data?.StartsWith("epoch 1/", StringComparison.Ordinal) == true)
                    inEpoch1.TrySetResult();
            };
            Assert.True(process.Start());
            process.BeginOutputReadLine();
            var stderr = process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
            var first = await Task.WhenAny(inEpoch1.Task, Task.Delay(TimeSpan.FromMinutes(3), TestContext.Current.CancellationToken));
            Assert.True(first == inEpoch1.Task, "no progress line from epoch 1");
            Assert.False(process.HasExited, "the run finished before it could be interrupted");
            using (var kill = Process.Start("kill", ["-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
                kill.WaitForExit();
            Assert.True(process.WaitForExit(TimeSpan.FromMinutes(2)), "gpumlp did not exit after SIGTERM");
            Assert.Equal(130, process.ExitCode);
            string error = await stderr;
            Assert.Contains("interrupted", error, StringComparison.Ordinal);
            Assert.Contains("--resume", error, StringComparison.Ordinal);
            Assert.DoesNotContain("   at ", error, StringComparison.Ordinal);
        }
        var interrupted = Checkpoint.Load(Path.Combine(stopped, Checkpoint.FileName));
        Assert.True(interrupted.State.StepsIntoEpoch > 0, $"expected a mid-epoch checkpoint, got one after epoch {interrupted.State.EpochsCompleted}");
        Assert.Equal(interrupted.State.StepsIntoEpoch * 32, interrupted.Partial!.SampleLoss.Length);

        var resumed = CliProcess.Run(TimeSpan.FromMinutes(4), "train", "--resume", stopped, "--device", TestDevice.RequestedName, "--data", RealMnist.RealMnistDir());
        Assert.True(resumed.ExitCode == 0, resumed.StandardError);
        var a = Checkpoint.Load(Path.Combine(straight, Checkpoint.FileName));
        var b = Checkpoint.Load(Path.Combine(stopped, Checkpoint.FileName));
        Assert.Equal(0, b.State.StepsIntoEpoch);
        Assert.True(a.Parameters.AsSpan().SequenceEqual(b.Parameters), "weights after a SIGTERM and --resume differ from the uninterrupted run");
        Assert.Equal(a.State.History.Select(e => (e.TrainLoss, e.TrainAccuracy, e.ValLoss)), b.State.History.Select(e => (e.TrainLoss, e.TrainAccuracy, e.ValLoss)));
    }
}
