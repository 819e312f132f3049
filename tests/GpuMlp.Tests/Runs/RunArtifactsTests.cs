using System.Text.Json;
using GpuMlp.Metrics;
using GpuMlp.Runs;

namespace GpuMlp.Tests.Runs;

public sealed class RunArtifactsTests : IDisposable
{
    private static readonly EpochRecord[] Epochs =
    [
        new(1, 0.9123456789, 0.71, 0.8, 0.75, 1.25, 48000.5),
        new(2, 0.45, 0.88, null, null, 1.5, 40000),
    ];

    private static readonly long[,] Confusion =
    {
        { 5, 1, 0 },
        { 2, 6, 2 },
        { 0, 1, 3 },
    };

    private readonly TempDir dir = new();

    public void Dispose() => dir.Dispose();

    [Fact]
    public void Metrics_WrittenThenRead_RoundTrip()
    {
        var report = ClassificationReport.FromConfusion(Confusion);
        var timing = new TimingRecord(3.5, 42.25);

        RunArtifacts.WriteMetrics(dir.Path, "NVIDIA H100", Epochs, report, 0.123456789012345, timing);
        string path = Path.Combine(dir.Path, RunArtifacts.MetricsFileName);
        MetricsDocument doc = RunArtifacts.ReadMetrics(path);

        Assert.Equal("NVIDIA H100", doc.Device);
        Assert.Equal(Epochs, doc.Epochs); // records compare by value
        Assert.Equal(timing, doc.Timing);

        TestMetrics t = doc.Test;
        Assert.Equal(0.123456789012345, t.Loss); // JSON keeps full round-trip precision
        Assert.Equal(report.Accuracy, t.Accuracy);
        Assert.Equal(report.MacroPrecision, t.MacroPrecision);
        Assert.Equal(report.MacroRecall, t.MacroRecall);
        Assert.Equal(report.MacroF1, t.MacroF1);
        Assert.Equal(report.WeightedPrecision, t.WeightedPrecision);
        Assert.Equal(report.WeightedRecall, t.WeightedRecall);
        Assert.Equal(report.WeightedF1, t.WeightedF1);
        Assert.Equal(report.PerClass, t.PerClass);
        Assert.Equal(report.Confusion, t.ToReport().Confusion);
        Assert.Equal(report.MacroF1, t.ToReport().MacroF1);
        Assert.Equal(["metrics.json"], dir.Files());
    }

    [Fact]
    public void WriteMetrics_Json_HasExpectedShapeAndKeyNames()
    {
        var report = ClassificationReport.FromConfusion(Confusion);
        RunArtifacts.WriteMetrics(dir.Path, "cpu", Epochs, report, 0.5, new TimingRecord(1, 2));
        string text = File.ReadAllText(Path.Combine(dir.Path, RunArtifacts.MetricsFileName));

        foreach (string key in new[] { "\"train_loss\"", "\"macro_f1\"", "\"per_class\"", "\"confusion\"", "\"compile_seconds\"" })
        {
            Assert.Contains(key, text, StringComparison.Ordinal);
        }

        using var json = JsonDocument.Parse(text);
        JsonElement root = json.RootElement;
        Assert.Equal(["device", "epochs", "test", "timing"], Keys(root));
        Assert.Equal("cpu", root.GetProperty("device").GetString());

        JsonElement epoch = root.GetProperty("epochs")[1];
        Assert.Equal(
            ["epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "seconds", "samples_per_second"],
            Keys(epoch));
        Assert.Equal(2, epoch.GetProperty("epoch").GetInt32());
        Assert.Equal(JsonValueKind.Null, epoch.GetProperty("val_loss").ValueKind);
        Assert.Equal(JsonValueKind.Null, epoch.GetProperty("val_accuracy").ValueKind);

        JsonElement test = root.GetProperty("test");
        Assert.Equal(
            ["accuracy", "loss", "macro_precision", "macro_recall", "macro_f1",
             "weighted_precision", "weighted_recall", "weighted_f1", "per_class", "confusion"],
            Keys(test));
        JsonElement cls = test.GetProperty("per_class")[1];
        Assert.Equal(["label", "precision", "recall", "f1", "support"], Keys(cls));
        Assert.Equal(1, cls.GetProperty("label").GetInt32());
        Assert.Equal(10, cls.GetProperty("support").GetInt64());

        JsonElement confusion = test.GetProperty("confusion");
        Assert.Equal(JsonValueKind.Array, confusion.ValueKind);
        Assert.Equal([2L, 6L, 2L], confusion[1].EnumerateArray().Select(e => e.GetInt64()).ToArray());

        JsonElement timing = root.GetProperty("timing");
        Assert.Equal(["compile_seconds", "train_seconds"], Keys(timing));
    }

    [Fact]
    public void WriteMetrics_NonFiniteLoss_StillWritesAndRoundTrips()
    {
        var report = ClassificationReport.FromConfusion(Confusion);
        RunArtifacts.WriteMetrics(dir.Path, "cpu", Epochs, report, double.NaN, new TimingRecord(0, 0));
        MetricsDocument doc = RunArtifacts.ReadMetrics(Path.Combine(dir.Path, RunArtifacts.MetricsFileName));
        Assert.True(double.IsNaN(doc.Test.Loss));
    }

    [Fact]
    public void ReadMetrics_MissingFields_AreRejected()
    {
        string path = Path.Combine(dir.Path, "broken.json");
        File.WriteAllText(path, """{"device": "cpu", "epochs": []}""");
        Assert.Throws<JsonException>(() => RunArtifacts.ReadMetrics(path));
    }

    [Fact]
    public void WriteHistoryCsv_Epochs_WritesHeaderAndRows()
    {
        RunArtifacts.WriteHistoryCsv(dir.Path, Epochs);
        string[] lines = File.ReadAllText(Path.Combine(dir.Path, RunArtifacts.HistoryFileName)).Split('\n');

        Assert.Equal("epoch,train_loss,train_accuracy,val_loss,val_accuracy,seconds,samples_per_second", lines[0]);
        Assert.Equal("1,0.912345679,0.71,0.8,0.75,1.25,48000.5", lines[1]);
        Assert.Equal("2,0.45,0.88,,,1.5,40000", lines[2]);
        Assert.Equal("", lines[3]); // trailing newline, nothing after
        Assert.Equal(4, lines.Length);
    }

    [Fact]
    public void WriteConfig_AnyRecord_UsesSnakeCaseAndRuntimeType()
    {
        object config = new SampleConfig(128, 0.01, "mnist");
        string nested = Path.Combine(dir.Path, "runs", "r1");

        RunArtifacts.WriteConfig(nested, config); // creates the run folder on demand

        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(nested, RunArtifacts.ConfigFileName)));
        Assert.Equal(["batch_size", "learning_rate", "data_set"], Keys(json.RootElement));
        Assert.Equal(128, json.RootElement.GetProperty("batch_size").GetInt32());
    }

    private static string[] Keys(JsonElement obj) => obj.EnumerateObject().Select(p => p.Name).ToArray();

    private sealed record SampleConfig(int BatchSize, double LearningRate, string DataSet);
}
