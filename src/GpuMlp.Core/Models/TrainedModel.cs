using System.Globalization;
using GpuMlp.Compute;
using GpuMlp.Data;
using GpuMlp.Imaging;
using GpuMlp.Runs;
using GpuMlp.Training;

namespace GpuMlp.Models;

/// <summary>A trained image classifier read for inference, from a finished run folder (its
/// model.safetensors; a tune's final/ folder is one) or from a .safetensors file, with the dataset
/// schema it was trained on (the images it takes and the classes it predicts).</summary>
public sealed class TrainedModel
{
    private TrainedModel(string path, LoadedModel loaded, ImagePreprocessing preprocessing)
    {
        Preprocessing = preprocessing;
        Path = path;
        Network = loaded.Network;
        IsMlp = loaded.IsMlp;
        Parameters = loaded.Parameters;
        State = loaded.State;
        Metadata = loaded.Metadata;
        Schema = loaded.Schema;
    }

    /// <summary>The model file read.</summary>
    public string Path { get; }

    /// <summary>The layer stack (from gpumlp.architecture, or the MLP the tensors describe).</summary>
    public Architecture Network { get; }

    /// <summary>True when the file is the report's MLP (gpumlp.widths, no architecture metadata):
    /// it is named, saved and exported under its widths.</summary>
    public bool IsMlp { get; }

    /// <summary>How messages name the network: the MLP's widths or the stack's text.</summary>
    public string Name => IsMlp ? Network.MlpName! : Network.Text;
    public float[] Parameters { get; }

    /// <summary>The layers' non-trained state (empty for stacks without state).</summary>
    public float[] State { get; }
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>The images the model takes and the names of the classes it scores.</summary>
    public ImageSchema Schema { get; }

    /// <summary>How its training images were prepared, so how an image file is prepared for it
    /// (<see cref="ModelSchema.ReadPreprocessing"/>).</summary>
    public ImagePreprocessing Preprocessing { get; }

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
    /// <exception cref="ModelFormatException">The file is not a valid model, or its network does not
    /// fit the schema it records.</exception>
    public static TrainedModel Load(string runFolderOrFile)
    {
        string path = Resolve(runFolderOrFile);
        var loaded = ModelFile.LoadAny(path);
        try
        {
            _ = LayerNetwork.Plan(loaded.Network);
        }
        catch (ArchitectureException error)
        {
            throw new ModelFormatException($"{path}: {error.Message}", error);
        }
        return new TrainedModel(path, loaded, ModelSchema.ReadPreprocessing(loaded.Metadata, path));
    }

    /// <summary>Refuses data of another schema than the model's (other images or other classes).</summary>
    /// <exception cref="OptionException">One line naming both schemas.</exception>
    public void RequireSchema(ImageSchema data)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (!Schema.Equals(data))
            throw new OptionException($"{Path} was trained on {Schema.Summary}; the data holds {data.Summary}");
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
    public DeviceModel Upload(KernelDevice device, int maxRows) =>
        new(device, Network, Parameters, Network.HasConvolution ? Math.Min(maxRows, TrainingOptions.ConvolutionEvaluationBatchSize) : maxRows, State);
}

/// <summary>A trained model on a device: forward passes only, the same kernels and reductions
/// training evaluates with, so an evaluation reproduces the run's test metrics exactly on the
/// same device.</summary>
public sealed class DeviceModel : IDisposable
{
    private readonly KernelDevice device;
    private readonly LayerNetwork network;

    /// <param name="maxRows">Rows per forward launch (the evaluation batch).</param>
    /// <param name="state">The layers' non-trained state; null leaves each tensor at its initial value.</param>
    public DeviceModel(KernelDevice device, Architecture architecture, float[] parameters, int maxRows, float[]? state = null)
    {
        ArgumentNullException.ThrowIfNull(device);
        this.device = device;
        network = new LayerNetwork(device.Kernels, architecture, maxRows);
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

    public float[] GetState() => network.GetState();

    /// <summary>Loss, accuracy and confusion over a whole split, MaxRows rows per launch.</summary>
    public EvaluationResult Evaluate(DeviceImageSet split)
    {
        ArgumentNullException.ThrowIfNull(split);
        using var evaluator = new Evaluator(device, network, split.Count);
        return evaluator.Evaluate(split, 0, split.Count, network.MaxRows);
    }

    /// <summary>Class probabilities for host images of the network's input size (C*H*W values in [0, 1]) each.</summary>
    public float[][] Predict(IReadOnlyList<float[]> images)
    {
        using var evaluator = new Evaluator(device, network, 1);
        return evaluator.Predict(images);
    }

    /// <summary>Images normalised per launch of <see cref="Predict(ImageSet)"/>: bounds the host
    /// floats held at once (4 bytes per value) whatever the split's size.</summary>
    private const int PredictChunk = 4096;

    /// <summary>Class probabilities for every image of <paramref name="split"/>, read as evaluation
    /// reads it (pixel / 255), one row per image in the split's order.</summary>
    public float[][] Predict(ImageSet split)
    {
        ArgumentNullException.ThrowIfNull(split);
        var probabilities = new float[split.Count][];
        for (int start = 0; start < split.Count; start += PredictChunk)
        {
            int count = Math.Min(PredictChunk, split.Count - start);
            var inputs = new float[count][];
            for (int i = 0; i < count; i++)
                inputs[i] = split.Normalised(start + i);
            Array.Copy(Predict(inputs), 0, probabilities, start, count);
        }
        return probabilities;
    }

    public void Dispose() => network.Dispose();
}
