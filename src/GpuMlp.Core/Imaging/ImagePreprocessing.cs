using GpuMlp.Data;

namespace GpuMlp.Imaging;

/// <summary>How an image file becomes a network input, the way the model's training images were
/// prepared. A model file records it (<c>gpumlp.preprocess</c>, see
/// <see cref="Models.ModelSchema.PreprocessKey"/>) and <c>gpumlp predict</c> applies it.</summary>
public enum ImagePreprocessing
{
    /// <summary>"mnist-digit": MNIST's own preparation (<see cref="DigitImage"/>): grayscale, crop
    /// to the ink, fit a 20-pixel box, centre the mass in 28x28. Only for 1x28x28 models.</summary>
    MnistDigit,

    /// <summary>"resize": the whole image scaled to the model's H x W (aspect ratio not kept) and
    /// converted to its channels (<see cref="ResizedImage"/>), each value pixel / 255.</summary>
    Resize,
}

/// <summary>The names of <see cref="ImagePreprocessing"/> in model files and on the command line,
/// the preparation a dataset's models record, and applying one to an image file.</summary>
public static class Preprocessing
{
    public const string MnistDigitName = "mnist-digit";
    public const string ResizeName = "resize";

    /// <summary>The name a model file records: "mnist-digit" or "resize".</summary>
    public static string Name(ImagePreprocessing preprocessing)
    {
        // Every member named, no catch-all: a new member does not compile until it is (CS8509).
#pragma warning disable CS8524
        return preprocessing switch
        {
            ImagePreprocessing.MnistDigit => MnistDigitName,
            ImagePreprocessing.Resize => ResizeName,
        };
#pragma warning restore CS8524
    }

    /// <summary>"mnist-digit" (also "digit", as <c>--preprocess</c> takes it) or "resize"; null for
    /// anything else.</summary>
    public static ImagePreprocessing? TryParse(string? text) => text switch
    {
        MnistDigitName or "digit" => ImagePreprocessing.MnistDigit,
        ResizeName => ImagePreprocessing.Resize,
        _ => null,
    };

    /// <summary>How the images of a dataset of <paramref name="schema"/> were prepared, as its
    /// models record it: MNIST-shaped data (1x28x28) holds digits centred as MNIST's are, so
    /// "mnist-digit"; any other shape "resize".</summary>
    public static ImagePreprocessing ForTraining(ImageSchema schema)
    {
        ArgumentNullException.ThrowIfNull(schema);
        return schema.Shape == MnistDataset.Shape ? ImagePreprocessing.MnistDigit : ImagePreprocessing.Resize;
    }

    /// <summary>Why <paramref name="preprocessing"/> cannot prepare images of <paramref name="shape"/>,
    /// or null when it can ("mnist-digit" makes only 1x28x28 images, "resize" one or three channels).</summary>
    public static string? Refusal(ImagePreprocessing preprocessing, ImageShape shape)
    {
#pragma warning disable CS8524
        return preprocessing switch
        {
            ImagePreprocessing.MnistDigit => shape == MnistDataset.Shape
                ? null
                : $"{MnistDigitName} preprocessing prepares digit images of {MnistDataset.Shape}, not {shape}",
            ImagePreprocessing.Resize => shape.Channels is 1 or 3
                ? null
                : $"{ResizeName} preprocessing reads images as one channel (gray) or three (RGB), not {shape.Channels}",
        };
#pragma warning restore CS8524
    }

    /// <summary>The image file at <paramref name="path"/> as a network input of <paramref name="shape"/>
    /// (C*H*W values in [0, 1], NCHW).</summary>
    /// <exception cref="ArgumentException"><paramref name="preprocessing"/> cannot make images of
    /// <paramref name="shape"/> (see <see cref="Refusal"/>).</exception>
    /// <exception cref="FileNotFoundException">There is no such file.</exception>
    /// <exception cref="ImageFormatException">The file cannot be decoded (or, for a digit, holds none).</exception>
    public static float[] Load(string path, ImagePreprocessing preprocessing, ImageShape shape)
    {
        if (Refusal(preprocessing, shape) is { } refusal)
            throw new ArgumentException(refusal, nameof(shape));
#pragma warning disable CS8524
        return preprocessing switch
        {
            ImagePreprocessing.MnistDigit => DigitImage.LoadAsMnist(path),
            ImagePreprocessing.Resize => ResizedImage.Load(path, shape),
        };
#pragma warning restore CS8524
    }

    /// <summary>An encoded image held in memory (PNG, JPEG, WebP, GIF or BMP) as a network input of
    /// <paramref name="shape"/>, prepared exactly as <see cref="Load"/> prepares the same bytes read
    /// from a file; <paramref name="nameForMessages"/> names the image in errors.</summary>
    /// <exception cref="ArgumentException"><paramref name="preprocessing"/> cannot make images of
    /// <paramref name="shape"/> (see <see cref="Refusal"/>).</exception>
    /// <exception cref="ImageFormatException">The bytes cannot be decoded (or, for a digit, hold none).</exception>
    public static float[] FromEncoded(byte[] encoded, string nameForMessages, ImagePreprocessing preprocessing, ImageShape shape)
    {
        ArgumentNullException.ThrowIfNull(encoded);
        if (Refusal(preprocessing, shape) is { } refusal)
            throw new ArgumentException(refusal, nameof(shape));
#pragma warning disable CS8524
        return preprocessing switch
        {
            ImagePreprocessing.MnistDigit => DigitImage.FromEncoded(encoded, nameForMessages),
            ImagePreprocessing.Resize => ResizedImage.FromEncoded(encoded, shape, nameForMessages),
        };
#pragma warning restore CS8524
    }
}
