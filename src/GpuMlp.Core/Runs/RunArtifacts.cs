using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using GpuMlp.Metrics;

namespace GpuMlp.Runs;

/// <summary>Writes and reads the files in a run folder. Every write is atomic (see <see cref="AtomicFile"/>).</summary>
public static class RunArtifacts
{
    public const string ConfigFileName = "config.json";
    public const string HistoryFileName = "history.csv";
    public const string MetricsFileName = "metrics.json";
    public const string ModelFileName = "model.safetensors";
    public const string CurvesFileName = "curves.png";
    public const string ConfusionFileName = "confusion.png";

    public const string HistoryHeader =
        "epoch,train_loss,train_accuracy,val_loss,val_accuracy,seconds,samples_per_second";

    // One shared options instance: building options per call defeats System.Text.Json's metadata cache.
    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        // A diverged run can produce NaN/Infinity losses; recording them beats failing to write metrics.
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        // Reading: a metrics file missing fields, or with nulls where the model forbids them, is corrupt.
        RespectNullableAnnotations = true,
        RespectRequiredConstructorParameters = true,
    };

    /// <summary>Refuses <paramref name="folder"/> as a new run (or tuning) folder unless it does not
    /// exist yet or is an empty folder, before anything is computed or written; the message names
    /// <paramref name="flag"/> and what is expected, plus an optional hint.</summary>
    /// <exception cref="OptionException">The path is a file or a folder that is not empty.</exception>
    public static void RequireNewOrEmptyFolder(string folder, string flag, string? hint = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(folder);
        string expected = "expected a new or empty folder" + (hint is null ? "" : $" ({hint})");
        if (File.Exists(folder))
            throw new OptionException($"{flag} {folder} is a file; {expected}");
        if (Directory.Exists(folder) && Directory.EnumerateFileSystemEntries(folder).Any())
            throw new OptionException($"{flag} {folder} already exists and is not empty; {expected}");
    }

    /// <summary>Writes <paramref name="config"/> (serialised by its runtime type) to config.json.</summary>
    public static void WriteConfig(string runDir, object config)
    {
        ArgumentNullException.ThrowIfNull(config);
        string json = JsonSerializer.Serialize(config, config.GetType(), Json);
        AtomicFile.WriteAllText(PathIn(runDir, ConfigFileName), json + "\n");
    }

    /// <summary>Writes per-epoch history as CSV; null validation values become empty cells.</summary>
    public static void WriteHistoryCsv(string runDir, IReadOnlyList<EpochRecord> epochs)
    {
        ArgumentNullException.ThrowIfNull(epochs);
        var sb = new StringBuilder();
        sb.Append(HistoryHeader).Append('\n');
        foreach (EpochRecord e in epochs)
        {
            sb.Append(e.Epoch.ToString(CultureInfo.InvariantCulture)).Append(',')
              .Append(Format(e.TrainLoss)).Append(',')
              .Append(Format(e.TrainAccuracy)).Append(',')
              .Append(Format(e.ValLoss)).Append(',')
              .Append(Format(e.ValAccuracy)).Append(',')
              .Append(Format(e.Seconds)).Append(',')
              .Append(Format(e.SamplesPerSecond)).Append('\n');
        }

        AtomicFile.WriteAllText(PathIn(runDir, HistoryFileName), sb.ToString());
    }

    /// <summary>Writes metrics.json: device, per-epoch history, test report and timing.</summary>
    public static void WriteMetrics(
        string runDir,
        string device,
        IReadOnlyList<EpochRecord> epochs,
        ClassificationReport test,
        double testLoss,
        TimingRecord timing,
        string? optimizer = null,
        TargetRecord? target = null)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(epochs);
        ArgumentNullException.ThrowIfNull(test);
        ArgumentNullException.ThrowIfNull(timing);
        var doc = new MetricsDocument(device, epochs, TestMetrics.From(test, testLoss), timing, optimizer, target);
        AtomicFile.WriteAllText(PathIn(runDir, MetricsFileName), JsonSerializer.Serialize(doc, Json) + "\n");
    }

    /// <summary>Parses a metrics.json written by <see cref="WriteMetrics"/>.</summary>
    /// <exception cref="JsonException">The file is not valid metrics JSON or misses required fields.</exception>
    public static MetricsDocument ReadMetrics(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        using FileStream stream = File.OpenRead(path);
        return JsonSerializer.Deserialize<MetricsDocument>(stream, Json)
            ?? throw new JsonException($"{path} contains null instead of a metrics object.");
    }

    private static string PathIn(string runDir, string fileName)
    {
        ArgumentException.ThrowIfNullOrEmpty(runDir);
        Directory.CreateDirectory(runDir);
        return Path.Combine(runDir, fileName);
    }

    // G9 keeps the CSV readable (about float precision); metrics.json carries full round-trip values.
    private static string Format(double value) => value.ToString("G9", CultureInfo.InvariantCulture);

    private static string Format(double? value) => value is { } v ? Format(v) : string.Empty;
}
