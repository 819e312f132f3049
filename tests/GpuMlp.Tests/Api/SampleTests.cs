using System.Globalization;
using System.Text.RegularExpressions;
using GpuMlp.Models;
using GpuMlp.Tests.Data;
using GpuMlp.Tests.Packaging;
using Microsoft.ML.OnnxRuntime;

namespace GpuMlp.Tests.Api;

/// <summary>src/GpuMlp.Sample, the README's library example, built with the tests and run as a
/// program on the test device.</summary>
[Collection(DeviceCollection.Name)]
public sealed partial class SampleTests
{
    [Fact]
    public void Sample_OnTheTestDevice_TrainsPredictsAndWritesSafetensorsAndOnnx()
    {
        using var dir = new TempDir();
        string sample = Path.Combine(AppContext.BaseDirectory, "GpuMlp.Sample.dll");
        var result = DotnetCli.Run(DotnetCli.Host(), [sample, RealMnist.RealMnistDir(), TestDevice.RequestedName, dir.Path], dir.Path, TimeSpan.FromMinutes(5));
        Assert.True(result.ExitCode == 0, DotnetCli.Describe(result));

        var accuracy = Accuracy().Match(result.StandardOutput);
        Assert.True(accuracy.Success, DotnetCli.Describe(result));
        double percent = double.Parse(accuracy.Groups[1].Value, CultureInfo.InvariantCulture);
        Assert.True(percent >= 80, $"2 epochs on 5,400 images reached only {percent} % test accuracy");
        var said = Said().Match(result.StandardOutput);
        Assert.True(said.Success, DotnetCli.Describe(result));

        // Both files hold the trained 784-128-10 model, and ONNX Runtime agrees with the printed digit.
        var (shape, _, _) = ModelFile.Load(Path.Combine(dir.Path, "model.safetensors"));
        Assert.Equal("784-128-10", shape.MlpName);
        float[] image = MnistModel.TestImage(RealMnist.Load(), 0);
        using var session = new InferenceSession(Path.Combine(dir.Path, "model.onnx"));
        using var input = OrtValue.CreateTensorValueFromMemory(image, [1, image.Length]);
        using var runOptions = new RunOptions();
        using var outputs = session.Run(runOptions, ["input"], [input], ["probabilities"]);
        var probabilities = outputs[0].GetTensorDataAsSpan<float>().ToArray();
        Assert.Equal(int.Parse(said.Groups[1].Value, CultureInfo.InvariantCulture), Array.IndexOf(probabilities, probabilities.Max()));
    }

    [GeneratedRegex(@"test accuracy ([0-9.]+) %")]
    private static partial Regex Accuracy();

    [GeneratedRegex(@"the model says ([0-9])")]
    private static partial Regex Said();
}
