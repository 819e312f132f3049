using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using GpuMlp.Data;
using GpuMlp.Runs;
using GpuMlp.Training;

namespace GpuMlp.Tuning;

/// <summary>The files of a tuning folder, every one written atomically:
/// tune.json (settings, every trial with its per-epoch validation results, the rungs; the state
/// --resume continues from), tune.csv (one row per trial), trials.png, best.json, and final/ (the
/// retrain of the best configuration, a regular run folder).</summary>
public static class TuningFiles
{
    public const string StateFileName = "tune.json";
    public const string CsvFileName = "tune.csv";
    public const string PlotFileName = "trials.png";
    public const string BestFileName = "best.json";
    public const string FinalDirName = "final";
    public const string TrialCheckpointDirName = "trials";

    public const string CsvHeader =
        "trial,status,batch_size,learning_rate,dropout,hidden,epochs,rung,best_epoch,val_loss,val_accuracy,last_val_loss,last_val_accuracy,seconds,optimizer,arch";

    /// <summary>The columns a search of the schedule, label smoothing or EMA adds after <see cref="CsvHeader"/>'s.</summary>
    public const string RecipeCsvColumns = ",schedule,label_smoothing,ema";

    internal static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        RespectNullableAnnotations = true,
    };

    /// <summary>Writes tune.json and tune.csv.</summary>
    public static void Save(string directory, TuningState state)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        ArgumentNullException.ThrowIfNull(state);
        Directory.CreateDirectory(directory);
        AtomicFile.WriteAllText(Path.Combine(directory, StateFileName), JsonSerializer.Serialize(state, Json) + "\n");
        AtomicFile.WriteAllText(Path.Combine(directory, CsvFileName), Csv(state));
    }

    /// <summary>Reads a tuning folder's tune.json, whose search trains on data of <paramref name="schema"/>.</summary>
    /// <exception cref="FileNotFoundException">The folder has no tune.json.</exception>
    /// <exception cref="InvalidDataException">tune.json is corrupt or inconsistent, or its
    /// architectures do not fit the data.</exception>
    public static TuningState Load(string directory, ImageSchema schema)
    {
        ArgumentNullException.ThrowIfNull(schema);
        return Load(directory, _ => schema);
    }

    /// <summary>Reads a tuning folder's tune.json; <paramref name="schemaOf"/> gives the schema of
    /// the data the search trains on from its saved settings (which name its data folder), and the
    /// search space and every trial are checked against it.</summary>
    /// <exception cref="FileNotFoundException">The folder has no tune.json.</exception>
    /// <exception cref="InvalidDataException">tune.json is corrupt or inconsistent, or its
    /// architectures do not fit the data.</exception>
    public static TuningState Load(string directory, Func<TuningSettings, ImageSchema> schemaOf)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        ArgumentNullException.ThrowIfNull(schemaOf);
        string path = Path.Combine(directory, StateFileName);
        if (!File.Exists(path))
            throw new FileNotFoundException($"no {StateFileName} in {directory}: not a tuning folder", path);
        TuningState state;
        try
        {
            state = JsonSerializer.Deserialize<TuningState>(File.ReadAllText(path), Json)
                ?? throw new InvalidDataException($"{path}: empty");
        }
        catch (Exception error) when (error is JsonException or ArgumentException or NotSupportedException)
        {
            throw new InvalidDataException($"{path}: corrupt tuning state ({error.Message})", error);
        }
        // Outside the catch: a data folder the caller cannot name is its error, not the file's.
        var schema = schemaOf(state.Settings);
        try
        {
            state.Settings.Validate(schema);
        }
        catch (ArgumentException error)
        {
            throw new InvalidDataException($"{path}: corrupt tuning state ({error.Message})", error);
        }
        for (int i = 0; i < state.Trials.Count; i++)
        {
            if (state.Trials[i].Id != i)
                throw new InvalidDataException($"{path}: trial {i} has id {state.Trials[i].Id}");
            try
            {
                state.Trials[i].Config.Check(schema);
            }
            catch (InvalidDataException error)
            {
                throw new InvalidDataException($"{path}: trial {i}: {error.Message}", error);
            }
        }
        return state;
    }

    /// <summary>One row per trial: configuration, status, epochs run, highest rung, the best
    /// epoch's validation loss and accuracy (the ranking), the last epoch's, seconds trained, the
    /// optimiser and the architecture ("mlp", "cnn" for the preset with its shifts, or the stack's text). Empty cells where a trial has not
    /// trained, and dropout and hidden empty for a stack (they describe the MLP only).</summary>
    public static string Csv(TuningState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        var sb = new StringBuilder();
        // Searches of a schedule, label smoothing or EMA add their columns; others write what they always did.
        var space = state.Settings.Space;
        bool recipe = space.Schedule is not null || space.LabelSmoothing is not null || space.Ema is not null;
        sb.Append(CsvHeader).Append(recipe ? RecipeCsvColumns : "").Append('\n');
        foreach (var t in state.Trials)
        {
            var best = t.Best();
            var lastEpoch = t.Epochs.Count > 0 ? t.Epochs[^1] : null;
            sb.Append(Int(t.Id)).Append(',')
              .Append(JsonNamingPolicy.SnakeCaseLower.ConvertName(t.Status.ToString())).Append(',')
              .Append(Int(t.Config.BatchSize)).Append(',')
              .Append(TrialConfig.Format(t.Config.LearningRate)).Append(',')
              .Append(t.Config.Dropout is float dropout ? TrialConfig.Format(dropout) : "").Append(',')
              .Append(t.Config.IsMlp ? $"\"{t.Config.HiddenText}\"" : "").Append(',')
              .Append(Int(t.EpochsRun)).Append(',')
              .Append(t.Rung >= 0 ? Int(t.Rung) : "").Append(',')
              .Append(best is null ? "" : Int(best.Epoch)).Append(',')
              .Append(Num(best?.ValLoss)).Append(',')
              .Append(Num(best?.ValAccuracy)).Append(',')
              .Append(Num(lastEpoch?.ValLoss)).Append(',')
              .Append(Num(lastEpoch?.ValAccuracy)).Append(',')
              .Append(t.EpochsRun > 0 ? Num(t.Seconds) : "").Append(',')
              .Append('"').Append(t.Config.OptimizerText).Append('"').Append(',')
              .Append('"').Append(t.Config.ArchitectureName).Append('"');
            if (recipe)
            {
                sb.Append(',').Append(t.Config.ScheduleKind.Name())
                  .Append(',').Append(TrialConfig.Format(t.Config.LabelSmoothing))
                  .Append(',').Append(t.Config.EmaDecay is float decay ? TrialConfig.Format(decay) : "off");
            }
            sb.Append('\n');
        }
        return sb.ToString();
    }

    public static void WriteBest(string directory, BestResult best)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        ArgumentNullException.ThrowIfNull(best);
        Directory.CreateDirectory(directory);
        AtomicFile.WriteAllText(Path.Combine(directory, BestFileName), JsonSerializer.Serialize(best, Json) + "\n");
    }

    public static BestResult ReadBest(string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        string path = Path.Combine(directory, BestFileName);
        try
        {
            return JsonSerializer.Deserialize<BestResult>(File.ReadAllText(path), Json)
                ?? throw new InvalidDataException($"{path}: empty");
        }
        catch (JsonException error)
        {
            throw new InvalidDataException($"{path}: corrupt ({error.Message})", error);
        }
    }

    private static string Int(int value) => value.ToString(CultureInfo.InvariantCulture);

    private static string Num(double value) => value.ToString("G9", CultureInfo.InvariantCulture);

    private static string Num(double? value) => value is double v ? Num(v) : "";
}

/// <summary>best.json: the winning configuration, its validation score, the final retrain and its
/// one test evaluation, and the command line that reproduces the retrain.</summary>
public sealed record BestResult(
    int Trial,
    TrialConfig Config,
    int Epochs,
    double ValLoss,
    double ValAccuracy,
    double WorstTrialValAccuracy,
    BestSearchSummary Search,
    FinalRun Final,
    FinalTest Test,
    double ReportTestAccuracy,
    string Command);

public sealed record BestSearchSummary(int Trials, long SpentEpochs, double ElapsedSeconds, string StopReason, string Device);

/// <summary>The retrain: on every (LimitTrain or all) training image, no validation split.</summary>
public sealed record FinalRun(int TrainImages, int Epochs, double TrainSeconds, string RunFolder);

public sealed record FinalTest(double Accuracy, double Loss, double MacroPrecision, double MacroRecall, double MacroF1);
