using GpuMlp.Data;
using GpuMlp.Imaging;
using GpuMlp.Models;
using GpuMlp.Training;

namespace GpuMlp.Tests.Models;

/// <summary>The dataset schema in model files: written with the model, read back whole, and a file
/// from before schemas were recorded read as the MNIST model it is.</summary>
public sealed class ModelSchemaTests : IDisposable
{
    private readonly TempDir dir = new();

    public void Dispose() => dir.Dispose();

    private static readonly ImageSchema Compass = new(new ImageShape(3, 8, 8), ["north", "east", "south", "west"]);

    private string PathOf(string name) => Path.Combine(dir.Path, name);

    private static Dictionary<string, string> MetadataOf(ImageSchema schema)
    {
        var metadata = new Dictionary<string, string>();
        ModelSchema.Record(metadata, schema);
        return metadata;
    }

    private static void AssertModelError(Action load, params string[] fragments)
    {
        ModelFormatException error = Assert.Throws<ModelFormatException>(load);
        Assert.DoesNotContain('\n', error.Message);
        foreach (string fragment in fragments)
            Assert.Contains(fragment, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ModelFile_OldMlpWithoutSchema_ReadsAsMnist()
    {
        var shape = MnistNetworks.Mlp([8], 0f);
        string path = PathOf("old.safetensors");
        ModelFile.SaveMlp(path, shape, shape.InitialParameters(1), new Dictionary<string, string> { ["gpumlp.seed"] = "1" });
        Assert.DoesNotContain(ModelSchema.InputShapeKey, SafeTensorsFile.Read(path).Metadata.Keys);

        var model = TrainedModel.Load(path);
        Assert.Equal(MnistDataset.Schema, model.Schema);
        Assert.Equal(ActivationShape.Vector(MnistDataset.Shape.Pixels), model.Network.Input);
    }

    [Fact]
    public void ModelFile_OldStackWithoutSchema_ReadsAsMnistMap()
    {
        var network = MnistNetworks.Cnn;
        string path = PathOf("old-cnn.safetensors");
        ModelFile.Save(path, network, network.InitialParameters(1), new Dictionary<string, string>());

        var model = TrainedModel.Load(path);
        Assert.Equal(MnistDataset.Schema, model.Schema);
        Assert.Equal(ActivationShape.Map(1, 28, 28), model.Network.Input);
    }

    [Fact]
    public void ModelFile_StackWithSchema_RoundTripsShapeAndClassNames()
    {
        var network = NetworkInput.Parse("conv3x3x4p1,relu,pool2,flatten,dense4", Compass);
        float[] parameters = network.InitialParameters(2);
        string path = PathOf("compass.safetensors");
        ModelFile.Save(path, network, parameters, MetadataOf(Compass));

        var model = TrainedModel.Load(path);
        Assert.Equal(Compass, model.Schema);
        Assert.Equal(["north", "east", "south", "west"], model.Schema.ClassNames);
        Assert.Equal(ActivationShape.Map(3, 8, 8), model.Network.Input);
        Assert.Equal(parameters, model.Parameters);
    }

    [Fact]
    public void ModelFile_MlpWithSchema_RoundTripsAndMustFitIt()
    {
        var shape = NetworkInput.Mlp([8], Compass, 0f);
        string path = PathOf("mlp.safetensors");
        ModelFile.SaveMlp(path, shape, shape.InitialParameters(1), MetadataOf(Compass));
        Assert.Equal(Compass, TrainedModel.Load(path).Schema);

        string mismatched = PathOf("mismatched.safetensors");
        var mnist = MnistNetworks.Mlp([8], 0f);
        ModelFile.SaveMlp(mismatched, mnist, mnist.InitialParameters(1), MetadataOf(Compass));
        AssertModelError(() => TrainedModel.Load(mismatched),
            "the model has widths 784-8-10, but a model of 3x8x8 images, 4 classes takes 192 inputs and has 4 outputs");
    }

    [Fact]
    public void ModelFile_IncompleteOrInvalidSchema_IsRejectedInOneLine()
    {
        var shape = NetworkInput.Mlp([8], Compass, 0f);
        string Write(string name, Dictionary<string, string> metadata)
        {
            string path = PathOf(name);
            ModelFile.SaveMlp(path, shape, shape.InitialParameters(1), metadata);
            return path;
        }
        var onlyShape = MetadataOf(Compass);
        onlyShape.Remove(ModelSchema.ClassNamesKey);
        AssertModelError(() => TrainedModel.Load(Write("only-shape.safetensors", onlyShape)), "metadata: the image shape is recorded without the class names");
        var notJson = MetadataOf(Compass);
        notJson[ModelSchema.ClassNamesKey] = "north,east";
        AssertModelError(() => TrainedModel.Load(Write("not-json.safetensors", notJson)), $"metadata {ModelSchema.ClassNamesKey} is not a JSON array of strings");
        var twice = MetadataOf(Compass);
        twice[ModelSchema.ClassNamesKey] = """["a","a","b","c"]""";
        AssertModelError(() => TrainedModel.Load(Write("twice.safetensors", twice)), "class name 'a' is given twice");
    }

    [Fact]
    public void Record_EachShape_RecordsHowItsImagesWerePreparedAndReadsItBack()
    {
        Assert.Equal("mnist-digit", MetadataOf(MnistDataset.Schema)[ModelSchema.PreprocessKey]);
        Assert.Equal("resize", MetadataOf(Compass)[ModelSchema.PreprocessKey]);
        var gray = new ImageSchema(new ImageShape(1, 32, 32), ["a", "b"]);
        Assert.Equal("resize", MetadataOf(gray)[ModelSchema.PreprocessKey]);

        var network = NetworkInput.Parse("conv3x3x4p1,relu,pool2,flatten,dense4", Compass);
        string path = PathOf("compass.safetensors");
        ModelFile.Save(path, network, network.InitialParameters(1), MetadataOf(Compass));
        Assert.Equal(ImagePreprocessing.Resize, TrainedModel.Load(path).Preprocessing);
        var mlp = MnistNetworks.Mlp([8], 0f);
        string digits = PathOf("digits.safetensors");
        ModelFile.SaveMlp(digits, mlp, mlp.InitialParameters(1), MetadataOf(MnistDataset.Schema));
        Assert.Equal(ImagePreprocessing.MnistDigit, TrainedModel.Load(digits).Preprocessing);
    }

    [Fact]
    public void Refusal_ShapeAPreparationCannotMake_IsOneLine()
    {
        Assert.Null(Preprocessing.Refusal(ImagePreprocessing.MnistDigit, MnistDataset.Shape));
        Assert.Null(Preprocessing.Refusal(ImagePreprocessing.Resize, Compass.Shape));
        Assert.Null(Preprocessing.Refusal(ImagePreprocessing.Resize, MnistDataset.Shape));
        Assert.Equal("mnist-digit preprocessing prepares digit images of 1x28x28, not 3x8x8", Preprocessing.Refusal(ImagePreprocessing.MnistDigit, Compass.Shape));
        Assert.Equal("resize preprocessing reads images as one channel (gray) or three (RGB), not 2", Preprocessing.Refusal(ImagePreprocessing.Resize, new ImageShape(2, 8, 8)));
    }

    [Fact]
    public void ModelFile_WithoutPreprocess_ReadsAsMnistDigit()
    {
        var mlp = MnistNetworks.Mlp([8], 0f);
        string old = PathOf("old.safetensors");
        ModelFile.SaveMlp(old, mlp, mlp.InitialParameters(1), new Dictionary<string, string>());
        Assert.Equal(ImagePreprocessing.MnistDigit, TrainedModel.Load(old).Preprocessing);

        var withSchema = MetadataOf(MnistDataset.Schema);
        withSchema.Remove(ModelSchema.PreprocessKey);
        string schemaOnly = PathOf("schema-only.safetensors");
        ModelFile.SaveMlp(schemaOnly, mlp, mlp.InitialParameters(1), withSchema);
        Assert.Equal(ImagePreprocessing.MnistDigit, TrainedModel.Load(schemaOnly).Preprocessing);
    }

    [Fact]
    public void ModelFile_UnknownPreprocess_IsRejectedInOneLine()
    {
        var mlp = MnistNetworks.Mlp([8], 0f);
        foreach (string value in new[] { "crop", "digit", "" })
        {
            var metadata = MetadataOf(MnistDataset.Schema);
            metadata[ModelSchema.PreprocessKey] = value;
            string path = PathOf($"preprocess-{value.Length}.safetensors");
            ModelFile.SaveMlp(path, mlp, mlp.InitialParameters(1), metadata);
            AssertModelError(() => TrainedModel.Load(path), $"metadata {ModelSchema.PreprocessKey} must be mnist-digit or resize");
        }
    }
}
