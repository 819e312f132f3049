using System.Globalization;
using System.Text;
using GpuMlp.Training;

namespace GpuMlp.Tuning;

/// <summary>The training options a search implies: the trials' template and the final retrain,
/// plus the <c>gpumlp train</c> command line that reproduces the retrain.</summary>
public static class TuningTraining
{
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
    /// differs from nothing is spelled out; device "auto" and a null data folder are left out.</summary>
    public static string TrainCommandLine(TrainingOptions options, string? device = null, string? data = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        var culture = CultureInfo.InvariantCulture;
        var sb = new StringBuilder("gpumlp train");
        sb.Append(" --epochs ").Append(options.Epochs.ToString(culture))
          .Append(" --batch-size ").Append(options.BatchSize.ToString(culture))
          .Append(" --lr ").Append(TrialConfig.Format(options.LearningRate))
          .Append(" --dropout ").Append(TrialConfig.Format(options.Dropout))
          .Append(" --hidden ").Append(string.Join(",", options.Hidden.Select(h => h.ToString(culture))))
          .Append(" --seed ").Append(options.Seed.ToString(culture))
          .Append(" --val-split ").Append(options.ValidationSplit.ToString(culture));
        if (options.LimitTrain is int limit)
            sb.Append(" --limit-train ").Append(limit.ToString(culture));
        if (device is not null && !device.Equals("auto", StringComparison.OrdinalIgnoreCase))
            sb.Append(" --device ").Append(Quote(device));
        if (data is not null)
            sb.Append(" --data ").Append(Quote(data));
        return sb.ToString();
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
