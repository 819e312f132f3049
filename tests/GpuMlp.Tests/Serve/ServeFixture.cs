using System.Net.Http.Json;
using System.Text.Json;
using GpuMlp.Cli.Serve;
using GpuMlp.Compute;
using GpuMlp.Data;
using GpuMlp.Imaging;
using GpuMlp.Models;
using GpuMlp.Tests.Data;
using GpuMlp.Tests.Training;
using GpuMlp.Training;

namespace GpuMlp.Tests.Serve;

/// <summary>
/// Two small models trained here and saved: "digits", an MLP (784-64-10) trained for two epochs on
/// 3,000 real MNIST images, and "compass", a colour stack on 3x8x8 quadrant images (resize
/// preprocessing). Real MNIST test digits rendered as dark-on-light 84x84 PNG files, and helpers to
/// start a real `serve` server on a free loopback port.
/// </summary>
public sealed class ServeFixture : IDisposable
{
    public const int Digits = 24;

    public ServeFixture()
    {
        Root = Directory.CreateTempSubdirectory("gpumlp-serve-").FullName;
        var mnist = RealMnist.Load();
        var digitOptions = new TrainingOptions
        {
            Hidden = [64],
            Epochs = 2,
            BatchSize = 64,
            LimitTrain = 3000,
            ValidationSplit = 0,
            Seed = 7,
        };
        DigitsPath = Path.Combine(Root, "digits.safetensors");
        using (var model = MnistModel.Train(mnist, digitOptions, TestDevice.RequestedName))
            model.Save(DigitsPath);
        var quadrants = ImageDatasetTrainingTests.Quadrants(train: 512, test: 16);
        var compassOptions = new TrainingOptions
        {
            ArchitectureText = "conv3x3x4p1,relu,pool2,flatten,dense4",
            Epochs = 1,
            BatchSize = 16,
            Optimizer = new OptimizerSettings(OptimizerKind.Adam) { LearningRate = 0.01f },
            ValidationSplit = 0,
            Seed = 3,
        };
        CompassPath = Path.Combine(Root, "compass.safetensors");
        using (var model = MnistModel.Train(quadrants, compassOptions, TestDevice.RequestedName))
            model.Save(CompassPath);
        CompassImages = [.. Enumerable.Range(0, 4).Select(i => MnistModel.TestImage(quadrants, i))];
        DigitLabels = [.. Enumerable.Range(0, Digits).Select(i => mnist.Test.Labels[i])];
        DigitPngs = [.. Enumerable.Range(0, Digits).Select(i =>
        {
            string path = Path.Combine(Root, $"digit{i:D2}.png");
            DigitImage.SaveMnistDigitAsPng(mnist.Test.Pixels.AsSpan(i * 784, 784), path, 84, darkOnLight: true);
            return path;
        })];
    }

    public string Root { get; }
    public string DigitsPath { get; }
    public string CompassPath { get; }

    /// <summary>MNIST test digits 0..<see cref="Digits"/>-1 as PNG files, and their labels.</summary>
    public string[] DigitPngs { get; }
    public int[] DigitLabels { get; }

    /// <summary>Compass test images as network inputs (3*8*8 values each).</summary>
    public float[][] CompassImages { get; }

    /// <summary>The digits model (and the compass model when <paramref name="withCompass"/>) served
    /// on a free loopback port with <paramref name="settings"/> (port forced to 0).</summary>
    public async Task<RunningServer> StartAsync(ServeSettings? settings = null, bool withCompass = true)
    {
        var models = new List<ServedModel> { new("digits", TrainedModel.Load(DigitsPath)) };
        if (withCompass)
            models.Add(new ServedModel("compass", TrainedModel.Load(CompassPath)));
        var chosen = (settings ?? new ServeSettings { MaxBatch = 16, MaxWaitMs = 5 }) with { Port = 0 };
        var server = ModelServer.Create(chosen, models, TestDevice.Request, CpuSimdChoice.FromEnvironment());
        try
        {
            Uri address = await server.StartAsync(TestContext.Current.CancellationToken);
            return new RunningServer(server, address);
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    public void Dispose() => Directory.Delete(Root, recursive: true);
}

/// <summary>A started server and a client for it; disposing stops both.</summary>
public sealed class RunningServer(ModelServer server, Uri address) : IAsyncDisposable
{
    public ModelServer Server { get; } = server;
    public Uri Address { get; } = address;
    public HttpClient Client { get; } = new() { BaseAddress = address, Timeout = TimeSpan.FromSeconds(60) };

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await Server.DisposeAsync();
    }

    /// <summary>A KServe v2 request body: one input "input" of <paramref name="shape"/> holding <paramref name="data"/>.</summary>
    public static object V2Body(long[] shape, object data, string name = "input", string datatype = "FP32") =>
        new { inputs = new[] { new { name, shape, datatype, data } } };

    /// <summary>POST /v2/models/{model}/infer; the answer's status and JSON.</summary>
    public async Task<(int Status, JsonElement Json)> InferAsync(string model, object body)
    {
        using var response = await Client.PostAsJsonAsync($"/v2/models/{model}/infer", body, TestContext.Current.CancellationToken);
        return ((int)response.StatusCode, await ReadJson(response));
    }

    /// <summary>POST /predict/{model} (or /predict) with the raw image bytes.</summary>
    public async Task<(int Status, JsonElement Json)> PredictAsync(byte[] image, string? model = null, string query = "")
    {
        using var content = new ByteArrayContent(image);
        content.Headers.ContentType = new("image/png");
        using var response = await Client.PostAsync((model is null ? "/predict" : $"/predict/{model}") + query, content, TestContext.Current.CancellationToken);
        return ((int)response.StatusCode, await ReadJson(response));
    }

    public static async Task<JsonElement> ReadJson(HttpResponseMessage response)
    {
        ArgumentNullException.ThrowIfNull(response);
        string text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        Assert.True(response.Content.Headers.ContentType?.MediaType == "application/json", $"HTTP {(int)response.StatusCode} answered {response.Content.Headers.ContentType}: {text}");
        using var document = JsonDocument.Parse(text);
        return document.RootElement.Clone();
    }

    /// <summary>The probabilities of an answer's "outputs"[0].data, as floats, row by row.</summary>
    public static float[][] Rows(JsonElement answer, int classes)
    {
        var data = answer.GetProperty("outputs")[0].GetProperty("data").EnumerateArray().Select(v => v.GetSingle()).ToArray();
        return [.. data.Chunk(classes)];
    }
}

[CollectionDefinition(Name)]
public sealed class ServeCollection : ICollectionFixture<ServeFixture>
{
    public const string Name = "Serve";
}
