using GpuMlp.Data;
using GpuMlp.Models;
using GpuMlp.Training;

namespace GpuMlp.Tests.Cli;

/// <summary>eval refuses a model of another dataset schema, and predict a preparation that cannot
/// make the model's images, with a one-line usage error, before reading any data or image.</summary>
public sealed class ImageSchemaCliTests : IDisposable
{
    private readonly TempDir dir = new();

    public void Dispose() => dir.Dispose();

    private string CompassModel()
    {
        var schema = new ImageSchema(new ImageShape(3, 8, 8), ["north", "east", "south", "west"]);
        var network = NetworkInput.Parse("conv3x3x4p1,relu,pool2,flatten,dense4", schema);
        var metadata = new Dictionary<string, string>();
        ModelSchema.Record(metadata, schema);
        string path = Path.Combine(dir.Path, "compass.safetensors");
        ModelFile.Save(path, network, network.InitialParameters(1), metadata);
        return path;
    }

    [Fact]
    public void Eval_ModelOfAnotherSchema_IsAOneLineUsageError()
    {
        string model = CompassModel();
        var result = CliProcess.Run(TimeSpan.FromMinutes(1), ["eval", "--model", model, "--data", Path.Combine(dir.Path, "no-data"), "--device", "cpu"]);
        Assert.Equal(2, result.ExitCode);
        string error = result.StandardError.Trim();
        Assert.DoesNotContain('\n', error);
        Assert.Contains("was trained on 3x8x8 images, 4 classes (north, east, south, west); the data holds 1x28x28 images, 10 classes", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Predict_DigitPreprocessOnAnotherImageShape_IsAOneLineUsageError()
    {
        string model = CompassModel();
        var result = CliProcess.Run(TimeSpan.FromMinutes(1), ["predict", "--model", model, "--device", "cpu", "--preprocess", "digit", Path.Combine(dir.Path, "digit.png")]);
        Assert.Equal(2, result.ExitCode);
        string error = result.StandardError.Trim();
        Assert.DoesNotContain('\n', error);
        Assert.Contains("mnist-digit preprocessing prepares digit images of 1x28x28, not 3x8x8", error, StringComparison.Ordinal);
        Assert.Contains("takes 3x8x8 images", error, StringComparison.Ordinal);
    }
}
