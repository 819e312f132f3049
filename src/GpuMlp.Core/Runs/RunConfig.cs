using GpuMlp.Training;

namespace GpuMlp.Runs;

/// <summary>What config.json records about a run: every setting, the device (and on the CPU
/// accelerator its SIMD path: vector512, vector256, scalar or off), the split sizes, the network,
/// the initialisation, the optimizer (described, and its settings with the effective learning rate:
/// the optimiser's default when --lr was not given) and the loss. The MLP's dropout and hidden
/// widths only for the MLP (a layer stack has its own, in architecture and network), the
/// architecture text, the augmentation shift and the distortion only when set, and so OneCycle's
/// parameters, the warm-up, label smoothing and the EMA decay: an MLP run without them writes what
/// it always did.</summary>
public sealed record RunConfig(
    string Device, string? CpuSimd, int Epochs, int BatchSize, float LearningRate,
    [property: System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)] float? Dropout,
    [property: System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)] IReadOnlyList<int>? Hidden,
    int Seed, double ValSplit, int? LimitTrain, int? EarlyStop, string LrSchedule, int TrainImages, int ValidationImages, string Network,
    string Initialisation, string Optimizer, OptimizerSettings OptimizerSettings, string Loss,
    [property: System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)] string? Architecture = null,
    [property: System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingDefault)] int AugmentShift = 0,
    [property: System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)] OneCycleSettings? OneCycle = null,
    [property: System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingDefault)] int WarmupSteps = 0,
    [property: System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)] double? WarmupStartFactor = null,
    [property: System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingDefault)] float LabelSmoothing = 0f,
    [property: System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)] float? EmaDecay = null,
    [property: System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)] ImageDistortion? Distortion = null)
{
    public static RunConfig From(TrainingOptions o, Trainer trainer, string device, string? cpuSimd)
    {
        ArgumentNullException.ThrowIfNull(o);
        ArgumentNullException.ThrowIfNull(trainer);
        return new(
            device, cpuSimd, o.Epochs, o.BatchSize, o.Optimizer.LearningRate, o.IsMlp ? o.Dropout : null, o.IsMlp ? o.Hidden : null, o.Seed, o.ValidationSplit, o.LimitTrain,
            o.EarlyStopPatience, o.Schedule.Name(), trainer.TrainCount, trainer.ValidationCount, trainer.NetworkName,
            o.IsMlp ? "PyTorch nn.Linear default: W, b ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in))"
                : "PyTorch nn.Conv2d/nn.Linear default: W, b ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in))",
            o.Optimizer.Describe(), o.Optimizer, "softmax cross-entropy",
            o.ArchitectureText, o.AugmentShift,
            o.Schedule == LearningRateSchedule.OneCycle ? o.OneCycle ?? new OneCycleSettings() : null,
            o.WarmupSteps, o.WarmupSteps > 0 ? o.WarmupStartFactor ?? TrainingOptions.DefaultWarmupStartFactor : null,
            o.LabelSmoothing, o.EmaDecay, o.IsDistorted ? o.Distortion : null);
    }
}
