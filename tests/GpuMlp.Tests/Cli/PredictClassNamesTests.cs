using System.Text.Json;
using GpuMlp.Cli;
using GpuMlp.Data;
using GpuMlp.Imaging;
using GpuMlp.Models;
using GpuMlp.Training;
using Spectre.Console;

namespace GpuMlp.Tests.Cli;

/// <summary>`gpumlp predict` on a colour model: images prepared as the model records ("resize"),
/// classes printed by name with their top-k probabilities, the --json document's fields, and the
/// per-class table `eval` prints by class name.</summary>
[Collection(DeviceCollection.Name)]
public sealed class PredictClassNamesTests(ColourModelFixture colour) : IClassFixture<ColourModelFixture>
{
    private static readonly string[] Compass = ["north", "east", "south", "west"];

    /// <summary>A table's column separators, Unicode or ASCII as the console renders them.</summary>
    private static readonly char[] Borders = ['│', '|'];

    [Fact]
    public void Predict_ColourModel_RecordsResizeAndPrintsClassNamesWithTopK()
    {
        Assert.Equal(ImagePreprocessing.Resize, TrainedModel.Load(colour.ModelPath).Preprocessing);
        var result = CliProcess.Run(TimeSpan.FromMinutes(2),
            ["predict", "--model", colour.ModelPath, "--device", TestDevice.RequestedName, "--top", "2", .. colour.Exact]);
        Assert.True(result.ExitCode == 0, result.StandardError);
        string[] lines = result.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(colour.Exact.Length, lines.Length);
        for (int i = 0; i < lines.Length; i++)
        {
            string name = Compass[colour.Predicted(i)];
            Assert.StartsWith($"{colour.Exact[i]}: {name}  ({name} ", lines[i], StringComparison.Ordinal);
            // --top 2: the predicted class and one alternative, each with its probability.
            Assert.Equal(2, lines[i].Count(c => c == '%'));
        }
    }

    [Fact]
    public void Predict_Json_IsOneDocumentWithStableFields()
    {
        string[] images = [.. colour.Exact, .. colour.Enlarged];
        var result = CliProcess.Run(TimeSpan.FromMinutes(2),
            ["predict", "--model", colour.ModelPath, "--device", TestDevice.RequestedName, "--json", "--top", "4", .. images]);
        Assert.True(result.ExitCode == 0, result.StandardError);
        using var json = JsonDocument.Parse(result.StandardOutput);
        var root = json.RootElement;
        Assert.Equal(colour.ModelPath, root.GetProperty("model").GetString());
        Assert.Equal("resize", root.GetProperty("preprocess").GetString());
        var predictions = root.GetProperty("predictions").EnumerateArray().ToArray();
        Assert.Equal(images.Length, predictions.Length);
        for (int k = 0; k < images.Length; k++)
        {
            var p = predictions[k];
            int i = k % ColourModelFixture.Images;
            Assert.Equal(images[k], p.GetProperty("file").GetString());
            int index = p.GetProperty("class_index").GetInt32();
            Assert.Equal(Compass[index], p.GetProperty("class_name").GetString());
            var top = p.GetProperty("top").EnumerateArray().ToArray();
            Assert.Equal(4, top.Length);
            Assert.Equal(index, top[0].GetProperty("class_index").GetInt32());
            Assert.Equal(p.GetProperty("probability").GetSingle(), top[0].GetProperty("probability").GetSingle());
            Assert.Equal(Compass.Order(StringComparer.Ordinal), top.Select(t => t.GetProperty("class_name").GetString()!).Order(StringComparer.Ordinal));
            float[] probabilities = [.. top.Select(t => t.GetProperty("probability").GetSingle())];
            Assert.Equal(probabilities.OrderDescending(), probabilities);
            Assert.Equal(1.0, probabilities.Sum(), 1e-5);
            if (k < ColourModelFixture.Images)
            {
                // The 8x8 file is read back exactly: the model's own prediction on the test image.
                Assert.Equal(colour.Predicted(i), index);
            }
            else if (colour.Probabilities[i].Max() > 0.9f)
            {
                // 4x4 blocks shrink back to the original pixels.
                Assert.True(colour.Predicted(i) == index, $"{images[k]}: predicted {index}, the model says {colour.Predicted(i)}");
            }
        }
    }

    [Fact]
    public void Predict_DigitPreprocessOnColourModel_IsAOneLineUsageErrorBeforeReadingImages()
    {
        var result = CliProcess.Run(TimeSpan.FromMinutes(1),
            ["predict", "--model", colour.ModelPath, "--device", "cpu", "--preprocess", "digit", Path.Combine(colour.Root, "missing.png")]);
        Assert.Equal(2, result.ExitCode);
        string error = result.StandardError.Trim();
        Assert.DoesNotContain('\n', error);
        Assert.Contains("mnist-digit preprocessing prepares digit images of 1x28x28, not 3x8x8", error, StringComparison.Ordinal);

        var unknown = CliProcess.Run(TimeSpan.FromMinutes(1),
            ["predict", "--model", colour.ModelPath, "--device", "cpu", "--preprocess", "crop", colour.Exact[0]]);
        Assert.Equal(2, unknown.ExitCode);
        Assert.Contains("--preprocess must be digit or resize (got 'crop')", unknown.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public void Predict_TwoClassGrayModelWithoutTop_ShowsBothClassesResized()
    {
        var schema = new ImageSchema(new ImageShape(1, 4, 4), ["yes", "no"]);
        var network = NetworkInput.Mlp([8], schema, 0f);
        var metadata = new Dictionary<string, string>();
        ModelSchema.Record(metadata, schema);
        string model = Path.Combine(colour.Root, "yes-no.safetensors");
        ModelFile.SaveMlp(model, network, network.InitialParameters(1), metadata);
        var result = CliProcess.Run(TimeSpan.FromMinutes(1), ["predict", "--model", model, "--device", "cpu", colour.Enlarged[0]]);
        Assert.True(result.ExitCode == 0, result.StandardError);
        string line = result.StandardOutput.Trim();
        Assert.Matches(@"^\S+: (yes|no)  \((yes|no) \d+\.\d ?%, (yes|no) \d+\.\d ?%\)$", line);
        Assert.Contains("yes ", line, StringComparison.Ordinal);
        Assert.Contains("no ", line, StringComparison.Ordinal);
    }

    [Fact]
    public void ReportTable_ColourModel_NamesEachClass()
    {
        var writer = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(writer), ColorSystem = ColorSystemSupport.NoColors });
        console.Profile.Width = 120;
        console.Write(Output.ReportTable(colour.Evaluation.Report, colour.Data.Schema.ClassNames));
        string[] rows = writer.ToString().Split('\n');
        foreach (string name in Compass)
            Assert.Single(rows, row => row.Split(Borders, StringSplitOptions.TrimEntries).Contains(name));
        string[] firstColumn = [.. rows.Select(r => r.Split(Borders, StringSplitOptions.TrimEntries)).Where(c => c.Length > 2).Select(c => c[1])];
        // In label order, as the model names its classes.
        Assert.Equal([.. Compass, "macro", "weighted"], firstColumn.Where(c => Compass.Contains(c) || c is "macro" or "weighted"));
    }
}
