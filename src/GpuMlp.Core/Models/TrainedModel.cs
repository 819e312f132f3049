using System.Globalization;
using GpuMlp.Compute;
using GpuMlp.Runs;
using GpuMlp.Training;

namespace GpuMlp.Models;

/// <summary>A trained MNIST classifier read for inference, from a finished run folder (its
/// model.safetensors; a tune's final/ folder is one) or from a .safetensors file. It must take
/// 28x28 images (784 inputs) and predict 10 digits.</summary>
public sealed class TrainedModel
{
    private TrainedModel(string path, LoadedModel loaded)
    {
        Path = path;
        Network = loaded.Network;
        IsMlp = loaded.IsMlp;
        Parameters = loaded.Parameters;
        State = loaded.State;
        Metadata = loaded.Metadata;
    }

    /// <summary>The model file read.</summary>
    public string Path { get; }

    /// <summary>The layer stack (from gpumlp.architecture, or the MLP the tensors describe).</summary>
    public Architecture Network { get; }

    /// <summary>True when the file is the report's MLP (gpumlp.widths, no architecture metadata):
    /// it is named, saved and exported under its widths.</summary>
    public bool IsMlp { get; }

    /// <summary>How messages name the network: the MLP's widths (784-512-256-10) or the stack's text.</summary>
    public string Name => IsMlp ? Network.MlpName! : Network.Text;
    public float[] Parameters { get; }

    /// <summary>The layers' non-trained state (empty for stacks without state).</summary>
    public float[] State { get; }
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>The training dropout rate recorded in the metadata (gpumlp.dropout; 0 when absent
    /// or not a rate in [0, 1)).</summary>
    public float Dropout =>
        Metadata.TryGetValue(DropoutKey, out string? text)
        && float.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out float rate)
        && rate is >= 0f and < 1f
            ? rate
            : 0f;

    /// <summary>The metadata key a run writes its dropout rate under.</summary>
    public const string DropoutKey = "gpumlp.dropout";

    /// <summary>Reads the model of a run folder or a model file.</summary>
    /// <exception cref="FileNotFoundException">No such file, or a folder without model.safetensors.</exception>
    /// <exception cref="ModelFormatException">The file is not a valid model, or not an MNIST one.</exception>
    public static TrainedModel Load(string runFolderOrFile)
    {
        string path = Resolve(runFolderOrFile);
        var loaded = ModelFile.LoadAny(path);
        if (loaded.IsMlp && (loaded.Network.Input != Architecture.MnistVector || loaded.Network.Classes != Architecture.MnistClasses))
            throw new ModelFormatException($"{path}: the model has widths {loaded.Network.MlpName}, but an MNIST model takes 784 inputs and has 10 outputs");
        try
        {
            _ = LayerNetwork.Plan(loaded.Network);
        }
        catch (ArchitectureException error)
        {
            throw new ModelFormatException($"{path}: {error.Message}", error);
        }
        return new TrainedModel(path, loaded);
    }

    /// <summary>A run folder's model.safetensors, or the file itself.</summary>
    private static string Resolve(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (Directory.Exists(path))
        {
            string inFolder = System.IO.Path.Combine(path, RunArtifacts.ModelFileName);
            if (!File.Exists(inFolder))
                throw new FileNotFoundException($"{path} has no {RunArtifacts.ModelFileName}: is it a finished run folder?", inFolder);
            return inFolder;
        }
        if (!File.Exists(path))
            throw new FileNotFoundException($"no model at {path}: give a run folder or a .safetensors file", path);
        return path;
    }

    /// <summary>The model on a device, with room for <paramref name="maxRows"/> rows per launch
    /// (capped at <see cref="TrainingOptions.ConvolutionEvaluationBatchSize"/> for stacks with convolutions).</summary>
    public DeviceModel Upload(MlpKernels kernels, int maxRows) =>
        new(kernels, Network, Parameters, Network.HasConvolution ? Math.Min(maxRows, TrainingOptions.ConvolutionEvaluationBatchSize) : maxRows, State);
}

/// <summary>A trained model on a device: forward passes only, the same kernels and reductions
/// training evaluates with, so an evaluation reproduces the run's test metrics exactly on the
/// same device.</summary>
public sealed class DeviceModel : IDisposable
{
    private readonly MlpKernels kernels;
    private readonly LayerNetwork network;

    /// <param name="maxRows">Rows per forward launch (the evaluation batch).</param>
    /// <param name="state">The layers' non-trained state; null leaves each tensor at its initial value.</param>
    public DeviceModel(MlpKernels kernels, Architecture architecture, float[] parameters, int maxRows, float[]? state = null)
    {
        ArgumentNullException.ThrowIfNull(kernels);
        this.kernels = kernels;
        network = new LayerNetwork(kernels, architecture, maxRows);
        try
        {
            network.SetParameters(parameters);
            if (state is not null)
                network.SetState(state);
        }
        catch
        {
            network.Dispose();
            throw;
        }
    }

    public Architecture Network => network.Architecture;

    public float[] GetParameters() => network.GetParameters();

    /// <summary>Loss, accuracy and confusion over a whole split, MaxRows rows per launch.</summary>
    public EvaluationResult Evaluate(DeviceDataset split)
    {
        ArgumentNullException.ThrowIfNull(split);
        using var evaluator = new Evaluator(kernels, network, split.Count);
        return evaluator.Evaluate(split, 0, split.Count, network.MaxRows);
    }

    /// <summary>Class probabilities for host images of 784 values in [0, 1] each.</summary>
    public float[][] Predict(IReadOnlyList<float[]> images)
    {
        using var evaluator = new Evaluator(kernels, network, 1);
        return evaluator.Predict(images);
    }

    public void Dispose() => network.Dispose();
}
