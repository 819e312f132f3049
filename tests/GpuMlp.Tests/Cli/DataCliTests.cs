using System.Text;
using GpuMlp.Models;
using GpuMlp.Runs;
using GpuMlp.Tests.Data;

namespace GpuMlp.Tests.Cli;

/// <summary>`--data` beyond MNIST's folder through the real CLI: a Kaggle-style CSV and an EMNIST-style
/// IDX folder train and evaluate end to end; every bad input or option is one line on stderr with
/// its documented exit code (2 usage, 3 data), and nothing is written into the data folders.</summary>
[Collection(DeviceCollection.Name)]
public sealed class DataCliTests : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(3);
    private readonly TempDir dir = new();

    public void Dispose() => dir.Dispose();

    private string Write(string name, string text) => dir.Write(name, Encoding.UTF8.GetBytes(text));

    [Fact]
    public void TrainAndEval_KaggleCsvFile_RunEndToEndOnItsDrawnSplit()
    {
        var mnist = RealMnist.Load();
        string csv = Write("digits.csv", KaggleCsv.Text(mnist.Train, withLabels: true, count: 600));
        string run = Path.Combine(dir.Path, "run");

        var train = CliProcess.Run(Timeout, "train", "--device", TestDevice.RequestedName, "--data", csv, "--epochs", "1", "--hidden", "16",
            "--test-split", "0.25", "--split-seed", "3", "--out", run);

        Assert.True(train.ExitCode == 0, train.StandardError);
        Assert.Contains("test split drawn from", train.StandardOutput, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(run, RunArtifacts.ModelFileName)));
        var eval = CliProcess.Run(Timeout, "eval", "--model", run, "--device", TestDevice.RequestedName, "--data", csv, "--test-split", "0.25", "--split-seed", "3");
        Assert.True(eval.ExitCode == 0, eval.StandardError);
        Assert.Contains("test accuracy", eval.StandardOutput, StringComparison.Ordinal);
        Assert.Equal(["digits.csv"], dir.Files());

        // A model of MNIST-shaped digits refuses a CSV of other images, before reading further.
        string small = Write("small.csv", KaggleCsv.Synthetic(4, [0, 1, 2, 0, 1, 2], 6));
        CliProcess.AssertOneLineError(CliProcess.Run(Timeout, "eval", "--model", run, "--device", TestDevice.RequestedName, "--data", small), 2,
            "was trained on 1x28x28 images, 10 classes", "the data holds 1x4x4 images, 3 classes");
    }

    [Fact]
    public void Train_EmnistStyleIdxFolder_NamesClassesFromTheMapping()
    {
        string data = Path.Combine(dir.Path, "letters");
        Directory.CreateDirectory(data);
        byte[] labels = [.. Enumerable.Range(0, 60).Select(i => (byte)(1 + (i % 3)))];
        File.WriteAllBytes(Path.Combine(data, "emnist-letters-train-images-idx3-ubyte"), Idx.Images(60, 6, 6, Idx.Pixels(60 * 36)));
        File.WriteAllBytes(Path.Combine(data, "emnist-letters-train-labels-idx1-ubyte"), Idx.Labels(labels));
        string mapping = Write("letters-mapping.txt", "1 65 97\n2 66 98\n3 67 99\n");
        string run = Path.Combine(dir.Path, "run");

        var train = CliProcess.Run(Timeout, "train", "--device", TestDevice.RequestedName, "--data", data, "--idx-transposed", "--class-names", mapping,
            "--epochs", "1", "--hidden", "8", "--batch-size", "8", "--out", run);

        Assert.True(train.ExitCode == 0, train.StandardError);
        var model = TrainedModel.Load(run);
        Assert.Equal(["A", "B", "C"], model.Schema.ClassNames);
        Assert.Equal("1x6x6", model.Schema.Shape.ToString());
        Assert.Equal(2, Directory.GetFiles(data).Length);
    }

    [Fact]
    public void Train_BadDataOrDataOption_IsOneLineWithItsExitCode()
    {
        string csv = Write("ok.csv", KaggleCsv.Synthetic(2, [0, 1, 0, 1, 0, 1, 0, 1], 8));
        string shortRow = Write("short.csv", "label,pixel0,pixel1,pixel2,pixel3\n1,0,0,0,0\n0,0,0,0\n");
        string notCsv = Write("notes.txt", "hello\n");
        string idx = Path.Combine(dir.Path, "idx");
        Directory.CreateDirectory(idx);
        File.WriteAllBytes(Path.Combine(idx, "x-train-images-idx3-ubyte"), Idx.Images(3, 4, 4, Idx.Pixels(48)));
        File.WriteAllBytes(Path.Combine(idx, "x-train-labels-idx1-ubyte"), Idx.Labels(0, 1));
        string[] Train(params string[] extra) =>
            ["train", "--device", TestDevice.RequestedName, "--epochs", "1", "--hidden", "8", "--out", Path.Combine(dir.Path, "out"), .. extra];

        CliProcess.AssertOneLineError(CliProcess.Run(Timeout, Train("--data", shortRow)), 3, "short.csv line 3: 4 values, the header has 5 columns");
        CliProcess.AssertOneLineError(CliProcess.Run(Timeout, Train("--data", idx)), 3, "x-train-images-idx3-ubyte has 3 images but", "has 2 labels");
        CliProcess.AssertOneLineError(CliProcess.Run(Timeout, Train("--data", notCsv)), 2, "notes.txt is a file but not a .csv");
        CliProcess.AssertOneLineError(CliProcess.Run(Timeout, Train("--data", csv, "--channels", "purple")), 2, "--channels must be auto, gray or rgb");
        CliProcess.AssertOneLineError(CliProcess.Run(Timeout, Train("--data", csv, "--test-split", "1")), 2, "--test-split must be in (0, 1)");
        CliProcess.AssertOneLineError(CliProcess.Run(Timeout, Train("--data", csv, "--image-size", "0")), 2, "--image-size must be in 1..");
        CliProcess.AssertOneLineError(CliProcess.Run(Timeout, Train("--data", csv, "--class-names", Path.Combine(dir.Path, "absent.txt"))), 2, "--class-names", "absent.txt");
        CliProcess.AssertOneLineError(CliProcess.Run(Timeout, Train("--split-seed", "2")), 2, "--test-split and --split-seed draw a test split for data without one");
        Assert.False(Directory.Exists(Path.Combine(dir.Path, "out")), "a run folder was made for a run that never started");
    }
}
