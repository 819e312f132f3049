using System.CommandLine;
using System.Globalization;
using GpuMlp.Compute;
using GpuMlp.Data;
using GpuMlp.Runs;
using GpuMlp.Training;
using Spectre.Console;

namespace GpuMlp.Cli;

/// <summary>`gpumlp train`: parses the flags, then hands a <see cref="TrainingRun"/> its folder and
/// prints its progress and test report.</summary>
public static class TrainCommand
{
    public static Command Create()
    {
        var epochs = new Option<int>("--epochs") { Description = "Training epochs", DefaultValueFactory = _ => 20 };
        var batchSize = new Option<int>("--batch-size") { Description = "Mini-batch size", DefaultValueFactory = _ => 128 };
        var optimizer = new OptimizerOptions();
        var distortion = new DistortionOptions();
        var dropout = new Option<float>("--dropout") { Description = "Dropout rate after each hidden ReLU, in [0, 1)", DefaultValueFactory = _ => 0.2f };
        var hidden = new Option<string>("--hidden") { Description = "Hidden layer widths, comma separated", DefaultValueFactory = _ => "512,256" };
        var seed = new Option<int>("--seed") { Description = "Seed for initialisation, shuffling and dropout", DefaultValueFactory = _ => 1 };
        var valSplit = new Option<double>("--val-split") { Description = "Fraction of the training file held out for validation (from its end)", DefaultValueFactory = _ => 0.1 };
        var limitTrain = new Option<int?>("--limit-train") { Description = "Use only the first N training images" };
        var outDir = new Option<string?>("--out") { Description = "Run folder, new or empty (default runs/<timestamp>)" };
        var earlyStop = new Option<int?>("--early-stop") { Description = "Stop after N epochs without a lower validation loss; restore the best weights" };
        var targetAccuracy = new Option<double?>("--target-accuracy") { Description = "Time to accuracy: stop after the first epoch whose validation accuracy reaches this fraction, e.g. 0.99 (needs --val-split > 0); metrics.json records the epoch and the seconds. With --early-stop the model keeps the weights of the lowest validation loss, which may be an earlier epoch's; metrics.json's target.weights_epoch names the epoch the model holds" };
        var schedule = new ScheduleOptions();
        var resume = new Option<string?>("--resume") { Description = "Continue the run in this folder from its last checkpoint" };
        var augmentShift = new Option<int?>("--augment-shift") { Description = $"Move every training image by a random -N..N pixels in x and y, drawn per image and step on the device (0..{TrainingOptions.MaxAugmentShift}; 0: no augmentation); default {TrainingOptions.CnnPresetAugmentShift} with --arch cnn, else 0" };
        var noTest = new Option<bool>("--no-test") { Description = "Do not evaluate the test set (for choosing models and recipes on validation data): writes the model, history and curves, no metrics.json" };
        var arch = new Option<string>("--arch") { Description = "mlp (the report's MLP of --hidden and --dropout), cnn (" + Architecture.CnnText + "), or a layer stack such as conv3x3x16p1,relu,pool2,flatten,dense10", DefaultValueFactory = _ => "mlp" };

        var command = new Command("train", "Train the MLP and write a run folder with config, history, metrics, model and plots")
        {
            CommonOptions.Device, CommonOptions.CpuSimd, epochs, batchSize, dropout, hidden, seed,
            valSplit, limitTrain, outDir, earlyStop, targetAccuracy, resume, arch, augmentShift, noTest,
        };
        foreach (var option in optimizer.All)
            command.Options.Add(option);
        foreach (var option in schedule.All.Concat(distortion.All))
            command.Options.Add(option);
        foreach (var option in CommonOptions.DataOptions)
            command.Options.Add(option);
        command.SetAction(parse => CliErrors.Run(parse, () =>
        {
            var request = CommonOptions.ParseDevice(parse.GetValue(CommonOptions.Device)!);
            var simd = CommonOptions.ParseCpuSimd(parse);
            var dataFolder = CommonOptions.DataFolder(parse);
            if (parse.GetValue(resume) is string resumeDir)
            {
                if (parse.GetValue(outDir) is not null)
                    throw new OptionException("--resume continues in its own folder; do not combine it with --out");
                var checkpoint = Checkpoint.Load(Path.Combine(resumeDir, Checkpoint.FileName));
                optimizer.CheckResume(parse, checkpoint.State.Options.Optimizer, resumeDir);
                schedule.CheckResume(parse, resumeDir);
                distortion.CheckResume(parse, resumeDir);
                var resumeData = CommonOptions.LoadData(dataFolder);
                // Load validated the checkpoint's settings; the data is checked against them here.
                checkpoint.State.Options.CheckDataset(resumeData.Schema, resumeData.Train.Count);
                using var resumeDevice = CommonOptions.OpenDevice(request, simd);
                using var resumeUpload = new DeviceImageDataset(resumeDevice.Device.Accelerator, resumeData);
                using var resumed = TrainingRun.Resume(resumeDir, checkpoint, resumeDevice, resumeUpload);
                return Train(resumed, parse.GetValue(noTest));
            }

            var optimizerSettings = optimizer.Parse(parse);
            var options = new TrainingOptions
            {
                Epochs = parse.GetValue(epochs),
                BatchSize = parse.GetValue(batchSize),
                Optimizer = optimizerSettings,
                Dropout = parse.GetValue(dropout),
                Hidden = ParseHidden(parse.GetValue(hidden) ?? ""),
                Seed = parse.GetValue(seed),
                ValidationSplit = parse.GetValue(valSplit),
                LimitTrain = parse.GetValue(limitTrain),
                EarlyStopPatience = parse.GetValue(earlyStop),
                TargetValidationAccuracy = parse.GetValue(targetAccuracy),
                ArchitectureText = ParseArchitecture(parse.GetValue(arch) ?? "mlp", dataFolder.Schema),
                AugmentShift = parse.GetValue(augmentShift) ?? ArchitectureChoice.DefaultAugmentShift(parse.GetValue(arch) ?? ArchitectureChoice.Mlp),
                Distortion = distortion.Parse(parse),
            };
            options = schedule.Apply(parse, options);
            // Everything that needs neither the data nor the device is checked first: a bad flag or
            // --out must not cost a download, a kernel compilation or a file.
            options.Validate(dataFolder.Schema, int.MaxValue);
            string runDir = parse.GetValue(outDir) ?? CommonOptions.Timestamped("runs");
            RunArtifacts.RequireNewOrEmptyFolder(runDir, "--out", "choose another folder");
            var data = CommonOptions.LoadData(dataFolder);
            options.CheckDataset(data.Schema, data.Train.Count);
            using var device = CommonOptions.OpenDevice(request, simd);
            using var upload = new DeviceImageDataset(device.Device.Accelerator, data);
            using var run = TrainingRun.Start(runDir, options, device, upload);
            return Train(run, parse.GetValue(noTest));
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
                throw new OptionException($"--hidden must be positive integers separated by commas, e.g. 512,256 (got '{text}')");
            widths.Add(width);
        }
        return widths;
    }

    /// <summary>--arch: "mlp" is null (the MLP of --hidden and --dropout), "cnn" the CNN preset,
    /// anything else a layer stack in the text form; the result is the canonical text, checked
    /// against <paramref name="schema"/>, the data source's (known before the data is read).</summary>
    public static string? ParseArchitecture(string text, ImageSchema schema)
    {
        try
        {
            return ArchitectureChoice.Resolve(text, schema);
        }
        catch (ArchitectureException error)
        {
            throw new OptionException($"--arch: {error.Message} (or give a preset: mlp, cnn)");
        }
    }

    private static int Train(TrainingRun run, bool skipTest)
    {
        var options = run.Options;
        var trainer = run.Trainer;
        if (run.ResumedAt is string where)
            Output.Info($"resuming {run.Folder} {where} of {options.Epochs}");
        Output.Info($"optimizer {options.Optimizer.Describe()}");
        if (ScheduleLine(options) is string scheduleLine)
            Output.Info(scheduleLine);
        if (options.AugmentShift > 0)
            Output.Info($"augmentation: every training image moved by -{options.AugmentShift}..{options.AugmentShift} pixels in x and y");
        if (options.IsDistorted)
            Output.Info($"augmentation: every training image distorted at random, up to {options.Distortion}; resampled bilinearly");
        Output.Info($"training {trainer.NetworkName} on {trainer.TrainCount} images, validating on {trainer.ValidationCount}, {trainer.StepsPerEpoch} steps per epoch; run folder {run.Folder}");

        using var interrupt = InterruptSignal.Listen();
        TrainingOutcome outcome;
        try
        {
            outcome = RunWithProgress(run, options.Epochs, trainer.TrainCount, interrupt.Token);
        }
        catch (OperationCanceledException)
        {
            string saved = run.LastCheckpoint is string at ? $"checkpoint saved {at}" : "no checkpoint yet";
            Console.Error.WriteLine($"gpumlp: interrupted; {saved}; continue with: gpumlp train --resume {run.Folder}");
            return ExitCodes.Interrupted;
        }
        if (outcome.StoppedEarly)
            Output.Info($"early stop: no lower validation loss for {options.EarlyStopPatience} epochs; restored the weights of epoch {outcome.BestEpoch}");
        var target = TargetLine(options, outcome);

        if (skipTest)
        {
            run.FinishWithoutTest(outcome);
            Output.Info("test set not evaluated (--no-test)");
            AnsiConsole.MarkupLineInterpolated($"wrote {run.Folder}");
            return ExitCodes.Success;
        }
        var test = run.Finish(outcome, target);
        Output.PrintReport(test, run.Trainer.Schema.ClassNames, confusion: false);
        AnsiConsole.MarkupLineInterpolated($"wrote {run.Folder}");
        return ExitCodes.Success;
    }

    /// <summary>With --target-accuracy: prints whether and when the validation accuracy reached the
    /// target, and which epoch's weights the model keeps when that is not the last epoch's
    /// (--early-stop restores the lowest validation loss's), and returns metrics.json's record of it
    /// (the seconds since the process started are taken now, right after the last epoch); null
    /// without a target.</summary>
    private static TargetRecord? TargetLine(TrainingOptions options, TrainingOutcome outcome)
    {
        if (options.TargetValidationAccuracy is not double target)
            return null;
        var culture = CultureInfo.InvariantCulture;
        int lastEpoch = outcome.History.Count;
        TargetRecord record;
        if (outcome.TargetEpoch is not int epoch)
        {
            double best = outcome.History.Max(r => r.ValAccuracy ?? 0);
            Output.Info(string.Create(culture, $"target: validation accuracy {target:P2} not reached in {lastEpoch} epochs (best {best:P2})"));
            record = new TargetRecord(target, null, null, null, outcome.WeightsEpoch);
        }
        else
        {
            double sinceStart = (DateTime.Now - System.Diagnostics.Process.GetCurrentProcess().StartTime).TotalSeconds;
            double reached = outcome.History[epoch - 1].ValAccuracy ?? 0;
            Output.Info(string.Create(culture,
                $"target: validation accuracy {reached:P2} >= {target:P2} after epoch {epoch}: {outcome.TrainSeconds:F2} s of training, {sinceStart:F2} s since gpumlp started"));
            record = new TargetRecord(target, epoch, outcome.TrainSeconds, sinceStart, outcome.WeightsEpoch);
        }
        if (outcome.WeightsEpoch != lastEpoch)
        {
            Output.Info(string.Create(culture,
                $"target: the model keeps the weights of epoch {outcome.WeightsEpoch}, the lowest validation loss (--early-stop), not those of epoch {lastEpoch}"));
        }
        return record;
    }

    /// <summary>"schedule onecycle (...), label smoothing 0.1, EMA 0.999": the per-step schedule and the
    /// regularisation when any is set; null for a run without them.</summary>
    internal static string? ScheduleLine(TrainingOptions options)
    {
        var parts = new List<string>();
        var culture = CultureInfo.InvariantCulture;
        if (options.Schedule == LearningRateSchedule.OneCycle)
            parts.Add($"schedule onecycle ({(options.OneCycle ?? new OneCycleSettings()).Describe()})");
        else if (options.SchedulesPerStep)
            parts.Add(string.Create(culture, $"schedule {options.Schedule.Name()} per step") + (options.WarmupSteps > 0 ? string.Create(culture, $" after {options.WarmupSteps} warm-up steps from {options.WarmupStartFactor ?? TrainingOptions.DefaultWarmupStartFactor:G4} x lr") : ""));
        if (options.LabelSmoothing > 0f)
            parts.Add(string.Create(culture, $"label smoothing {options.LabelSmoothing}"));
        if (options.EmaDecay is float decay)
            parts.Add(string.Create(culture, $"EMA of the weights, decay {decay} (validation, test and model use it)"));
        return parts.Count == 0 ? null : string.Join(", ", parts);
    }

    /// <summary>A live Spectre.Console bar per epoch on a terminal (each finished epoch's bar
    /// stays as its summary line); plain lines, a few per epoch, when output is redirected.</summary>
    private static TrainingOutcome RunWithProgress(TrainingRun run, int epochs, int samplesPerEpoch, CancellationToken cancel)
    {
        if (!AnsiConsole.Profile.Capabilities.Interactive || Console.IsOutputRedirected)
        {
            return run.Train(
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
                outcome = run.Train(
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
}
