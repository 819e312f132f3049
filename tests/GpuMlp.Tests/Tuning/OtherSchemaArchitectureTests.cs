using GpuMlp.Cli;
using GpuMlp.Data;
using GpuMlp.Training;
using GpuMlp.Tuning;

namespace GpuMlp.Tests.Tuning;

/// <summary>Architecture choices are checked against the data in use, not MNIST: `--arch` and tune's
/// search space for 3x8x8 images of four classes build networks of that input and four scores.</summary>
public sealed class OtherSchemaArchitectureTests : IDisposable
{
    private static readonly ImageSchema RgbCompass = new(new ImageShape(3, 8, 8), ["north", "east", "south", "west"]);

    private const string SmallConv = "conv3x3x4p1,relu,pool2,flatten,dense4";

    private const string SmallMlp = "dense8,relu,dense4";

    private readonly TempDir dir = new();

    public void Dispose() => dir.Dispose();

    [Fact]
    public void ParseArchitecture_StacksForThreeByEightByEightFourClasses_BuildThatInputAndFourClasses()
    {
        string conv = TrainCommand.ParseArchitecture(" Conv3x3x4P1, ReLU,pool2,flatten,dense4 ", RgbCompass)!;
        string mlp = TrainCommand.ParseArchitecture(SmallMlp, RgbCompass)!;

        Assert.Equal(SmallConv, conv);
        AssertBuiltFor(NetworkInput.Parse(conv, RgbCompass), ActivationShape.Map(3, 8, 8));
        AssertBuiltFor(NetworkInput.Parse(mlp, RgbCompass), ActivationShape.Vector(192));
        Assert.Null(TrainCommand.ParseArchitecture("mlp", RgbCompass));
    }

    [Fact]
    public void ParseArchitecture_StackForAnotherSchemasClasses_IsAOneLineUsageErrorForTheseClasses()
    {
        // MNIST's ten scores do not fit four classes, and the CNN preset is MNIST's stack too.
        var error = Assert.Throws<OptionException>(() => TrainCommand.ParseArchitecture("conv3x3x4p1,relu,pool2,flatten,dense10", RgbCompass));
        Assert.Contains("it must end in a vector of 4 class scores", error.Message, StringComparison.Ordinal);
        Assert.Contains("4 class scores", Assert.Throws<OptionException>(() => TrainCommand.ParseArchitecture("cnn", RgbCompass)).Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', error.Message);
        // The same four-class stack is refused for MNIST.
        Assert.Throws<ArchitectureException>(() => ArchitectureChoice.Resolve(SmallConv, MnistDataset.Schema));
    }

    [Fact]
    public void SearchSpace_ThreeByEightByEightFourClasses_TrialsBuildNetworksOfThatInputAndFourClasses()
    {
        var fromFile = SearchSpace.Parse($$"""{"arch": ["mlp", "{{SmallConv}}"], "hidden": ["16"], "batch_size": [8, 16]}""", RgbCompass, "--space s.json");
        var space = fromFile with { Architectures = SearchSpace.ParseArchitectureChoices($"mlp;{SmallConv};{SmallMlp}", RgbCompass, "--arch-choices") };
        Assert.Equal([ArchitectureChoice.Mlp, SmallConv], fromFile.Architectures);
        space.CheckBatchSizes(100, RgbCompass);
        var state = TuningSearch.Create(TuningSearchTests.Settings(trials: 12, space: space), RgbCompass);
        TuningFiles.Save(dir.Path, state);
        var configs = TuningFiles.Load(dir.Path, RgbCompass).Trials.Select(t => t.Config).ToList();

        Assert.Equal(3, configs.Select(c => c.ArchitectureName).Distinct().Count());
        foreach (var config in configs)
        {
            config.Check(RgbCompass);
            var options = config.ToOptions(new TrainingOptions { ValidationSplit = 0.2 }, epochs: 1);
            options.Validate(RgbCompass, 100);
            var network = options.Network(RgbCompass);
            AssertBuiltFor(network, config.Architecture == SmallConv ? ActivationShape.Map(3, 8, 8) : ActivationShape.Vector(192));
        }
    }

    [Fact]
    public void SearchSpace_MnistStackForFourClasses_IsAOneLineUsageErrorNamingTheSource()
    {
        var error = Assert.Throws<OptionException>(() => SearchSpace.Parse("""{"arch": ["conv3x3x4p1,relu,pool2,flatten,dense10"]}""", RgbCompass, "--space s.json"));
        Assert.StartsWith("--space s.json: ", error.Message, StringComparison.Ordinal);
        Assert.Contains("4 class scores", error.Message, StringComparison.Ordinal);
        Assert.Contains("4 class scores", Assert.Throws<OptionException>(() => SearchSpace.ParseArchitectureChoices("cnn", RgbCompass, "--arch-choices")).Message, StringComparison.Ordinal);
    }

    private static void AssertBuiltFor(Architecture network, ActivationShape input)
    {
        Assert.Equal(input, network.Input);
        Assert.Equal(4, network.Classes);
        Assert.Equal(ActivationShape.Vector(4), network.Output);
    }
}
