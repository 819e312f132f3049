using System.Globalization;
using GpuMlp.Compute;
using GpuMlp.Models;
using GpuMlp.Plots;
using GpuMlp.Runs;

namespace GpuMlp.Training;

/// <summary>One run folder from its configuration to its finished artifacts; `gpumlp train` and
/// the retrain at the end of `gpumlp tune` both go through it:
/// <list type="bullet">
/// <item>starting writes config.json (resuming restores the checkpoint instead);</item>
/// <item><see cref="Train"/> runs the epochs (<see cref="EpochLoop"/>: the learning-rate schedule,
/// early stopping with best-weight restore and divergence detection), writing checkpoint.bin and
/// history.csv after every epoch, and a mid-epoch checkpoint when interrupted;</item>
/// <item><see cref="Finish"/> evaluates the test set once and writes metrics.json,
/// model.safetensors, curves.png and confusion.png.</item>
/// </list>
/// Every file is written atomically. Since the shuffle and the dropout masks are functions of
/// (seed, epoch, step), a resumed run produces the same weights as an uninterrupted one on the same
/// device.</summary>
public sealed class TrainingRun : IDisposable
{
    private readonly DeviceKernels kernels;
    private readonly EpochLoop loop;

    private TrainingRun(string folder, TrainingOptions options, KernelDevice device, DeviceImageDataset data, Checkpoint? resume)
    {
        ArgumentException.ThrowIfNullOrEmpty(folder);
        ArgumentNullException.ThrowIfNull(device);
        kernels = device.Kernels;
        Folder = folder;
        Options = options;
        Device = device.Description;
        Trainer = new Trainer(device, data, options);
        loop = new EpochLoop(Trainer, options)
        {
            EpochFinished = seconds =>
            {
                SaveCheckpoint(seconds, partial: null);
                RunArtifacts.WriteHistoryCsv(Folder, History);
            },
            // Interrupted between two steps: keep them, so a resume continues mid-epoch.
            Interrupted = (seconds, partial) => SaveCheckpoint(seconds, partial),
            DivergenceAdvice = epochsDone => (epochsDone > 0
                ? $"the checkpoint of epoch {epochsDone} in {Folder} is kept"
                : "no checkpoint was written") + "; try a smaller --lr",
        };
        if (resume is null)
            return;
        try
        {
            resume.RestoreInto(Trainer);
        }
        catch
        {
            Trainer.Dispose();
            throw;
        }
        loop.ContinueFrom(resume);
        ResumedAt = Where(loop.EpochsCompleted, resume.Partial);
    }

    /// <summary>A new run in <paramref name="folder"/>, which must not exist or be empty; writes
    /// config.json once the trainer exists (a run the device cannot hold writes nothing).</summary>
    /// <exception cref="OptionException">The folder is a file or not empty.</exception>
    public static TrainingRun Start(string folder, TrainingOptions options, KernelDevice device, DeviceImageDataset data)
    {
        RunArtifacts.RequireNewOrEmptyFolder(folder, "--out");
        var run = new TrainingRun(folder, options, device, data, resume: null);
        run.WriteConfig();
        return run;
    }

