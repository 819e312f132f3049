using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using GpuMlp.Compute;
using GpuMlp.Data;
using GpuMlp.Runs;
using GpuMlp.Training;
using GpuMlp.Tuning;

namespace GpuMlp.Cli;

/// <summary><c>gpumlp tune</c>: random search plus successive halving over batch size, learning
/// rate, dropout, epochs (and optionally hidden widths, the optimiser, its momentum and weight
/// decay, and the architecture: the MLP, the CNN or layer stacks), scored on the validation split
/// only; then one retrain of the best configuration and one test evaluation.</summary>
public static class TuneCommand
{
    public static Command Create()
    {
        var trials = new Option<int>("--trials") { Description = "Configurations to sample", DefaultValueFactory = _ => 16 };
        var budget = new Option<string?>("--budget") { Description = "Stop promoting past this budget: epochs summed over trials (60) or time (90s, 10m, 1.5h); default: the full schedule" };
        var eta = new Option<int>("--eta") { Description = "Halving rate: keep the best 1/eta at each rung, which trains eta times the epochs", DefaultValueFactory = _ => 3 };
        var minEpochs = new Option<int>("--min-epochs") { Description = "Epochs of the first rung", DefaultValueFactory = _ => 1 };
        var maxEpochs = new Option<int>("--max-epochs") { Description = "Epochs of the last rung", DefaultValueFactory = _ => 20 };
        var seed = new Option<int>("--seed") { Description = "Seeds the sampling and every trial's training", DefaultValueFactory = _ => 1 };
        var limitTrain = new Option<int?>("--limit-train") { Description = "Use only the first N training images (the split applies to those)" };
        var valSplit = new Option<double>("--val-split") { Description = "Fraction held out to score trials, from the end; must be > 0", DefaultValueFactory = _ => 0.1 };
        var space = new Option<string?>("--space") { Description = "JSON search space: {\"lr\": [1e-4, 3e-3], \"dropout\": [0.0, 0.5], \"batch_size\": [64,128,256], \"hidden\": [\"512,256\"], \"arch\": [\"mlp\", \"cnn\"]}" };
        var lrRange = new Option<string?>("--lr-range") { Description = "Learning-rate range MIN,MAX, log-uniform (default 1e-4,3e-3)" };
        var dropoutRange = new Option<string?>("--dropout-range") { Description = "Dropout range MIN,MAX, uniform (default 0,0.5)" };
        var batchSizes = new Option<string?>("--batch-sizes") { Description = "Batch sizes to choose from (default 64,128,256)" };
        var hiddenChoices = new Option<string?>("--hidden-choices") { Description = "MLP hidden widths to choose from, ';'-separated (default 512,256)" };
        var archChoices = new Option<string?>("--arch-choices")
        {
            Description = "Architectures to choose from, ';'-separated: mlp (the MLP of the sampled --hidden-choices and dropout), cnn, or layer stacks such as conv3x3x8p1,relu,pool2,flatten,dense10, trained as written (default mlp)",
        };
        var optimizers = new Option<string?>("--optimizers") { Description = "Optimizers to choose from, e.g. adam,adamw,sgd,rmsprop (default adam)" };
        var momentumRange = new Option<string?>("--momentum-range") { Description = "sgd, rmsprop: momentum range MIN,MAX, uniform (default 0)" };
        var weightDecays = new Option<string?>("--weight-decays") { Description = "Weight decay values to choose from, e.g. 0,1e-4,1e-2 (default: each optimizer's, 0.01 for adamw, else 0)" };
        var schedules = new Option<string?>("--schedules") { Description = "Learning-rate schedules to choose from, e.g. constant;onecycle (each with its defaults; default constant)" };
        var labelSmoothings = new Option<string?>("--label-smoothings") { Description = "Label smoothing values to choose from, e.g. 0,0.1 (default 0)" };
        var emaDecays = new Option<string?>("--ema-decays") { Description = "EMA decays of the weights to choose from, off for none, e.g. off,0.999 (default off)" };
        var distortionRanges = DistortionSpace.Keys.Select(key => new Option<string?>(DistortionSpace.FlagOf(key))
        {
            Description = $"Training distortion: {key} range MIN,MAX, uniform (default 0: none; see train's flags)",
        }).ToArray();
        var finalFull = new Option<bool>("--final-full") { Description = "Retrain the best configuration on the whole training file, not only --limit-train images" };
        var outDir = new Option<string?>("--out") { Description = "Tuning folder (default tunes/<timestamp>); must not exist or be empty" };
        var resume = new Option<string?>("--resume") { Description = "Continue the search in this folder with its saved settings" };

        var command = new Command("tune", "Search hyperparameters on the validation split (random search + successive halving), then retrain the best and test it once")
        {
            CommonOptions.Device, CommonOptions.CpuSimd, trials, budget, eta, minEpochs, maxEpochs, seed, limitTrain, valSplit, space, lrRange, dropoutRange,
            batchSizes, hiddenChoices, archChoices, optimizers, momentumRange, weightDecays, finalFull, outDir, resume,
            schedules, labelSmoothings, emaDecays,
        };
        foreach (var option in distortionRanges)
            command.Options.Add(option);
        foreach (var option in CommonOptions.DataOptions)
            command.Options.Add(option);
        command.SetAction(parse => CliErrors.Run(parse, () =>
        {
            if (parse.GetValue(resume) is string resumeDir)
            {
                Option[] searchFlags = [trials, budget, eta, minEpochs, maxEpochs, seed, limitTrain, valSplit, space, lrRange, dropoutRange, batchSizes, hiddenChoices, archChoices, optimizers, momentumRange, weightDecays, finalFull, outDir,
                    schedules, labelSmoothings, emaDecays, .. distortionRanges];
                var given = searchFlags.Where(o => CommonOptions.Given(parse, o)).Select(o => o.Name).ToList();
                // The images are read as the search read them (saved with its settings).
                given.AddRange(CommonOptions.LoadOptions.Where(o => CommonOptions.Given(parse, o)).Select(o => o.Name));
                if (given.Count > 0)
                    throw new OptionException($"--resume continues with the search's saved settings; do not combine it with {string.Join(", ", given)}");
                // The data the search trains on: --data, else the folder its settings name, read with its saved options.
                IImageSource SourceOf(TuningSettings saved) =>
                    CommonOptions.DataSource(parse.GetValue(CommonOptions.Data) ?? saved.Data, parse.GetValue(CommonOptions.Download), saved.DataOptions ?? ImageLoadOptions.Default);
                TuningState state;
                try
                {
                    state = TuningFiles.Load(resumeDir, saved => SourceOf(saved).Schema);
                }
                catch (InvalidDataException error)
                {
                    throw new OptionException($"--resume {resumeDir}: {error.Message}");
                }
                string requested = CommonOptions.Given(parse, CommonOptions.Device) ? parse.GetValue(CommonOptions.Device)! : state.Settings.Device;
                if (!requested.Equals(state.Settings.Device, StringComparison.OrdinalIgnoreCase))
                    Console.WriteLine($"note: the search ran with --device {state.Settings.Device}; continuing on {requested} (scores may differ in the last digits)");
                var folder = SourceOf(state.Settings);
                return Run(state, CommonOptions.ParseDevice(requested), CommonOptions.ParseCpuSimd(parse), folder, resumeDir, resuming: true);
            }

            var (budgetEpochs, budgetMinutes) = parse.GetValue(budget) is string b ? TuningSettings.ParseBudget(b) : (null, null);
            // Architectures are checked against the data the search trains on, known before it is read.
            var dataFolder = CommonOptions.DataFolder(parse);
            var schema = dataFolder.Schema;
            var searchSpace = parse.GetValue(space) is string file ? SearchSpace.Load(file, schema) : new SearchSpace();
            if (parse.GetValue(lrRange) is string lr)
            {
                var (min, max) = SearchSpace.ParseRange(lr, "--lr-range");
                searchSpace = searchSpace with { LearningRateMin = min, LearningRateMax = max };
            }
            if (parse.GetValue(dropoutRange) is string dr)
            {
                var (min, max) = SearchSpace.ParseRange(dr, "--dropout-range");
                searchSpace = searchSpace with { DropoutMin = min, DropoutMax = max };
            }
            if (parse.GetValue(batchSizes) is string bs)
                searchSpace = searchSpace with { BatchSizes = SearchSpace.ParseIntList(bs, "--batch-sizes") };
            if (parse.GetValue(hiddenChoices) is string hc)
                searchSpace = searchSpace with { Hidden = SearchSpace.ParseHiddenChoices(hc, "--hidden-choices") };
            if (parse.GetValue(archChoices) is string ac)
                searchSpace = searchSpace with { Architectures = SearchSpace.ParseArchitectureChoices(ac, schema, "--arch-choices") };
            if (parse.GetValue(optimizers) is string op)
                searchSpace = searchSpace with { Optimizers = SearchSpace.ParseOptimizers(op.Split(',', StringSplitOptions.TrimEntries), "--optimizers") };
            if (parse.GetValue(momentumRange) is string mr)
            {
                var (min, max) = SearchSpace.ParseRange(mr, "--momentum-range");
                searchSpace = searchSpace with { MomentumMin = min, MomentumMax = max };
            }
            if (parse.GetValue(weightDecays) is string wd)
                searchSpace = searchSpace with { WeightDecays = SearchSpace.ParseNumberList(wd, "--weight-decays") };
            if (parse.GetValue(schedules) is string sc)
                searchSpace = searchSpace with { Schedules = SearchSpace.ParseSchedules(sc, "--schedules") };
            if (parse.GetValue(labelSmoothings) is string ls)
                searchSpace = searchSpace with { LabelSmoothings = SearchSpace.ParseNumberList(ls, "--label-smoothings") };
            if (parse.GetValue(emaDecays) is string ed)
                searchSpace = searchSpace with { EmaDecays = SearchSpace.ParseEmaDecays(ed, "--ema-decays") };
            foreach (var (key, option) in DistortionSpace.Keys.Zip(distortionRanges))
            {
                if (parse.GetValue(option) is string range)
                {
                    var (min, max) = SearchSpace.ParseRange(range, option.Name);
                    searchSpace = searchSpace with { Distortion = searchSpace.Distortion.WithRange(key, min, max) };
                }
            }
            searchSpace.Validate(schema, parse.GetValue(space) is string f ? $"--space {f}" : "search space flags");
            var settings = new TuningSettings
            {
                Trials = parse.GetValue(trials),
                Eta = parse.GetValue(eta),
                MinEpochs = parse.GetValue(minEpochs),
                MaxEpochs = parse.GetValue(maxEpochs),
                Seed = parse.GetValue(seed),
                BudgetEpochs = budgetEpochs,
                BudgetMinutes = budgetMinutes,
                ValidationSplit = parse.GetValue(valSplit),
                LimitTrain = parse.GetValue(limitTrain),
                FinalFull = parse.GetValue(finalFull),
                Space = searchSpace.ToDocument(),
                Device = parse.GetValue(CommonOptions.Device) ?? "auto",
                Data = parse.GetValue(CommonOptions.Data),
                DataOptions = CommonOptions.ParseLoadOptions(parse) is var loadOptions && loadOptions != ImageLoadOptions.Default ? loadOptions : null,
            };
            settings.Validate(schema);
            var request = CommonOptions.ParseDevice(settings.Device);
            string dir = parse.GetValue(outDir) ?? CommonOptions.Timestamped("tunes");
            RunArtifacts.RequireNewOrEmptyFolder(dir, "--out", "choose another folder, or --resume it");
            return Run(TuningSearch.Create(settings, schema), request, CommonOptions.ParseCpuSimd(parse), dataFolder, dir, resuming: false);
        }));
        return command;
    }

