// The host-side optimiser description: PyTorch's defaults per kind, the state tensors each keeps,
// the command-line names and the one-line validation errors. No device.
using GpuMlp.Training;

namespace GpuMlp.Tests.Training;

public sealed class OptimizerSettingsTests
{
    [Fact]
    public void Defaults_Adam_AreTorchDefaults()
    {
        var adam = new OptimizerSettings(OptimizerKind.Adam);
        Assert.Equal((1e-3f, 0.9f, 0.999f, 1e-8f, 0f), (adam.LearningRate, adam.Beta1, adam.Beta2, adam.Epsilon, adam.WeightDecay));
        Assert.Equal((0f, 0f, false, 0f, false), (adam.Momentum, adam.Dampening, adam.Nesterov, adam.Alpha, adam.Centered));
    }

    [Fact]
    public void Defaults_AdamW_AreAdamsWithWeightDecay001()
    {
        var adamW = new OptimizerSettings(OptimizerKind.AdamW);
        Assert.Equal((1e-3f, 0.9f, 0.999f, 1e-8f, 1e-2f), (adamW.LearningRate, adamW.Beta1, adamW.Beta2, adamW.Epsilon, adamW.WeightDecay));
    }

    [Fact]
    public void Defaults_Sgd_AreTorchDefaultsWithLearningRate001()
    {
        var sgd = new OptimizerSettings(OptimizerKind.Sgd);
        Assert.Equal((1e-2f, 0f, 0f, false, 0f), (sgd.LearningRate, sgd.Momentum, sgd.Dampening, sgd.Nesterov, sgd.WeightDecay));
        Assert.Equal((0f, 0f, 0f, 0f), (sgd.Beta1, sgd.Beta2, sgd.Epsilon, sgd.Alpha));
    }

    [Fact]
    public void Defaults_Rmsprop_AreTorchDefaults()
    {
        var rmsprop = new OptimizerSettings(OptimizerKind.Rmsprop);
        Assert.Equal((1e-2f, 0.99f, 1e-8f, 0f, 0f, false),
            (rmsprop.LearningRate, rmsprop.Alpha, rmsprop.Epsilon, rmsprop.WeightDecay, rmsprop.Momentum, rmsprop.Centered));
    }

    [Theory]
    [InlineData(OptimizerKind.Adam)]
    [InlineData(OptimizerKind.AdamW)]
    [InlineData(OptimizerKind.Sgd)]
    [InlineData(OptimizerKind.Rmsprop)]
    public void Validate_Defaults_Pass(OptimizerKind kind) => new OptimizerSettings(kind).Validate();

    [Fact]
    public void StateNames_PerKindAndOptions_AreTorchsStateDictNames()
    {
        Assert.Equal(["exp_avg", "exp_avg_sq"], new OptimizerSettings(OptimizerKind.Adam).StateNames);
        Assert.Equal(["exp_avg", "exp_avg_sq"], new OptimizerSettings(OptimizerKind.AdamW).StateNames);
        Assert.Empty(new OptimizerSettings(OptimizerKind.Sgd).StateNames);
        Assert.Equal(["momentum_buffer"], new OptimizerSettings(OptimizerKind.Sgd) { Momentum = 0.9f }.StateNames);
        Assert.Equal(["square_avg"], new OptimizerSettings(OptimizerKind.Rmsprop).StateNames);
        Assert.Equal(["square_avg", "momentum_buffer", "grad_avg"],
            new OptimizerSettings(OptimizerKind.Rmsprop) { Momentum = 0.5f, Centered = true }.StateNames);
        Assert.Equal(["square_avg", "grad_avg"], new OptimizerSettings(OptimizerKind.Rmsprop) { Centered = true }.StateNames);
    }

    [Theory]
    [InlineData("adam", OptimizerKind.Adam)]
    [InlineData("AdamW", OptimizerKind.AdamW)]
    [InlineData(" sgd ", OptimizerKind.Sgd)]
    [InlineData("rmsprop", OptimizerKind.Rmsprop)]
    public void Parse_KnownNames_Parse(string text, OptimizerKind expected)
    {
        Assert.Equal(expected, Optimizers.Parse(text));
        Assert.Equal(expected, Optimizers.Parse(expected.Name()));
    }

    [Fact]
    public void Parse_UnknownName_ListsTheChoices()
    {
        var error = Assert.Throws<ArgumentException>(() => Optimizers.Parse("adagrad"));
        Assert.Equal("--optimizer must be adam, adamw, sgd or rmsprop (got 'adagrad')", error.Message);
    }