    /// <summary>Continues the run in <paramref name="folder"/> from its <paramref name="checkpoint"/>,
    /// with the checkpoint's options.</summary>
    /// <exception cref="OptionException">The checkpoint's run trains on data of another schema.</exception>
    public static TrainingRun Resume(string folder, Checkpoint checkpoint, KernelDevice device, DeviceImageDataset data)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        ArgumentNullException.ThrowIfNull(data);
        if (!checkpoint.Schema.Equals(data.Schema))
            throw new OptionException($"the run in {folder} trains on {checkpoint.Schema.Summary}; the data holds {data.Schema.Summary}");
        return new TrainingRun(folder, checkpoint.State.Options, device, data, checkpoint);
    }

    /// <summary>For a folder the caller owns (tune's final/): continues the checkpoint there when
    /// it <see cref="Checkpoint.Continues"/> <paramref name="options"/>, otherwise starts afresh in
    /// it (an unreadable or foreign checkpoint is replaced).</summary>
    public static TrainingRun StartOrResume(string folder, TrainingOptions options, KernelDevice device, DeviceImageDataset data)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(data);
        Checkpoint? resume = null;
        string checkpointPath = Path.Combine(folder, Checkpoint.FileName);
        if (File.Exists(checkpointPath))
        {
            try
            {
                var checkpoint = Checkpoint.Load(checkpointPath);
                if (checkpoint.Continues(options) && checkpoint.Schema.Equals(data.Schema))
                    resume = checkpoint;
            }
            catch (CheckpointFormatException)
            {
                resume = null;
            }
        }
        var run = new TrainingRun(folder, options, device, data, resume);
        if (resume is null)
            run.WriteConfig();
        return run;
    }

    public string Folder { get; }
    public TrainingOptions Options { get; }
    public Trainer Trainer { get; }

    /// <summary>"cuda: NVIDIA H200" and the like.</summary>
    public string Device { get; }

    public IReadOnlyList<EpochRecord> History => loop.History;
    public int EpochsCompleted => loop.EpochsCompleted;

    /// <summary>Where a resumed run continues, e.g. "after epoch 3" or "after step 120 of epoch 4";
    /// null for a new run.</summary>
    public string? ResumedAt { get; }

    /// <summary>Where training stands in the last checkpoint written this session (same form).</summary>
    public string? LastCheckpoint { get; private set; }

    public string CheckpointPath => Path.Combine(Folder, Checkpoint.FileName);

    /// <summary>Trains the remaining epochs. Throws <see cref="TrainingInterruptedException"/>
    /// (after saving a mid-epoch checkpoint when a step of the epoch was taken) and
    /// <see cref="TrainingDivergedException"/> (keeping the last good checkpoint).</summary>
    public TrainingOutcome Train(Action<EpochRecord>? onEpoch = null, Action<TrainingProgress>? progress = null, CancellationToken cancel = default) =>
        loop.Run(onEpoch, progress, cancel);

    /// <summary>The one test evaluation of the run, then metrics.json, model.safetensors (the
    /// weights the run ends with: the best epoch's under early stopping), curves.png and
    /// confusion.png. <paramref name="target"/> (a run with a target accuracy) goes into metrics.json.</summary>
    public EvaluationResult Finish(TrainingOutcome outcome, TargetRecord? target = null)
    {
        ArgumentNullException.ThrowIfNull(outcome);
        var test = Trainer.EvaluateTest();
        RunArtifacts.WriteMetrics(Folder, Device, outcome.History, test.Report, test.Loss,
            new TimingRecord(kernels.CompileSeconds, outcome.TrainSeconds), Options.Optimizer.Describe(), target);
        SaveModelAndCurves(outcome, test.Accuracy);
        RunPlots.WriteConfusion(Path.Combine(Folder, RunArtifacts.ConfusionFileName), test.Report, Trainer.Schema.ClassNames);
        return test;
    }

    /// <summary>The end of a run that must not look at the test set (choosing a model or a recipe
    /// on validation data): model.safetensors and curves.png only; no test evaluation, so no
    /// metrics.json and no confusion.png.</summary>
    public void FinishWithoutTest(TrainingOutcome outcome)
    {
        ArgumentNullException.ThrowIfNull(outcome);
        SaveModelAndCurves(outcome, testAccuracy: null);
    }

    private void SaveModelAndCurves(TrainingOutcome outcome, double? testAccuracy)
    {
        var metadata = new Dictionary<string, string>
        {
            [TrainedModel.DropoutKey] = Options.Dropout.ToString("R", CultureInfo.InvariantCulture),
            ["gpumlp.seed"] = Options.Seed.ToString(CultureInfo.InvariantCulture),
            ["gpumlp.optimizer"] = Options.Optimizer.Describe(),
            ["gpumlp.epochs"] = outcome.History.Count.ToString(CultureInfo.InvariantCulture),
        };
        ModelSchema.Record(metadata, Trainer.Schema);
        if (testAccuracy is double accuracy)
            metadata["gpumlp.test_accuracy"] = accuracy.ToString("R", CultureInfo.InvariantCulture);
        // A stack's dropout rates are in its gpumlp.architecture; --dropout never applied to it.
        if (!Options.IsMlp)
            metadata.Remove(TrainedModel.DropoutKey);
        string modelPath = Path.Combine(Folder, RunArtifacts.ModelFileName);
        if (Options.IsMlp)
            ModelFile.SaveMlp(modelPath, Trainer.Architecture, Trainer.ModelParameters(), metadata);
        else
            ModelFile.Save(modelPath, Trainer.Architecture, Trainer.ModelParameters(), Trainer.Network.GetState(), metadata);
        RunPlots.WriteCurves(Path.Combine(Folder, RunArtifacts.CurvesFileName), outcome.History);
    }

    public void Dispose() => Trainer.Dispose();

    private void WriteConfig()
    {
        Directory.CreateDirectory(Folder);
        RunArtifacts.WriteConfig(Folder, RunConfig.From(Options, Trainer, Device, CpuSimdChoice.Record(kernels)));
    }

    private static string Where(int epochsDone, PartialEpoch? partial) => partial is null
        ? $"after epoch {epochsDone}"
        : $"after step {partial.Steps} of epoch {partial.Epoch}";

    private void SaveCheckpoint(double secondsThisSession, PartialEpoch? partial)
    {
        LastCheckpoint = Where(loop.EpochsCompleted, partial);
        var state = new CheckpointState
        {
            Options = Options,
            EpochsCompleted = loop.EpochsCompleted,
            BestValidationLoss = loop.BestValidationLoss,
            BestEpoch = loop.BestEpoch,
            EpochsWithoutImprovement = loop.EpochsWithoutImprovement,
            History = loop.History,
            Device = Device,
            TrainSeconds = loop.TrainSecondsBefore + secondsThisSession,
            CompileSeconds = kernels.CompileSeconds,
        };
        Checkpoint.Capture(Trainer, state, loop.BestParameters, partial, loop.BestLayerState).Save(CheckpointPath);
    }
}