    private static int Run(TuningState state, DeviceRequest request, CpuSimdRequest simd, IImageSource dataFolder, string dir, bool resuming)
    {
        var settings = state.Settings;
        if (resuming && File.Exists(Path.Combine(dir, TuningFiles.BestFileName)))
        {
            var done = TuningFiles.ReadBest(dir);
            Console.WriteLine($"{dir} is already finished");
            PrintBest(done);
            return ExitCodes.Success;
        }

        var data = CommonOptions.LoadData(dataFolder);
        var template = TuningTraining.TrialTemplate(settings);
        int available = Math.Min(data.Train.Count, settings.LimitTrain ?? int.MaxValue);
        // Batch sizes are the search's; they are checked against the split below.
        (template with { BatchSize = 1 }).Validate(data.Schema, data.Train.Count);
        if (template.ValidationCount(available) < 1)
            throw new OptionException($"--val-split {settings.ValidationSplit.ToString(CultureInfo.InvariantCulture)} of {available} images leaves no validation images to score trials on");
        SearchSpace.FromDocument(settings.Space, data.Schema).CheckBatchSizes(template.TrainCount(available), data.Schema, "--batch-sizes");

        using var opened = CommonOptions.OpenDevice(request, simd, compiled: "kernels compiled once");
        using var deviceData = new DeviceImageDataset(opened.Device.Accelerator, data);
        Console.WriteLine($"dataset uploaded once: {data.Train.Count} training and {data.Test.Count} test images; trials train on {template.TrainCount(available)} and are scored on {template.ValidationCount(available)} validation images");
        Directory.CreateDirectory(dir);
        state.DeviceDescription ??= opened.Description;

        using var interrupt = InterruptSignal.Listen();
        try
        {
            TuningOutcome outcome;
            using (var objective = new TrainerObjective(opened, deviceData, template, Path.Combine(dir, TuningFiles.TrialCheckpointDirName)))
            {
                var search = new TuningSearch(state, objective, dir);
                if (!state.Finished)
                {
                    var schedule = search.Schedule;
                    if (resuming)
                        Console.WriteLine($"resuming {dir}: {state.Trials.Count(t => t.EpochsRun > 0)} trials trained so far, {state.SpentEpochs} epochs, {state.ElapsedSeconds:F0} s");
                    Console.WriteLine($"tuning {settings.Trials} configurations, η = {settings.Eta}: {schedule}{BudgetText(settings)}; folder {dir}");
                    AttachPrinting(search);
                }
                outcome = search.Run(interrupt.Token);
                if (objective.Restored > 0 || objective.ReplayedEpochs > 0)
                    Console.WriteLine($"resume: {objective.Restored} trials restored from checkpoints, {objective.ReplayedEpochs} epochs trained again");
            }
            TuningPlot.Write(Path.Combine(dir, TuningFiles.PlotFileName), state);
            PrintTrials(state);
            if (outcome.Best is null)
            {
                Console.Error.WriteLine(outcome.StopReason == "all-diverged"
                    ? "gpumlp: error: every trial diverged; narrow --lr-range"
                    : "gpumlp: error: no trial finished a single epoch within --budget; raise it");
                return ExitCodes.Unexpected;
            }
            var best = outcome.Best;
            var bestEpoch = best.Best()!;
            var worstEpoch = outcome.Worst!.Best()!;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"search {outcome.StopReason}: {outcome.SpentEpochs} epochs in {outcome.ElapsedSeconds:F0} s; best trial {best.Id} ({best.Config.ToString()}) val acc {bestEpoch.ValAccuracy:P2} loss {bestEpoch.ValLoss:F4} at epoch {bestEpoch.Epoch}; worst trial {outcome.Worst.Id} val acc {worstEpoch.ValAccuracy:P2}"));