    [Fact]
    public void Kind_Json_SerialisesAsItsCommandLineName()
    {
        var options = new System.Text.Json.JsonSerializerOptions
        {
            Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter(System.Text.Json.JsonNamingPolicy.SnakeCaseLower) },
        };
        foreach (var kind in Optimizers.All)
        {
            string json = System.Text.Json.JsonSerializer.Serialize(kind, options);
            Assert.Equal($"\"{kind.Name()}\"", json);
            Assert.Equal(kind, System.Text.Json.JsonSerializer.Deserialize<OptimizerKind>(json, options));
        }
    }

    [Fact]
    public void Describe_AnyKind_NamesTheHyperparametersTheKindUses()
    {
        Assert.Equal("adamw (lr 0.001, betas 0.9/0.999, eps 1E-08, weight_decay 0.01)", new OptimizerSettings(OptimizerKind.AdamW).Describe());
        Assert.Equal("sgd (lr 0.1, momentum 0.9, dampening 0, nesterov true, weight_decay 0)",
            new OptimizerSettings(OptimizerKind.Sgd) { LearningRate = 0.1f, Momentum = 0.9f, Nesterov = true }.Describe());
        Assert.Equal("rmsprop (lr 0.01, alpha 0.99, eps 1E-08, weight_decay 0, momentum 0, centered false)",
            new OptimizerSettings(OptimizerKind.Rmsprop).Describe());
    }

    /// <summary>Each invalid setting and the start of its one-line message.</summary>
    private static readonly Dictionary<string, (OptimizerSettings Settings, string Message)> Invalid = new(StringComparer.Ordinal)
    {
        ["zero lr"] = (new(OptimizerKind.Adam) { LearningRate = 0f }, "--lr must be a positive number (got 0)"),
        ["NaN lr"] = (new(OptimizerKind.Sgd) { LearningRate = float.NaN }, "--lr must be a positive number"),
        ["negative weight decay"] = (new(OptimizerKind.AdamW) { WeightDecay = -0.1f }, "--weight-decay must be zero or a positive number (got -0.1)"),
        ["beta1 of 1"] = (new(OptimizerKind.Adam) { Beta1 = 1f }, "--betas must both be in [0, 1) (got 1,0.999)"),
        ["negative beta2"] = (new(OptimizerKind.AdamW) { Beta2 = -0.5f }, "--betas must both be in [0, 1)"),
        ["zero eps"] = (new(OptimizerKind.Rmsprop) { Epsilon = 0f }, "--eps must be a positive number (got 0)"),
        ["negative momentum"] = (new(OptimizerKind.Sgd) { Momentum = -0.9f }, "--momentum must be in [0, 1) (got -0.9)"),
        ["momentum of 1"] = (new(OptimizerKind.Rmsprop) { Momentum = 1f }, "--momentum must be in [0, 1)"),
        ["dampening above 1"] = (new(OptimizerKind.Sgd) { Momentum = 0.9f, Dampening = 1.5f }, "--dampening must be in [0, 1] (got 1.5)"),
        ["nesterov without momentum"] = (new(OptimizerKind.Sgd) { Nesterov = true },
            "--nesterov needs --momentum above 0 and --dampening 0 (got momentum 0, dampening 0)"),
        ["nesterov with dampening"] = (new(OptimizerKind.Sgd) { Nesterov = true, Momentum = 0.9f, Dampening = 0.1f },
            "--nesterov needs --momentum above 0 and --dampening 0 (got momentum 0.9, dampening 0.1)"),
        ["alpha of 1"] = (new(OptimizerKind.Rmsprop) { Alpha = 1f }, "--alpha must be in [0, 1) (got 1)"),
        ["betas for sgd"] = (new(OptimizerKind.Sgd) { Beta1 = 0.9f }, "--betas applies to adam and adamw, not sgd"),
        ["eps for sgd"] = (new(OptimizerKind.Sgd) { Epsilon = 1e-8f }, "--eps applies to adam, adamw and rmsprop, not sgd"),
        ["momentum for adam"] = (new(OptimizerKind.Adam) { Momentum = 0.9f }, "--momentum applies to sgd and rmsprop, not adam"),
        ["dampening for rmsprop"] = (new(OptimizerKind.Rmsprop) { Dampening = 0.1f }, "--dampening applies to sgd, not rmsprop"),
        ["nesterov for rmsprop"] = (new(OptimizerKind.Rmsprop) { Momentum = 0.9f, Nesterov = true }, "--nesterov applies to sgd, not rmsprop"),
        ["alpha for adamw"] = (new(OptimizerKind.AdamW) { Alpha = 0.9f }, "--alpha applies to rmsprop, not adamw"),
        ["centered for sgd"] = (new(OptimizerKind.Sgd) { Centered = true }, "--centered applies to rmsprop, not sgd"),
    };

    public static TheoryData<string> InvalidNames() => new(Invalid.Keys);

    [Theory]
    [MemberData(nameof(InvalidNames))]
    public void Validate_InvalidSetting_FailsWithOneLineMessage(string name)
    {
        var (settings, message) = Invalid[name];
        var error = Assert.Throws<ArgumentException>(settings.Validate);
        Assert.StartsWith(message, error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', error.Message);
    }

    [Fact]
    public void With_OneHyperparameter_KeepsTheKindAndTheOtherDefaults()
    {
        var sgd = new OptimizerSettings(OptimizerKind.Sgd) with { Momentum = 0.9f };
        Assert.Equal(OptimizerKind.Sgd, sgd.Kind);
        Assert.Equal(1e-2f, sgd.LearningRate);
        Assert.Equal(new OptimizerSettings(OptimizerKind.Sgd) { Momentum = 0.9f }, sgd);
    }
}
