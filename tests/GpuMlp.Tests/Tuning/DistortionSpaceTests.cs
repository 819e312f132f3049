using System.Text.Json;
using GpuMlp.Data;
using GpuMlp.Training;
using GpuMlp.Tuning;

namespace GpuMlp.Tests.Tuning;

/// <summary>tune's distortion dimensions (DistortionSpace in SearchSpace): the file keys, sampling
/// within the ranges, the stored form, the trial's options and its train command line.</summary>
public sealed class DistortionSpaceTests
{
    private const string Searched = """{"rotate": [0, 15], "scale": 0.1, "translate": [0.05, 0.1], "elastic_alpha": [0, 40], "elastic_sigma": [4, 6]}""";

    [Fact]
    public void Parse_DistortionKeys_GiveTheirRanges()
    {
        var space = SearchSpace.Parse(Searched, MnistDataset.Schema).Distortion;
        Assert.True(space.IsActive);
        Assert.Equal((0f, 15f), (space.Min.RotateDegrees, space.Max.RotateDegrees));
        Assert.Equal((0.1f, 0.1f), (space.Min.Scale, space.Max.Scale));
        Assert.Equal((0f, 0f), (space.Min.ShearDegrees, space.Max.ShearDegrees));
        Assert.Equal((0.05f, 0.1f), (space.Min.Translate, space.Max.Translate));
        Assert.Equal((0f, 40f), (space.Min.ElasticAlpha, space.Max.ElasticAlpha));
        Assert.Equal((4f, 6f), (space.Min.ElasticSigma, space.Max.ElasticSigma));
    }

    /// <summary>Every trial's distortion lies in the ranges, rounded to 2 significant digits, and
    /// reaches the trial's training options; elastic sigma only with an alpha.</summary>
    [Fact]
    public void Sample_DistortionSpace_DrawsWithinTheRangesIntoTheOptions()
    {
        var space = SearchSpace.Parse(Searched, MnistDataset.Schema);
        var random = new Random(3);
        for (int i = 0; i < 200; i++)
        {
            var config = space.Sample(random);
            var d = config.Distortion;
            Assert.NotNull(d);
            Assert.InRange(d.RotateDegrees, 0f, 15f);
            Assert.Equal(0.1f, d.Scale);
            Assert.Equal(0f, d.ShearDegrees);
            Assert.InRange(d.Translate, 0.05f, 0.1f);
            Assert.InRange(d.ElasticAlpha, 0f, 40f);
            Assert.True(d.ElasticAlpha == 0 ? d.ElasticSigma == 0 : d.ElasticSigma is >= 4f and <= 6f, d.ToString());
            Assert.Equal((float)SearchSpace.RoundSignificant(d.RotateDegrees, 2), d.RotateDegrees);
            config.Check(MnistDataset.Schema);
            Assert.Equal(d, config.ToOptions(new TrainingOptions(), 3).Distortion);
        }
    }

    [Fact]
    public void Sample_NoDistortionSearched_TrialsHaveNone()
    {
        var random = new Random(1);
        Assert.All(Enumerable.Range(0, 20).Select(_ => new SearchSpace().Sample(random)), c => Assert.Null(c.Distortion));
    }

    /// <summary>tune.json's search space keeps the searched ranges and reads back equal; a space
    /// without distortion stores no "distortion" key (tune.json as before).</summary>
    [Fact]
    public void Document_DistortionSpace_RoundTripsAndIsAbsentWhenNone()
    {
        var space = SearchSpace.Parse(Searched, MnistDataset.Schema);
        var options = TuningFiles.Json;
        string json = JsonSerializer.Serialize(space.ToDocument(), options);
        var back = SearchSpace.FromDocument(JsonSerializer.Deserialize<SearchSpaceDocument>(json, options)!, MnistDataset.Schema);
        Assert.Equal(space.Distortion, back.Distortion);
        Assert.DoesNotContain("distortion", JsonSerializer.Serialize(new SearchSpace().ToDocument(), options), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"elastic_alpha": [0, 40]}""", "elastic_alpha and elastic_sigma go together")]
    [InlineData("""{"elastic_alpha": [10, 40], "elastic_sigma": [0.2, 6]}""", "elastic_sigma must lie in [0.5, 16] (got [0.2, 6])")]
    [InlineData("""{"rotate": [0, 200]}""", "rotate must lie in [0, 180] (got [0, 200])")]
    [InlineData("""{"shear": [20, 10]}""", "shear range [20, 10] has min > max")]
    public void Parse_BadDistortionRange_IsAnOptionError(string json, string expected)
    {
        var error = Assert.Throws<OptionException>(() => SearchSpace.Parse(json, MnistDataset.Schema, "space.json"));
        Assert.StartsWith("space.json: ", error.Message, StringComparison.Ordinal);
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Check_TrialWithBadDistortion_IsInvalidData()
    {
        var config = TrialConfig.Mlp(64, 1e-3f, 0.2f, [16]) with { Distortion = new ImageDistortion { ElasticAlpha = 34 } };
        var error = Assert.Throws<InvalidDataException>(() => config.Check(MnistDataset.Schema));
        Assert.StartsWith("distortion: --elastic-alpha and --elastic-sigma go together", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TrainCommandLine_DistortedTrial_CarriesTheTrainFlags()
    {
        var options = new TrainingOptions { Distortion = new ImageDistortion { RotateDegrees = 12, ElasticAlpha = 30, ElasticSigma = 4.5f } };
        string line = TuningTraining.TrainCommandLine(options);
        Assert.Contains(" --augment-rotate 12 --elastic-alpha 30 --elastic-sigma 4.5 --seed ", line, StringComparison.Ordinal);
        Assert.DoesNotContain("--augment-", TuningTraining.TrainCommandLine(new TrainingOptions()), StringComparison.Ordinal);
    }

    [Fact]
    public void ToString_DistortedTrial_NamesItsDistortion()
    {
        var config = TrialConfig.Mlp(64, 1e-3f, 0.2f, [16]) with { Distortion = new ImageDistortion { RotateDegrees = 10, ElasticAlpha = 34, ElasticSigma = 4 } };
        Assert.EndsWith(", distortion rotate 10 deg, elastic alpha 34 sigma 4", config.ToString(), StringComparison.Ordinal);
        Assert.NotEqual(config, config with { Distortion = null });
    }
}
