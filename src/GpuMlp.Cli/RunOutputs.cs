using System.Globalization;
using GpuMlp.Models;
using GpuMlp.Plots;
using GpuMlp.Training;

namespace GpuMlp.Cli;

/// <summary>The run folder's model file and pictures, written after the test evaluation.</summary>
public static class RunOutputs
{
    public const string ModelFileName = "model.safetensors";
    public const string CurvesFileName = "curves.png";
    public const string ConfusionFileName = "confusion.png";

    public static void Write(string runDir, Trainer trainer, TrainingOptions options, TrainingOutcome outcome, EvaluationResult test)
    {
        var metadata = new Dictionary<string, string>
        {
            ["gpumlp.dropout"] = options.Dropout.ToString("R", CultureInfo.InvariantCulture),
            ["gpumlp.seed"] = options.Seed.ToString(CultureInfo.InvariantCulture),
            ["gpumlp.epochs"] = outcome.History.Count.ToString(CultureInfo.InvariantCulture),
            ["gpumlp.test_accuracy"] = test.Accuracy.ToString("R", CultureInfo.InvariantCulture),
            ["gpumlp.input"] = "28x28 grayscale, row-major, pixel / 255 (white ink on black)",
        };
        ModelFile.Save(Path.Combine(runDir, ModelFileName), trainer.Shape, trainer.Network.GetParameters(), metadata);
        RunPlots.WriteCurves(Path.Combine(runDir, CurvesFileName), outcome.History);
        RunPlots.WriteConfusion(Path.Combine(runDir, ConfusionFileName), test.Report);
    }

    /// <summary>Loads a model and checks it takes 28x28 images and predicts 10 digits.</summary>
    public static (NetworkShape Shape, float[] Parameters, IReadOnlyDictionary<string, string> Metadata) LoadMnistModel(string path)
    {
        var model = ModelFile.Load(path);
        if (model.Shape.Inputs != 28 * 28 || model.Shape.Classes != 10)
            throw new ModelFormatException($"{path}: the model has widths {model.Shape}, but an MNIST model takes 784 inputs and has 10 outputs");
        return model;
    }

    /// <summary>A run folder (its model.safetensors) or a .safetensors file.</summary>
    public static string ResolveModel(string path)
    {
        if (Directory.Exists(path))
        {
            string inFolder = Path.Combine(path, ModelFileName);
            if (!File.Exists(inFolder))
                throw new FileNotFoundException($"{path} has no {ModelFileName}: is it a finished run folder?", inFolder);
            return inFolder;
        }
        if (!File.Exists(path))
            throw new FileNotFoundException($"no model at {path}: give a run folder or a .safetensors file", path);
        return path;
    }
}