            return Final(state, outcome, opened, deviceData, dir, interrupt.Token);
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine($"gpumlp: interrupted; every finished trial rung is saved; continue with: gpumlp tune --resume {dir}");
            return ExitCodes.Interrupted;
        }
    }

    private static string BudgetText(TuningSettings s) =>
        s.BudgetEpochs is long e ? $", budget {e} epochs"
        : s.BudgetMinutes is double m ? string.Create(CultureInfo.InvariantCulture, $", budget {m:0.##} min")
        : "";

    private static void AttachPrinting(TuningSearch search)
    {
        var culture = CultureInfo.InvariantCulture;
        search.TrialStarting = (run, rung) =>
        {
            if (run.FromEpoch == 1 && rung.Index == 0 && run.Trial == search.State.Rungs[0].Entered[0])
                Console.WriteLine($"rung 0: {search.State.Rungs[0].Entered.Count} trials × {Epochs(rung.Epochs)}");
        };
        search.TrialFinished = report =>
        {
            var last = report.Epochs[^1];
            var best = report.Trial.Best();
            string score = last.IsFinite
                ? string.Create(culture, $"val loss {last.ValLoss:F4} acc {last.ValAccuracy:P2}")
                : "diverged (loss is not finite)";
            string bestText = best is not null && best.Epoch != last.Epoch
                ? string.Create(culture, $" (best: epoch {best.Epoch}, {best.ValAccuracy:P2})")
                : "";
            string epochs = report.FromEpoch == last.Epoch ? $"epoch {last.Epoch}" : $"epochs {report.FromEpoch}-{last.Epoch}";
            Console.WriteLine(string.Create(culture,
                $"  trial {report.Trial.Id,2}  {report.Trial.Config}  {epochs}: {score}{bestText}  {report.Epochs.Sum(e => e.Seconds):F1} s  [search: {Epochs(report.SpentEpochs)}, {report.ElapsedSeconds:F0} s]"));
        };
        search.RungFinished = rung =>
        {
            var stopped = rung.Entered.Except(rung.Promoted ?? []).ToList();
            int next = rung.Index + 1;
            if (next < search.Schedule.Rungs.Count && rung.Promoted is { Count: > 0 } promoted)
            {
                string stoppedText = stopped.Count == 0 ? "" : $"stopped {string.Join(", ", stopped)}; ";
                string trialsText = promoted.Count == 1 ? $"trial {promoted[0]} trains" : $"trials {string.Join(", ", promoted)} train";
                Console.WriteLine($"rung {rung.Index} done: {stoppedText}rung {next}: {trialsText} on to {search.Schedule.Rungs[next].Epochs} epochs");
            }
            else
            {
                Console.WriteLine($"rung {rung.Index} done");
            }
        };
    }

    private static string Epochs(long count) => count == 1 ? "1 epoch" : $"{count} epochs";

    /// <summary>Every trial, best first, as a plain aligned table (readable in logs too).</summary>
    private static void PrintTrials(TuningState state)
    {
        var culture = CultureInfo.InvariantCulture;
        var rows = new List<string[]> { new[] { "rank", "trial", "batch", "lr", "dropout", "hidden", "epochs", "status", "best_epoch", "val_loss", "val_acc", "seconds", "optimizer", "arch" } };
        var ranked = Ranking.Order(state.Trials.Where(t => !t.HasDiverged)).Concat(state.Trials.Where(t => t.HasDiverged)).ToList();
        for (int i = 0; i < ranked.Count; i++)
        {
            var t = ranked[i];
            var best = t.HasDiverged ? null : t.Best();
            rows.Add(
            [
                best is null ? "-" : (i + 1).ToString(culture), t.Id.ToString(culture), t.Config.BatchSize.ToString(culture),
                TrialConfig.Format(t.Config.LearningRate), t.Config.Dropout is float dropout ? TrialConfig.Format(dropout) : "-", t.Config.IsMlp ? t.Config.HiddenText : "-",
                t.EpochsRun.ToString(culture), JsonNamingPolicy.SnakeCaseLower.ConvertName(t.Status.ToString()),
                best?.Epoch.ToString(culture) ?? "-", best?.ValLoss.ToString("F4", culture) ?? "-",
                best is null ? "-" : (100 * best.ValAccuracy).ToString("F2", culture) + "%", t.Seconds.ToString("F1", culture),
                t.Config.OptimizerText, t.Config.ArchitectureName,
            ]);
        }
        var widths = Enumerable.Range(0, rows[0].Length).Select(c => rows.Max(r => r[c].Length)).ToArray();
        Console.WriteLine(state.Trials.All(t => t.Config.IsMlp)
            ? "trials, best first (scored on the validation split):"
            : "trials, best first (scored on the validation split; dropout and hidden are the MLP's: - for a layer stack, whose own layers apply):");
        foreach (var row in rows)
            Console.WriteLine("  " + string.Join("  ", row.Select((cell, c) => c is 3 or 4 or 5 or 7 or 12 or 13 ? cell.PadRight(widths[c]) : cell.PadLeft(widths[c]))).TrimEnd());
    }

    /// <summary>Retrains the best configuration without a validation split for its best epoch
    /// count in final/ (a regular run folder), evaluates the test set once, and writes best.json.</summary>
    private static int Final(TuningState state, TuningOutcome outcome, KernelDevice device,
        DeviceImageDataset deviceData, string dir, CancellationToken cancel)
    {
        var best = outcome.Best!;
        var culture = CultureInfo.InvariantCulture;
        var result = TuningTraining.RetrainBest(state, outcome, device, deviceData, dir,
            starting: run => Console.WriteLine($"final: retraining trial {best.Id} for {run.Options.Epochs} epochs on all {run.Trainer.TrainCount} training images (no validation split){(run.ResumedAt is string at ? $", resuming {at}" : "")}"),
            onEpoch: r => Console.WriteLine(string.Create(culture,
                $"  epoch {r.Epoch,2}/{outcome.Best!.Best()!.Epoch}  train loss {r.TrainLoss:F4} acc {r.TrainAccuracy:P2}  {r.Seconds:F1} s")),
            cancel);
        PrintBest(result);
        Console.WriteLine($"wrote {dir} (tune.csv, tune.json, trials.png, best.json, final/)");
        return ExitCodes.Success;
    }

    private static void PrintBest(BestResult best)
    {
        var culture = CultureInfo.InvariantCulture;
        Console.WriteLine(string.Create(culture,
            $"best configuration: trial {best.Trial} ({best.Config.ToString()}), {best.Epochs} epochs; validation accuracy {best.ValAccuracy:P2} (worst trial {best.WorstTrialValAccuracy:P2})"));
        Console.WriteLine(string.Create(culture,
            $"test (evaluated once, after the search): accuracy {best.Test.Accuracy:P2}  macro F1 {best.Test.MacroF1:P2}  loss {best.Test.Loss:F4}  — the report: {best.ReportTestAccuracy:P2} (trained on {best.Final.TrainImages} images here)"));
        Console.WriteLine("train it again with:");
        Console.WriteLine("  " + best.Command);
    }
}
