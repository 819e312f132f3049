using System.Text.Json;
using GpuMlp.Data;
using GpuMlp.Imaging;
using GpuMlp.Training;

namespace GpuMlp.Models;

/// <summary>The dataset schema in a model file's metadata: the images' shape under
/// <see cref="InputShapeKey"/> ("CxHxW") and the class names, label order, as a JSON array of
/// strings under <see cref="ClassNamesKey"/>. A file with neither is an MNIST model (see
/// <see cref="RecordedSchema"/>). Beside the schema, how the training images were prepared, which
/// <c>gpumlp predict</c> repeats on an image file, under <see cref="PreprocessKey"/>.</summary>
public static class ModelSchema
{
    public const string InputShapeKey = "gpumlp.input_shape";
    public const string ClassNamesKey = "gpumlp.class_names";

    /// <summary>The human-readable input description a run writes under this key.</summary>
    public const string InputKey = "gpumlp.input";

    /// <summary>How the training images were prepared: "mnist-digit" or "resize" (<see cref="Preprocessing"/>).</summary>
    public const string PreprocessKey = "gpumlp.preprocess";

    /// <summary>Adds the schema, a one-line description of the input and the preparation of a
    /// dataset of this schema (<see cref="Preprocessing.ForTraining"/>) to <paramref name="metadata"/>.</summary>
    public static void Record(IDictionary<string, string> metadata, ImageSchema schema)
    {
        ArgumentNullException.ThrowIfNull(metadata);
        ArgumentNullException.ThrowIfNull(schema);
        metadata[InputShapeKey] = schema.Shape.ToString();
        metadata[ClassNamesKey] = JsonSerializer.Serialize(schema.ClassNames);
        metadata[InputKey] = Describe(schema.Shape);
        metadata[PreprocessKey] = Preprocessing.Name(Preprocessing.ForTraining(schema));
    }

    /// <summary>The preparation recorded under <see cref="PreprocessKey"/>. Files written before it was
    /// recorded hold MNIST models, whose images were MNIST digits: they read as "mnist-digit" (this is
    /// the one place that says so).</summary>
    /// <exception cref="ModelFormatException">The recorded value is neither "mnist-digit" nor "resize"
    /// (one line naming <paramref name="path"/>).</exception>
    public static ImagePreprocessing ReadPreprocessing(IReadOnlyDictionary<string, string> metadata, string path)
    {
        ArgumentNullException.ThrowIfNull(metadata);
        if (!metadata.TryGetValue(PreprocessKey, out string? name))
            return ImagePreprocessing.MnistDigit;
        return Preprocessing.TryParse(name) is { } known && name != "digit"
            ? known
            : throw new ModelFormatException($"{path}: metadata {PreprocessKey} must be {Preprocessing.MnistDigitName} or {Preprocessing.ResizeName}");
    }

    /// <summary>"1x28x28 images (one channel), each value pixel / 255": what every sample a
    /// network of this shape takes holds.</summary>
    public static string Describe(ImageShape shape) =>
        $"{shape} images ({(shape.Channels == 1 ? "one channel" : $"{shape.Channels} channels")}, NCHW, each channel row-major), each value pixel / 255 in [0, 1]";

    /// <summary>The schema recorded in <paramref name="metadata"/>; MNIST's when none is.</summary>
    /// <exception cref="ModelFormatException">The recorded schema is incomplete or invalid (one line naming <paramref name="path"/>).</exception>
    public static ImageSchema Read(IReadOnlyDictionary<string, string> metadata, string path)
    {
        ArgumentNullException.ThrowIfNull(metadata);
        metadata.TryGetValue(InputShapeKey, out string? shape);
        IReadOnlyList<string>? names = null;
        if (metadata.TryGetValue(ClassNamesKey, out string? namesJson))
        {
            try
            {
                names = JsonSerializer.Deserialize<string[]>(namesJson);
            }
            catch (JsonException error)
            {
                throw new ModelFormatException($"{path}: metadata {ClassNamesKey} is not a JSON array of strings", error);
            }
            if (names is null || names.Any(n => n is null))
                throw new ModelFormatException($"{path}: metadata {ClassNamesKey} is not a JSON array of strings");
        }
        try
        {
            return RecordedSchema.Read(shape, names);
        }
        catch (DataFormatException error)
        {
            throw new ModelFormatException($"{path}: metadata: {error.Message}", error);
        }
    }

    /// <summary>An MLP's widths must take the schema's images and give one score per class.</summary>
    /// <exception cref="ModelFormatException">They do not (one line naming <paramref name="path"/>).</exception>
    public static void RequireFits(Architecture network, ImageSchema schema, string path)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(schema);
        if (network.Input.Elements != schema.Shape.Pixels || network.Classes != schema.Classes)
        {
            throw new ModelFormatException(
                $"{path}: the model has widths {network.MlpName ?? network.Text}, but a model of {schema} takes {schema.Shape.Pixels} inputs and has {schema.Classes} outputs");
        }
    }
}
