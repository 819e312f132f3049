using System.Text.Json;
using GpuMlp.Cli;
using GpuMlp.Data;
using GpuMlp.Runs;
using GpuMlp.Tests.Data;

namespace GpuMlp.Tests.Cli;

/// <summary>`gpumlp predict --data` (every image of a dataset's split, read as eval reads it) and
/// `predict FOLDER` (every image file inside) through the real CLI: the predictions agree with
/// eval, image folders name each image by its file, --out is written whole and never inside the
/// data, and misplaced options are one-line usage errors.</summary>
[Collection(DeviceCollection.Name)]
public sealed class PredictDataTests(TrainedRunFixture run) : IClassFixture<TrainedRunFixture>, IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(2);
    private readonly TempDir dir = new();

    public void Dispose() => dir.Dispose();

    /// <summary>MNIST test images [from, to) as gray PNGs in root/split/label/index.png.</summary>
    private static void WriteMnistPngs(string root, string split, int from, int to)
    {
        ImageSet mnist = RealMnist.Load().Test;
        for (int i = from; i < to; i++)
        {
            string path = Path.Combine(root, split, mnist.Labels[i].ToString(System.Globalization.CultureInfo.InvariantCulture), $"{i:D5}.png");
            GrayPng.Write(path, mnist.Image(i), 28, 28);
        }
    }

    [Fact]
    public void PredictData_MnistTestSplit_GivesEvalsAccuracyForEveryImage()
    {
        Assert.True(run.TrainOutput.ExitCode == 0, run.TrainOutput.StandardError);
        var recorded = RunArtifacts.ReadMetrics(Path.Combine(run.RunDir, "metrics.json")).Test;

        var predict = CliProcess.Run(Timeout, "predict", "--model", run.RunDir, "--device", TestDevice.RequestedName, "--data", RealMnist.RealMnistDir(), "--json");

        Assert.True(predict.ExitCode == 0, predict.StandardError);
        using var json = JsonDocument.Parse(predict.StandardOutput);
        var root = json.RootElement;
        Assert.Equal("test", root.GetProperty("split").GetString());
        Assert.Equal(10000, root.GetProperty("images").GetInt32());
        var rows = root.GetProperty("predictions").EnumerateArray().ToArray();
        Assert.Equal(10000, rows.Length);
        int correct = rows.Count(row => row.GetProperty("correct").GetBoolean());
        Assert.Equal(recorded.Accuracy, (double)correct / rows.Length, 12);
        Assert.Equal(10000 - correct, root.GetProperty("wrong").GetInt32());
        var mnist = RealMnist.Load().Test;
        for (int i = 0; i < rows.Length; i += 997)
        {
            Assert.Equal(i, rows[i].GetProperty("index").GetInt32());
            Assert.Equal(mnist.Labels[i], rows[i].GetProperty("label_index").GetInt32());
            bool right = rows[i].GetProperty("class_index").GetInt32() == mnist.Labels[i];
            Assert.Equal(right, rows[i].GetProperty("correct").GetBoolean());
            Assert.Equal(3, rows[i].GetProperty("top").GetArrayLength());
        }
        Assert.Contains("10000 test images", predict.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public void PredictData_ImageFolder_NamesEachImageByItsFileAndAgreesWithEval()
    {
        Assert.True(run.TrainOutput.ExitCode == 0, run.TrainOutput.StandardError);
        string data = Path.Combine(dir.Path, "digits");
        WriteMnistPngs(data, "train", 0, 70);
        WriteMnistPngs(data, "test", 70, 130);
        string[] before = [.. Directory.EnumerateFiles(data, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal)];
        string outFile = Path.Combine(dir.Path, "predictions.csv");
        // Every class folder exists in both splits (MNIST's test images 0..69 and 70..129 each hold all ten digits).
        Assert.Equal(Directory.GetDirectories(Path.Combine(data, "train")).Length, Directory.GetDirectories(Path.Combine(data, "test")).Length);

        var predict = CliProcess.Run(Timeout, "predict", "--model", run.RunDir, "--device", TestDevice.RequestedName, "--data", data, "--out", outFile);
        var eval = CliProcess.Run(Timeout, "eval", "--model", run.RunDir, "--device", TestDevice.RequestedName, "--data", data, "--json");

        Assert.True(predict.ExitCode == 0, predict.StandardError);
        Assert.True(eval.ExitCode == 0, eval.StandardError);
        string[] lines = File.ReadAllLines(outFile);
        Assert.Equal(DatasetPredictions.Header, lines[0]);
        Assert.Equal(61, lines.Length);
        var mnist = RealMnist.Load().Test;
        var fields = lines.Skip(1).Select(line => line.Split(',')).ToArray();
        // The folder lists the test split by class folder, then by file name.
        int[] expectedOrder = [.. Enumerable.Range(70, 60).OrderBy(i => mnist.Labels[i]).ThenBy(i => i)];
        for (int k = 0; k < fields.Length; k++)
        {
            int image = expectedOrder[k];
            Assert.Equal(k.ToString(System.Globalization.CultureInfo.InvariantCulture), fields[k][0]);
            Assert.Equal($"test/{mnist.Labels[image]}/{image:D5}.png", fields[k][1]);
            Assert.Equal(mnist.Labels[image].ToString(System.Globalization.CultureInfo.InvariantCulture), fields[k][2]);
            Assert.Equal(fields[k][2] == fields[k][3] ? "true" : "false", fields[k][5]);
        }
        using var evalJson = JsonDocument.Parse(eval.StandardOutput);
        double evalAccuracy = evalJson.RootElement.GetProperty("test").GetProperty("accuracy").GetDouble();
        Assert.Equal(evalAccuracy, fields.Count(f => f[5] == "true") / 60.0, 12);
        Assert.Equal(before, Directory.EnumerateFiles(data, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal));

        // --wrong-only keeps the wrong lines, in the same form.
        var wrong = CliProcess.Run(Timeout, "predict", "--model", run.RunDir, "--device", TestDevice.RequestedName, "--data", data, "--wrong-only");
        Assert.True(wrong.ExitCode == 0, wrong.StandardError);
        string[] wrongLines = wrong.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(DatasetPredictions.Header, wrongLines[0]);
        Assert.Equal(lines.Skip(1).Where(line => line.EndsWith(",false", StringComparison.Ordinal)), wrongLines.Skip(1));

        // --split train lists the training split's files.
        var train = CliProcess.Run(Timeout, "predict", "--model", run.RunDir, "--device", TestDevice.RequestedName, "--data", data, "--split", "train");
        Assert.True(train.ExitCode == 0, train.StandardError);
        string[] trainLines = train.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(71, trainLines.Length);
        Assert.All(trainLines.Skip(1), line => Assert.Contains(",train/", line, StringComparison.Ordinal));
    }

    [Fact]
    public void PredictData_OutInsideTheDataOrExisting_IsRefusedAndNothingIsWritten()
    {
        string data = Path.Combine(dir.Path, "digits");
        WriteMnistPngs(data, "train", 0, 70);
        WriteMnistPngs(data, "test", 70, 130);
        string[] before = [.. Directory.EnumerateFiles(data, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal)];

        CliProcess.AssertOneLineError(CliProcess.Run(Timeout, "predict", "--model", run.RunDir, "--device", TestDevice.RequestedName, "--data", data, "--out", Path.Combine(data, "p.csv")),
            ExitCodes.Usage, "is inside the data");
        CliProcess.AssertOneLineError(CliProcess.Run(Timeout, "predict", "--model", run.RunDir, "--device", TestDevice.RequestedName, "--data", data, "--out", Path.Combine(data, "test", "3", "p.csv")),
            ExitCodes.Usage, "is inside the data");
        string existing = dir.Write("existing.csv", [1, 2, 3]);
        CliProcess.AssertOneLineError(CliProcess.Run(Timeout, "predict", "--model", run.RunDir, "--device", TestDevice.RequestedName, "--data", data, "--out", existing),
            ExitCodes.Usage, "already exists", "--overwrite");
        Assert.Equal([1, 2, 3], File.ReadAllBytes(existing));
        Assert.Equal(before, Directory.EnumerateFiles(data, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Predict_MisplacedDataOptions_AreOneLineUsageErrors()
    {
        string image = Path.Combine(dir.Path, "one.png");
        WriteMnistPngs(dir.Path, "x", 0, 1);
        File.Move(Directory.GetFiles(Path.Combine(dir.Path, "x", "7"))[0], image);
        string model = run.RunDir;
        string device = TestDevice.RequestedName;

        CliProcess.AssertOneLineError(CliProcess.Run(Timeout, "predict", "--model", model, "--device", device, "--split", "train", image), ExitCodes.Usage, "--split goes with --data");
        CliProcess.AssertOneLineError(CliProcess.Run(Timeout, "predict", "--model", model, "--device", device, "--wrong-only", image), ExitCodes.Usage, "--wrong-only goes with --data");
        CliProcess.AssertOneLineError(CliProcess.Run(Timeout, "predict", "--model", model, "--device", device, "--image-size", "28", image), ExitCodes.Usage, "--image-size goes with --data");
        CliProcess.AssertOneLineError(CliProcess.Run(Timeout, "predict", "--model", model, "--device", device, "--data", RealMnist.RealMnistDir(), image), ExitCodes.Usage, "one of them");
        CliProcess.AssertOneLineError(CliProcess.Run(Timeout, "predict", "--model", model, "--device", device, "--data", RealMnist.RealMnistDir(), "--preprocess", "digit"), ExitCodes.Usage, "--preprocess applies to image files");
        CliProcess.AssertOneLineError(CliProcess.Run(Timeout, "predict", "--model", model, "--device", device, "--data", RealMnist.RealMnistDir(), "--split", "validation"), ExitCodes.Usage, "--split must be test or train");
    }

    [Fact]
    public void Predict_FolderArgument_PredictsEveryImageInsideInPathOrder()
    {
        string folder = Path.Combine(dir.Path, "scans");
        WriteMnistPngs(folder, "batch", 0, 6);
        File.WriteAllText(Path.Combine(folder, "notes.txt"), "not an image");
        string[] expected = [.. Directory.EnumerateFiles(folder, "*.png", SearchOption.AllDirectories).Order(StringComparer.Ordinal)];
        string empty = Path.Combine(dir.Path, "empty");
        Directory.CreateDirectory(empty);

        var predict = CliProcess.Run(Timeout, "predict", "--model", run.RunDir, "--device", TestDevice.RequestedName, "--json", folder);

        Assert.True(predict.ExitCode == 0, predict.StandardError);
        using var json = JsonDocument.Parse(predict.StandardOutput);
        string[] files = [.. json.RootElement.GetProperty("predictions").EnumerateArray().Select(p => p.GetProperty("file").GetString()!)];
        Assert.Equal(expected, files);
        CliProcess.AssertOneLineError(CliProcess.Run(Timeout, "predict", "--model", run.RunDir, "--device", TestDevice.RequestedName, empty), ExitCodes.Usage, "a folder without image files");
    }
}
