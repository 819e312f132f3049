using GpuMlp.Data;
using GpuMlp.Models;
using GpuMlp.Runs;
using GpuMlp.Training;

namespace GpuMlp.Tests.Training;

/// <summary>A dataset that is not MNIST (3x8x8 colour images, four named classes) goes through the
/// real run: trained, evaluated, saved with its schema, loaded back and evaluated again.</summary>
[Collection(DeviceCollection.Name)]
public sealed class ImageDatasetTrainingTests(DeviceFixture fixture) : IDisposable
{
    private readonly TempDir dir = new();

    public void Dispose() => dir.Dispose();

    private static readonly ImageShape Rgb8 = new(3, 8, 8);

    private static readonly string[] Compass = ["north", "east", "south", "west"];

    /// <summary>Class k lights up quadrant k of channel k % 3 over low noise: easy to learn in one
    /// epoch, impossible to guess (chance is 25%).</summary>
    internal static ImageDataset Quadrants(int train = 512, int test = 128, int seed = 5)
    {
        var random = new Random(seed);
        ImageSet Split(string name, int count)
        {
            var pixels = new byte[count * Rgb8.Pixels];
            var labels = new byte[count];
            for (int n = 0; n < count; n++)
            {
                int label = random.Next(Compass.Length);
                labels[n] = (byte)label;
                var image = pixels.AsSpan(n * Rgb8.Pixels, Rgb8.Pixels);
                for (int i = 0; i < image.Length; i++)
                    image[i] = (byte)random.Next(40);
                int channel = label % Rgb8.Channels, top = label / 2 * 4, left = label % 2 * 4;
                for (int y = top; y < top + 4; y++)
                    for (int x = left; x < left + 4; x++)
                        image[(channel * 64) + (y * 8) + x] = (byte)(200 + random.Next(56));
            }
            return new ImageSet(name, Rgb8, pixels, labels);
        }
        return new ImageDataset(Split("train", train), Split("test", test), Compass);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("conv3x3x4p1,relu,pool2,flatten,dense4")]
    public void TrainingRun_ThreeChannelImagesOfFourClasses_TrainsEvaluatesAndRecordsTheSchema(string? architecture)
    {
        var cancel = TestContext.Current.CancellationToken;
        var data = Quadrants();
        var options = new TrainingOptions
        {
            Epochs = 1,
            BatchSize = 16,
            Hidden = [32],
            ArchitectureText = architecture,
            Optimizer = new OptimizerSettings(OptimizerKind.Adam) { LearningRate = 0.01f },
            ValidationSplit = 0.25,
            Seed = 3,
        };
        options.Validate(data.Schema, data.Train.Count);
        using var upload = new DeviceImageDataset(fixture.Device.Accelerator, data);
        string folder = Path.Combine(dir.Path, "run");
        EvaluationResult test;
        using (var run = TrainingRun.Start(folder, options, fixture.KernelDevice, upload))
        {
            Assert.Equal(architecture is null ? "192-32-4" : architecture, run.Trainer.NetworkName);
            test = run.Finish(run.Train(cancel: cancel));
        }
        Assert.Equal(4, test.Report.Classes);
        Assert.Equal(128, test.Report.Total);
        Assert.True(test.Accuracy > 0.6, $"test accuracy {test.Accuracy:P1} after one epoch of an easy task (chance 25%)");

        var model = TrainedModel.Load(folder);
        Assert.Equal(data.Schema, model.Schema);
        Assert.Equal(Compass, model.Schema.ClassNames);
        Assert.Equal("3x8x8", model.Metadata[ModelSchema.InputShapeKey]);
        using var onDevice = model.Upload(fixture.KernelDevice, TrainingOptions.DefaultEvaluationBatchSize);
        var again = onDevice.Evaluate(upload.Test);
        Assert.Equal(test.Accuracy, again.Accuracy);
        Assert.Equal(test.Loss, again.Loss);

        var checkpoint = Checkpoint.Load(Path.Combine(folder, Checkpoint.FileName));
        Assert.Equal(data.Schema, checkpoint.Schema);
        var refused = Assert.Throws<OptionException>(() => model.RequireSchema(MnistDataset.Schema));
        Assert.DoesNotContain('\n', refused.Message);
        Assert.Contains("was trained on 3x8x8 images, 4 classes (north, east, south, west); the data holds 1x28x28 images, 10 classes (0, 1, 2, 3, 4, 5, 6, 7, 8, 9)", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void MnistModel_ThreeChannelImages_SaveAndLoadKeepShapeClassNamesAndPredictions()
    {
        var data = Quadrants(train: 256, test: 32);
        var options = new TrainingOptions { Epochs = 1, BatchSize = 32, Hidden = [16], ValidationSplit = 0, Seed = 2 };
        string path = Path.Combine(dir.Path, "model.safetensors");
        float[] image = MnistModel.TestImage(data, 0);
        float[] probabilities;
        using (var model = MnistModel.Train(data, options, TestDevice.RequestedName))
        {
            Assert.Equal(data.Schema, model.Schema);
            Assert.Equal("192-16-4", model.Name);
            probabilities = [.. model.Predict(image).Probabilities];
            model.Save(path);
        }
        using var loaded = MnistModel.Load(path, TestDevice.RequestedName);
        Assert.Equal(data.Schema, loaded.Schema);
        Assert.Equal(Compass, loaded.Schema.ClassNames);
        Assert.Equal(probabilities, loaded.Predict(image).Probabilities);
        Assert.Equal(4, loaded.Evaluate(data).Report.Classes);
        var renamed = new ImageDataset(data.Train, data.Test, ["n", "e", "s", "w"]);
        var refused = Assert.Throws<OptionException>(() => loaded.Evaluate(renamed));
        Assert.Equal("the model takes 3x8x8 images, 4 classes (north, east, south, west); the data holds 3x8x8 images, 4 classes (n, e, s, w)", refused.Message);
    }
}
