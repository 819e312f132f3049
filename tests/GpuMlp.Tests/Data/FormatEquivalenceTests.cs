using System.Text;
using GpuMlp.Data;
using GpuMlp.Training;

namespace GpuMlp.Tests.Data;

/// <summary>The same MNIST images written in every format --data reads (IDX, IDX stored transposed
/// as EMNIST is, a Kaggle CSV folder, a PNG image folder with train/ and test/) load to the same
/// pixels, labels and classes, and train to the same weights and so the same test accuracy (the
/// bound users are promised is ±0.5 points; identical images in the same order give identical
/// runs). The image folder's training order is its seeded shuffle; the others are written in it.</summary>
[Collection(DeviceCollection.Name)]
public sealed class FormatEquivalenceTests(DeviceFixture fixture) : IDisposable
{
    private const int TrainImages = 1200;
    private const int TestImages = 300;
    private readonly TempDir dir = new();

    public void Dispose() => dir.Dispose();

    private static byte[] Transposed(ImageSet images)
    {
        var stored = new byte[images.Pixels.Length];
        for (int i = 0; i < images.Count; i++)
        {
            for (int r = 0; r < 28; r++)
            {
                for (int c = 0; c < 28; c++)
                    stored[(i * 784) + (c * 28) + r] = images.Pixels[(i * 784) + (r * 28) + c];
            }
        }
        return stored;
    }

    private static void WritePngs(string root, ImageSet images)
    {
        for (int i = 0; i < images.Count; i++)
        {
            string path = Path.Combine(root, images.Labels[i].ToString(System.Globalization.CultureInfo.InvariantCulture), $"{i:D5}.png");
            GrayPng.Write(path, images.Image(i), 28, 28);
        }
    }

    private (float[] Parameters, double Accuracy) Train(ImageDataset data)
    {
        var options = new TrainingOptions { Epochs = 2, BatchSize = 32, Hidden = [64], ValidationSplit = 0, Seed = 6 };
        options.Validate(data.Schema, data.Train.Count);
        using var trainer = new Trainer(fixture.KernelDevice, data, options);
        for (int epoch = 1; epoch <= options.Epochs; epoch++)
            trainer.TrainEpoch(epoch);
        return (trainer.Network.GetParameters(), trainer.EvaluateTest().Report.Accuracy);
    }

    [Fact]
    public void TrainingRun_SameImagesInEveryFormat_LoadsAndTrainsIdentically()
    {
        var mnist = RealMnist.Load();
        ImageSet folderTrain = FolderOrder.ByLabel(mnist.Train, "train", 0, TrainImages);
        ImageSet test = FolderOrder.ByLabel(mnist.Test, "test", 0, TestImages);
        string png = Path.Combine(dir.Path, "png");
        WritePngs(Path.Combine(png, "train"), folderTrain);
        WritePngs(Path.Combine(png, "test"), test);
        // The folder loads its training split in a seeded random order; the other layouts are
        // written in that order, so every layout holds the same images in the same order.
        var pngSource = new ImageFolderSource(png, ImageLoadOptions.Default, Path.Combine(dir.Path, "cache"));
        int[] loadedOrder = FolderOrder.WrittenIndices(pngSource.Load(_ => { }).Train);
        var train = FolderOrder.Select(folderTrain, "train", loadedOrder);

        string idx = Path.Combine(dir.Path, "idx");
        Directory.CreateDirectory(idx);
        File.WriteAllBytes(Path.Combine(idx, "train-images-idx3-ubyte"), Idx.Images(train.Count, 28, 28, train.Pixels));
        File.WriteAllBytes(Path.Combine(idx, "train-labels-idx1-ubyte"), Idx.Labels(train.Labels));
        File.WriteAllBytes(Path.Combine(idx, "t10k-images-idx3-ubyte"), Idx.Images(test.Count, 28, 28, test.Pixels));
        File.WriteAllBytes(Path.Combine(idx, "t10k-labels-idx1-ubyte"), Idx.Labels(test.Labels));
        string emnist = Path.Combine(dir.Path, "emnist");
        Directory.CreateDirectory(emnist);
        File.WriteAllBytes(Path.Combine(emnist, "emnist-digits-train-images-idx3-ubyte"), Idx.Images(train.Count, 28, 28, Transposed(train)));
        File.WriteAllBytes(Path.Combine(emnist, "emnist-digits-train-labels-idx1-ubyte"), Idx.Labels(train.Labels));
        File.WriteAllBytes(Path.Combine(emnist, "emnist-digits-test-images-idx3-ubyte"), Idx.Images(test.Count, 28, 28, Transposed(test)));
        File.WriteAllBytes(Path.Combine(emnist, "emnist-digits-test-labels-idx1-ubyte"), Idx.Labels(test.Labels));
        string csv = Path.Combine(dir.Path, "csv");
        Directory.CreateDirectory(csv);
        File.WriteAllText(Path.Combine(csv, KaggleCsvSource.TrainFileName), KaggleCsv.Text(train, withLabels: true), Encoding.ASCII);
        File.WriteAllText(Path.Combine(csv, KaggleCsvSource.TestFileName), KaggleCsv.Text(test, withLabels: true), Encoding.ASCII);

        var formats = new (string Name, IImageSource Source)[]
        {
            ("IDX", new IdxSource(idx, ImageLoadOptions.Default)),
            ("transposed IDX", new IdxSource(emnist, new ImageLoadOptions { IdxTransposed = true })),
            ("Kaggle CSV", new KaggleCsvSource(csv, ImageLoadOptions.Default)),
            ("PNG folder", pngSource),
        };
        var results = new List<(string Name, float[] Parameters, double Accuracy)>();
        foreach (var (name, source) in formats)
        {
            ImageDataset data = source.Load(_ => { });
            Assert.True(data.Train.Pixels.AsSpan().SequenceEqual(train.Pixels), $"{name}: training pixels differ");
            Assert.Equal(train.Labels, data.Train.Labels);
            Assert.True(data.Test.Pixels.AsSpan().SequenceEqual(test.Pixels), $"{name}: test pixels differ");
            Assert.Equal(test.Labels, data.Test.Labels);
            Assert.Equal(MnistDataset.Schema, data.Schema);
            var (parameters, accuracy) = Train(data);
            results.Add((name, parameters, accuracy));
        }

        var (_, reference, referenceAccuracy) = results[0];
        Assert.True(referenceAccuracy > 0.6, $"IDX trained to only {referenceAccuracy:P2}");
        foreach (var (name, parameters, accuracy) in results.Skip(1))
        {
            Assert.True(Math.Abs(accuracy - referenceAccuracy) <= 0.005, $"{name}: {accuracy:P2} vs IDX {referenceAccuracy:P2}");
            Assert.True(parameters.AsSpan().SequenceEqual(reference), $"{name}: weights differ from IDX's");
        }
    }
}
