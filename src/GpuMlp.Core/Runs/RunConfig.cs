using GpuMlp.Training;

namespace GpuMlp.Runs;

/// <summary>What config.json records about a run: every setting, the device, the split sizes, the
/// network, the initialisation and the optimizer.</summary>
public sealed record RunConfig(
    string Device, int Epochs, int BatchSize, float LearningRate, float Dropout, IReadOnlyList<int> Hidden,
    int Seed, double ValSplit, int? LimitTrain, int? EarlyStop, string LrSchedule, int TrainImages, int ValidationImages, string Network,
    string Initialisation, string Optimizer,
    [property: System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)] string? Architecture = null)
{
    public static RunConfig From(TrainingOptions o, Trainer trainer, string device)
    {
        ArgumentNullException.ThrowIfNull(o);
        ArgumentNullException.ThrowIfNull(trainer);
        return new(
            device, o.Epochs, o.BatchSize, o.LearningRate, o.Dropout, o.Hidden, o.Seed, o.ValidationSplit, o.LimitTrain,
            o.EarlyStopPatience, o.Schedule.ToString().ToLowerInvariant(), trainer.TrainCount, trainer.ValidationCount, trainer.NetworkName,
            o.IsMlp ? "PyTorch nn.Linear default: W, b ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in))"
                : "PyTorch nn.Conv2d/nn.Linear default: W, b ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in))",
            "Adam(beta1=0.9, beta2=0.999, eps=1e-8), softmax cross-entropy",
            o.ArchitectureText);
    }
}
