using System.Text.Json;
using GpuMlp.Models;
using GpuMlp.Tests.Cli;
using Microsoft.ML.OnnxRuntime;

namespace GpuMlp.Tests.Export;

/// <summary>A colour model (3x8x8, four classes named in non-sorted order, trained for one epoch)
/// exported as ONNX by `gpumlp export` and by <see cref="MnistModel.ExportOnnx"/>: ONNX Runtime
/// predicts what `eval` does on every test image, and the metadata holds the input shape and the
/// class names.</summary>
[Collection(DeviceCollection.Name)]
public sealed class ColourOnnxExportTests(ColourModelFixture colour) : IClassFixture<ColourModelFixture>
{
    [Fact]
    public void Export_ColourModel_OnnxRuntimeAgreesWithEvalAndMetadataHoldsTheSchema()
    {
        string fromCli = Path.Combine(colour.Root, "cli.onnx");
        var export = CliProcess.Run(TimeSpan.FromMinutes(1), "export", "--model", colour.ModelPath, "--out", fromCli);
        Assert.True(export.ExitCode == 0, export.StandardError);
        string fromApi = Path.Combine(colour.Root, "api.onnx");
        using (var model = MnistModel.Load(colour.ModelPath, TestDevice.RequestedName))
            model.ExportOnnx(fromApi);

        var data = colour.Data;
        var shape = data.Schema.Shape;
        int count = data.Test.Count, classes = data.Schema.Classes;
        float[] input = [.. data.Test.Pixels.Select(p => p / 255f)];
        foreach (string path in new[] { fromCli, fromApi })
        {
            using var session = new InferenceSession(path);
            var metadata = session.ModelMetadata.CustomMetadataMap;
            Assert.Equal("3x8x8", metadata[ModelSchema.InputShapeKey]);
            Assert.Equal(["north", "east", "south", "west"], JsonSerializer.Deserialize<string[]>(metadata[ModelSchema.ClassNamesKey])!);
            Assert.Equal("resize", metadata[ModelSchema.PreprocessKey]);

            using var tensor = OrtValue.CreateTensorValueFromMemory(input, [count, shape.Channels, shape.Height, shape.Width]);
            using var runOptions = new RunOptions();
            using var outputs = session.Run(runOptions, ["input"], [tensor], ["probabilities"]);
            float[] probabilities = outputs[0].GetTensorDataAsSpan<float>().ToArray();
            var confusion = new long[classes, classes];
            for (int n = 0; n < count; n++)
            {
                var row = probabilities.AsSpan(n * classes, classes);
                int predicted = row.IndexOf(MaxOf(row));
                confusion[data.Test.Labels[n], predicted]++;
                if (n < ColourModelFixture.Images)
                    Assert.Equal(colour.Predicted(n), predicted);
            }
            // eval's confusion matrix is ONNX Runtime's, image for image counted.
            Assert.Equal(colour.Evaluation.Report.Confusion, confusion);
        }
    }

    private static float MaxOf(ReadOnlySpan<float> values)
    {
        float max = values[0];
        foreach (float v in values)
            max = Math.Max(max, v);
        return max;
    }
}
