using GpuMlp.Data;
using GpuMlp.Tests.Training;
using GpuMlp.Training;
using SkiaSharp;

namespace GpuMlp.Tests.Cli;

/// <summary>A colour model (3x8x8 images, four classes named north, east, south, west: not in sorted
/// order) trained for one epoch on <see cref="ImageDatasetTrainingTests.Quadrants"/> and saved, its
/// in-process predictions on the first test images, and those images as 8x8 and 32x32 PNG files.</summary>
public sealed class ColourModelFixture : IDisposable
{
    public const int Images = 8;

    public ColourModelFixture()
    {
        Root = Directory.CreateTempSubdirectory("gpumlp-colour-").FullName;
        Data = ImageDatasetTrainingTests.Quadrants(train: 512, test: 64);
        var options = new TrainingOptions
        {
            ArchitectureText = "conv3x3x4p1,relu,pool2,flatten,dense4",
            Epochs = 1,
            BatchSize = 16,
            Optimizer = new OptimizerSettings(OptimizerKind.Adam) { LearningRate = 0.01f },
            ValidationSplit = 0,
            Seed = 3,
        };
        ModelPath = Path.Combine(Root, "compass.safetensors");
        using var model = MnistModel.Train(Data, options, TestDevice.RequestedName);
        model.Save(ModelPath);
        Probabilities = [.. Enumerable.Range(0, Images).Select(i => model.Predict(MnistModel.TestImage(Data, i)).Probabilities.ToArray())];
        Evaluation = model.Evaluate(Data);
        Exact = [.. Enumerable.Range(0, Images).Select(i => WritePng(i, 1))];
        Enlarged = [.. Enumerable.Range(0, Images).Select(i => WritePng(i, 4))];
    }

    public string Root { get; }
    public ImageDataset Data { get; }
    public string ModelPath { get; }

    /// <summary>The trained model's class probabilities for test images 0..<see cref="Images"/>-1.</summary>
    public float[][] Probabilities { get; }

    /// <summary>The trained model's evaluation of the whole test split.</summary>
    public EvaluationResult Evaluation { get; }

    /// <summary>Test image i as an 8x8 RGB PNG: read back exactly.</summary>
    public string[] Exact { get; }

    /// <summary>Test image i as a 32x32 RGB PNG (each pixel a 4x4 block).</summary>
    public string[] Enlarged { get; }

    /// <summary>The label the trained model gives test image <paramref name="index"/>.</summary>
    public int Predicted(int index) => Array.IndexOf(Probabilities[index], Probabilities[index].Max());

    private string WritePng(int index, int scale)
    {
        var shape = Data.Schema.Shape;
        ReadOnlySpan<byte> image = Data.Test.Pixels.AsSpan(index * shape.Pixels, shape.Pixels);
        int plane = shape.Height * shape.Width;
        using var bitmap = new SKBitmap(new SKImageInfo(shape.Width * scale, shape.Height * scale, SKColorType.Rgba8888, SKAlphaType.Opaque));
        Span<byte> rgba = bitmap.GetPixelSpan();
        for (int y = 0; y < shape.Height * scale; y++)
        {
            for (int x = 0; x < shape.Width * scale; x++)
            {
                int source = ((y / scale) * shape.Width) + (x / scale), at = (y * bitmap.RowBytes) + (4 * x);
                rgba[at] = image[source];
                rgba[at + 1] = image[plane + source];
                rgba[at + 2] = image[(2 * plane) + source];
                rgba[at + 3] = 255;
            }
        }
        using SKData png = bitmap.Encode(SKEncodedImageFormat.Png, 100);
        string path = Path.Combine(Root, $"test{index}-{shape.Width * scale}px.png");
        File.WriteAllBytes(path, png.ToArray());
        return path;
    }

    public void Dispose() => Directory.Delete(Root, recursive: true);
}
