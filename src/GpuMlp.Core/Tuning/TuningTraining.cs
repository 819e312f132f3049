using System.Globalization;
using System.Text;
using GpuMlp.Compute;
using GpuMlp.Runs;
using GpuMlp.Training;

namespace GpuMlp.Tuning;

/// <summary>The training a search implies: the trials' template, the final retrain of the best
/// configuration (a regular run folder, final/), and the <c>gpumlp train</c> command line that
/// reproduces the retrain.</summary>
public static class TuningTraining
{
    /// <summary>The report's test accuracy, recorded next to the retrain's.</summary>
    public const double ReportTestAccuracy = 0.9812;

    /// <summary>Retrains the best configuration of <paramref name="outcome"/> in
    /// <paramref name="directory"/>/final (continuing a retrain interrupted before), evaluates the
    /// test set for the only time in the search, writes the run folder's artifacts and best.json,
    /// and returns what best.json holds. <paramref name="starting"/> sees the run before it trains.</summary>
    public static BestResult RetrainBest(TuningState state, TuningOutcome outcome, KernelDevice device,
        DeviceImageDataset data, string directory, Action<TrainingRun>? starting, Action<EpochRecord>? onEpoch, CancellationToken cancel)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(outcome);
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(data);
        var best = outcome.Best ?? throw new ArgumentException("the search has no best trial", nameof(outcome));
        var settings = state.Settings;
        var options = FinalOptions(settings, best);
        options.Validate(data.Schema, data.Train.Count);
        string finalDir = Path.Combine(directory, TuningFiles.FinalDirName);
        using var run = TrainingRun.StartOrResume(finalDir, options, device, data);
        starting?.Invoke(run);
        var trained = run.Train(onEpoch, progress: null, cancel);
        var test = run.Finish(trained);
        var bestEpoch = best.Best()!;
        var result = new BestResult(
            best.Id, best.Config, options.Epochs, bestEpoch.ValLoss, bestEpoch.ValAccuracy, outcome.Worst!.Best()!.ValAccuracy,
            new BestSearchSummary(settings.Trials, outcome.SpentEpochs, outcome.ElapsedSeconds, outcome.StopReason, state.DeviceDescription ?? run.Device),
            new FinalRun(run.Trainer.TrainCount, options.Epochs, trained.TrainSeconds, finalDir),
            new FinalTest(test.Accuracy, test.Loss, test.Report.MacroPrecision, test.Report.MacroRecall, test.Report.MacroF1),
            ReportTestAccuracy, TrainCommandLine(options, settings.Device, settings.Data));
        TuningFiles.WriteBest(directory, result);
        return result;
    }

    /// <summary>What every trial shares: seed, validation split and data limit (the trial's own
    /// configuration and epochs are filled in per trial).</summary>
    public static TrainingOptions TrialTemplate(TuningSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        return new TrainingOptions
        {
            Seed = settings.Seed,
            ValidationSplit = settings.ValidationSplit,
            LimitTrain = settings.LimitTrain,
        };
    }

    /// <summary>The retrain of <paramref name="best"/>: its configuration for its best epoch count,
    /// on all the search's training images (the validation part included, no split), or on the
    /// whole training file with FinalFull.</summary>
    public static TrainingOptions FinalOptions(TuningSettings settings, TrialState best)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(best);
        var bestEpoch = best.Best() ?? throw new ArgumentException($"trial {best.Id} has no finite validation result", nameof(best));
        return best.Config.ToOptions(TrialTemplate(settings), bestEpoch.Epoch) with
        {
            ValidationSplit = 0,
            LimitTrain = settings.FinalFull ? null : settings.LimitTrain,
        };
    }

    /// <summary>"gpumlp train --epochs 9 --batch-size 128 --lr 0.00123 --dropout 0.27 --hidden 512,256
    /// --seed 1 --val-split 0 [--limit-train N] [--device cpu] [--data DIR]": every setting that
    /// differs from nothing is spelled out; device "auto" and a null data folder are left out. A
    /// layer stack is "--arch TEXT" in place of --dropout and --hidden (with "--augment-shift N" when
    /// it trains with shifts: the text alone trains without).</summary>
    public static string TrainCommandLine(TrainingOptions options, string? device = null, string? data = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        var culture = CultureInfo.InvariantCulture;
        var sb = new StringBuilder("gpumlp train");
        sb.Append(" --epochs ").Append(options.Epochs.ToString(culture))
          .Append(" --batch-size ").Append(options.BatchSize.ToString(culture))
          .Append(" --lr ").Append(TrialConfig.Format(options.Optimizer.LearningRate))
          .Append(options.Optimizer.CommandLineFlags() is { Length: > 0 } flags ? " " + flags : "")
          .Append(options.IsMlp
              ? " --dropout " + TrialConfig.Format(options.Dropout) + " --hidden " + string.Join(",", options.Hidden.Select(h => h.ToString(culture)))
              : " --arch " + Quote(options.ArchitectureText!)
                + (options.AugmentShift > 0 ? " --augment-shift " + options.AugmentShift.ToString(culture) : ""))
          .Append(options.IsDistorted ? " " + options.Distortion!.CommandLineFlags() : "")
          .Append(" --seed ").Append(options.Seed.ToString(culture))
          .Append(" --val-split ").Append(options.ValidationSplit.ToString(culture));
        AppendRecipe(sb, options);
        if (options.LimitTrain is int limit)
            sb.Append(" --limit-train ").Append(limit.ToString(culture));
        if (device is not null && !device.Equals("auto", StringComparison.OrdinalIgnoreCase))
            sb.Append(" --device ").Append(Quote(device));
        if (data is not null)
            sb.Append(" --data ").Append(Quote(data));
        return sb.ToString();
    }

    /// <summary>The schedule, label smoothing and EMA flags, each only when set (a run without them
    /// prints the command it always did).</summary>
    private static void AppendRecipe(StringBuilder sb, TrainingOptions options)
    {
        var culture = CultureInfo.InvariantCulture;
        if (options.Schedule != LearningRateSchedule.Constant)
            sb.Append(" --lr-schedule ").Append(options.Schedule.Name());
        if (options.OneCycle is { } oneCycle)
        {
            var torch = new OneCycleSettings();
            if (!oneCycle.PctStart.Equals(torch.PctStart))
                sb.Append(" --onecycle-pct ").Append(oneCycle.PctStart.ToString(culture));
            if (!oneCycle.DivFactor.Equals(torch.DivFactor))
                sb.Append(" --div-factor ").Append(oneCycle.DivFactor.ToString(culture));
            if (!oneCycle.FinalDivFactor.Equals(torch.FinalDivFactor))
                sb.Append(" --final-div-factor ").Append(oneCycle.FinalDivFactor.ToString(culture));
            if (oneCycle.Anneal != torch.Anneal)
                sb.Append(" --anneal linear");
            if (!oneCycle.CycleMomentum)
                sb.Append(" --cycle-momentum off");
            if (!oneCycle.BaseMomentum.Equals(torch.BaseMomentum))
                sb.Append(" --base-momentum ").Append(oneCycle.BaseMomentum.ToString(culture));
            if (!oneCycle.MaxMomentum.Equals(torch.MaxMomentum))
                sb.Append(" --max-momentum ").Append(oneCycle.MaxMomentum.ToString(culture));
            if (oneCycle.ThreePhase)
                sb.Append(" --three-phase");
        }
        if (options.WarmupSteps > 0)
            sb.Append(" --warmup-steps ").Append(options.WarmupSteps.ToString(culture));
        if (options.WarmupStartFactor is double factor)
            sb.Append(" --warmup-start-factor ").Append(factor.ToString(culture));
        if (options.LabelSmoothing != 0f)
            sb.Append(" --label-smoothing ").Append(TrialConfig.Format(options.LabelSmoothing));
        if (options.EmaDecay is float decay)
            sb.Append(" --ema ").Append(TrialConfig.Format(decay));
    }

    /// <summary>POSIX-shell quoting when needed.</summary>
    public static string Quote(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return text.Length > 0 && text.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.' or '/' or ',' or ':' or '=' or '+')
            ? text
            : "'" + text.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
    }
}
