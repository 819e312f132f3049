using GpuMlp.Data;
using GpuMlp.Training;

namespace GpuMlp.Tests.Data;

/// <summary>The dataset abstraction's checks: every mismatch between shape, pixels, labels and
/// classes is a one-line <see cref="DataFormatException"/> naming what is wrong.</summary>
public sealed class ImageDatasetTests
{
    private static readonly ImageShape Rgb8 = new(3, 8, 8);

    private static readonly string[] Compass = ["north", "east", "south", "west"];

    private static DataFormatException AssertDataError(Action create, params string[] fragments)
    {
        DataFormatException error = Assert.Throws<DataFormatException>(create);
        Assert.DoesNotContain('\n', error.Message);
        foreach (string fragment in fragments)
            Assert.Contains(fragment, error.Message, StringComparison.Ordinal);
        return error;
    }

    [Fact]
    public void ImageSet_PixelsNotOneImagePerLabel_NamesTheSplitAndTheCounts()
    {
        AssertDataError(() => new ImageSet("train", Rgb8, new byte[(2 * 192) + 1], new byte[2]),
            "train: 2 labels need 2 images of 3x8x8 = 384 bytes, found 385");
    }

    [Fact]
    public void ImageSet_ZeroChannels_IsRejected()
    {
        AssertDataError(() => new ImageSet("train", new ImageShape(0, 8, 8), [], []), "train: channels 0 is outside 1..");
    }

    [Fact]
    public void ImageSet_ValidSplit_GivesImagesAndNormalisedValues()
    {
        byte[] pixels = [.. Enumerable.Range(0, 2 * 192).Select(i => (byte)(i % 256))];
        var split = new ImageSet("test", Rgb8, pixels, [1, 3]);
        Assert.Equal(2, split.Count);
        Assert.Equal(pixels.AsSpan(192, 192).ToArray(), split.Image(1).ToArray());
        Assert.Equal(pixels[192] / 255f, split.Normalised(1)[0]);
    }

    [Fact]
    public void ImageDataset_LabelNotBelowClassCount_NamesSplitIndexAndLabel()
    {
        var train = new ImageSet("train", Rgb8, new byte[3 * 192], [0, 3, 1]);
        var test = new ImageSet("test", Rgb8, new byte[2 * 192], [2, 4]);
        AssertDataError(() => _ = new ImageDataset(train, test, Compass), "test: label 4 at index 1 is outside 0..3 (4 classes)");
    }

    [Fact]
    public void ImageDataset_SplitsOfDifferentShapes_AreRejected()
    {
        var train = new ImageSet("train", Rgb8, new byte[192], [0]);
        var test = new ImageSet("test", new ImageShape(1, 8, 8), new byte[64], [0]);
        AssertDataError(() => _ = new ImageDataset(train, test, Compass), "train has images of 3x8x8 but test has 1x8x8");
    }

    [Fact]
    public void ImageDataset_ValidSplits_CarryTheSchema()
    {
        var data = new ImageDataset(new ImageSet("train", Rgb8, new byte[192], [3]), new ImageSet("test", Rgb8, new byte[192], [0]), Compass);
        Assert.Equal(new ImageSchema(Rgb8, Compass), data.Schema);
        Assert.Equal(4, data.Classes);
        Assert.Equal("3x8x8 images, 4 classes", data.Schema.ToString());
    }

    [Fact]
    public void ImageSchema_RepeatedEmptyOrTooFewNames_AreRejected()
    {
        AssertDataError(() => _ = new ImageSchema(Rgb8, ["a", "b", "a"]), "class name 'a' is given twice");
        AssertDataError(() => _ = new ImageSchema(Rgb8, ["a", ""]), "class 1 has no name");
        AssertDataError(() => _ = new ImageSchema(Rgb8, ["only"]), "a classifier needs 2..256 classes, got 1");
    }

    [Fact]
    public void ImageShape_TryParse_ReadsCanonicalTextOnly()
    {
        Assert.Equal(Rgb8, ImageShape.TryParse(Rgb8.ToString()));
        Assert.Equal(MnistDataset.Shape, ImageShape.TryParse("1x28x28"));
        foreach (string text in new[] { "", "3x8", "3x8x8x1", "03x8x8", "3x8x-8", "0x8x8", "3X8X8", " 3x8x8", "3x8x99999999999" })
            Assert.Null(ImageShape.TryParse(text));
    }

    [Fact]
    public void MnistFolder_AsImageSource_KnowsItsSchemaBeforeReadingAnything()
    {
        IImageSource source = MnistFolder.For(Path.Combine(Path.GetTempPath(), "gpumlp-no-such-folder"), download: false);
        Assert.Equal(MnistDataset.Schema, source.Schema);
        Assert.Throws<FileNotFoundException>(() => source.Load(_ => { }));
    }

    [Fact]
    public void RecordedSchema_NothingRecorded_IsMnist()
    {
        Assert.Equal(MnistDataset.Schema, RecordedSchema.Read(null, null));
        Assert.Equal(["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"], MnistDataset.Schema.ClassNames);
        Assert.Equal(new ImageShape(1, 28, 28), MnistDataset.Schema.Shape);
    }

    [Fact]
    public void RecordedSchema_OnlyOnePartOrABadShape_IsRejected()
    {
        AssertDataError(() => RecordedSchema.Read("3x8x8", null), "the image shape is recorded without the class names");
        AssertDataError(() => RecordedSchema.Read(null, Compass), "class names are recorded without the image shape");
        AssertDataError(() => RecordedSchema.Read("3 by 8\n", Compass), "the image shape '3 by 8?' is not CxHxW");
    }

    [Fact]
    public void TrainingOptions_AugmentShiftOnThreeChannels_IsAUsageError()
    {
        var schema = new ImageSchema(Rgb8, Compass);
        var error = Assert.Throws<OptionException>(() => new TrainingOptions { AugmentShift = 1, BatchSize = 4 }.Validate(schema, 100));
        Assert.Equal("--augment-shift moves one-channel images only; these images are 3x8x8", error.Message);
    }

    [Fact]
    public void TrainingOptions_StackThatDoesNotFitTheShape_IsAUsageErrorForThatShapeOnly()
    {
        // Two 5x5 convolutions without padding fit 28x28 images but not 8x8 ones.
        var options = new TrainingOptions { ArchitectureText = "conv5x5x4,relu,conv5x5x4,flatten,dense4", BatchSize = 4 };
        var error = Assert.Throws<OptionException>(() => options.Validate(new ImageSchema(Rgb8, Compass), 100));
        Assert.StartsWith("--arch: ", error.Message, StringComparison.Ordinal);
        var mnistLike = new ImageSchema(new ImageShape(1, 28, 28), Compass);
        Assert.Equal(4, (options with { }).Network(mnistLike).Classes);
    }

    [Fact]
    public void NetworkInput_MlpAndStack_ReadAVectorOrAMapOfTheShape()
    {
        var schema = new ImageSchema(Rgb8, Compass);
        Assert.Equal(ActivationShape.Vector(192), NetworkInput.Parse("dense16,relu,dense4", schema).Input);
        Assert.Equal(ActivationShape.Map(3, 8, 8), NetworkInput.Parse("conv3x3x4p1,relu,pool2,flatten,dense4", schema).Input);
        Assert.Equal("192-16-4", NetworkInput.Mlp([16], schema, 0f).MlpName);
    }
}
