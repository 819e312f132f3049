using GpuMlp.Training;

namespace GpuMlp.Cli;

/// <summary>The run folder's model file and pictures, written after the test evaluation.</summary>
public static class RunOutputs
{
    public static void Write(string runDir, Trainer trainer, TrainingOptions options, TrainingOutcome outcome, EvaluationResult test)
    {
        _ = (runDir, trainer, options, outcome, test);
    }
}
