// The optimiser registry: every OptimizerKind has exactly one definition, and everything that lists or
// dispatches on optimisers (Parse, config.json's names, the train flags, Validate, tune's optimizer
// list, checkpoint state names) covers every kind, so an enum member added without its definition,
// or a definition some part of the program does not know, fails here. No device.
using System.Text.Json;
using GpuMlp.Cli;
using GpuMlp.Data;
using GpuMlp.Training;
using GpuMlp.Tuning;

namespace GpuMlp.Tests.Training;

public sealed class OptimizerDefinitionTests
{
    public static TheoryData<OptimizerKind> Kinds() => new(Enum.GetValues<OptimizerKind>());

    [Theory]
    [MemberData(nameof(Kinds))]
    public void Definition_EveryKind_IsItsOwnAndNamedAsInConfigJson(OptimizerKind kind)
    {
        var definition = kind.Definition();
        Assert.Equal(kind, definition.Kind);
        Assert.Equal(kind.Name(), definition.Name);
        Assert.Equal($"\"{definition.Name}\"", JsonSerializer.Serialize(kind));
        Assert.Equal(kind, JsonSerializer.Deserialize<OptimizerKind>($"\"{definition.Name}\""));
        Assert.False(string.IsNullOrWhiteSpace(definition.Description));
        Assert.Equal(kind, new OptimizerSettings(kind).Definition.Kind);
    }

    [Fact]
    public void Registry_AllKinds_AreListedOnceWithDistinctNamesAndDefinitions()
    {
        Assert.Equal(Enum.GetValues<OptimizerKind>(), Optimizers.All);
        Assert.Equal(Optimizers.All.Count, Optimizers.All.Select(k => k.Definition()).Distinct().Count());
        Assert.Equal(Optimizers.All.Count, Optimizers.Names.Distinct(StringComparer.Ordinal).Count());
    }

    [Fact]
    public void Definition_UnnamedKind_IsRefused()
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => ((OptimizerKind)99).Definition());
        Assert.Equal("kind", error.ParamName);
        Assert.Throws<ArgumentOutOfRangeException>(() => new OptimizerSettings((OptimizerKind)99));
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void Parse_EveryKindsName_GivesTheKindInAnyCase(OptimizerKind kind)
    {
        Assert.Equal(kind, Optimizers.Parse(kind.Name()));
        Assert.Equal(kind, Optimizers.Parse($" {kind.Name().ToUpperInvariant()} "));
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void Defaults_EveryKind_ValidateAndDescribeThemselves(OptimizerKind kind)
    {
        var defaults = new OptimizerSettings(kind);
        defaults.Validate();
        Assert.True(defaults.LearningRate > 0f);
        Assert.StartsWith($"{kind.Name()} (lr ", defaults.Describe(), StringComparison.Ordinal);
        Assert.Equal(kind == OptimizerKind.Adam ? "" : $"--optimizer {kind.Name()}", defaults.CommandLineFlags());
    }

    /// <summary>Every flag the kind does not accept, set in the settings, is refused with the CLI's
    /// words; every flag it accepts is range-checked (an out-of-range value is refused naming it).</summary>
    [Theory]
    [MemberData(nameof(Kinds))]
    public void Validate_EveryFlag_IsCheckedOrRefusedAsTheDefinitionSays(OptimizerKind kind)
    {
        var definition = kind.Definition();
        foreach (string flag in OptimizerFlags.All)
        {
            var defaults = new OptimizerSettings(kind);
            if (definition.Uses(flag))
            {
                if (flag is OptimizerFlags.Centered)
                    continue; // any value is in range
                var error = Assert.Throws<ArgumentException>(() => OutOfRange(defaults, flag).Validate());
                Assert.StartsWith(flag, error.Message, StringComparison.Ordinal);
            }
            else
            {
                var error = Assert.Throws<ArgumentException>(() => Set(defaults, flag).Validate());
                Assert.Equal(Optimizers.NotUsedMessage(flag, kind), error.Message);
            }
        }
    }

    [Fact]
    public void Flags_EveryHyperparameterFlag_IsAcceptedBySomeOptimizerAndIsATrainOption()
    {
        Assert.All(OptimizerFlags.All, flag => Assert.NotEmpty(Optimizers.NamesUsing(flag)));
        Assert.All(Optimizers.All, kind => Assert.Subset(OptimizerFlags.All.ToHashSet(StringComparer.Ordinal),
            kind.Definition().Flags.ToHashSet(StringComparer.Ordinal)));
        Assert.Equal(OptimizerFlags.All, new OptimizerOptions().Hyperparameters.Select(o => o.Name));
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void StateNames_EverySetting_AreTheDefinitionsPossibleNamesInOrder(OptimizerKind kind)
    {
        var definition = kind.Definition();
        var everything = WithEveryStateTensor(new OptimizerSettings(kind));
        everything.Validate();
        Assert.Equal(definition.PossibleStateNames, everything.StateNames);
        var defaults = new OptimizerSettings(kind).StateNames;
        Assert.Equal(definition.PossibleStateNames.Where(defaults.Contains), defaults);
        Assert.Subset(definition.PossibleStateNames.ToHashSet(StringComparer.Ordinal),
            definition.NonNegativeStateNames.ToHashSet(StringComparer.Ordinal));
        Assert.Equal((long)everything.StateNames.Count * 10 * sizeof(float), DeviceOptimizer.DeviceBytesFor(everything, 10));
    }

    [Fact]
    public void Tune_EveryKind_IsParsedValidatedAndSampled()
    {
        Assert.Equal(Optimizers.All, SearchSpace.ParseOptimizers(Optimizers.Names, "--optimizers"));
        var space = new SearchSpace { Optimizers = Optimizers.All, MomentumMin = 0.5, MomentumMax = 0.9 };
        space.Validate(MnistDataset.Schema, "test");
        var random = new Random(7);
        var sampled = Enumerable.Range(0, 200).Select(_ => space.Sample(random).Settings).ToList();
        Assert.Equal(Optimizers.All, sampled.Select(s => s.Kind).Distinct().Order());
        Assert.All(sampled, s => s.Validate());
    }

    // Settings that keep every state tensor the kind may keep: momentum and centering where accepted.
    private static OptimizerSettings WithEveryStateTensor(OptimizerSettings settings)
    {
        var definition = settings.Definition;
        if (definition.Uses(OptimizerFlags.Momentum))
            settings = settings with { Momentum = 0.9f };
        if (definition.Uses(OptimizerFlags.Centered))
            settings = settings with { Centered = true };
        return settings;
    }

    private static OptimizerSettings Set(OptimizerSettings s, string flag) => flag switch
    {
        OptimizerFlags.WeightDecay => s with { WeightDecay = 0.1f },
        OptimizerFlags.Betas => s with { Beta1 = 0.5f },
        OptimizerFlags.Eps => s with { Epsilon = 1e-6f },
        OptimizerFlags.Momentum => s with { Momentum = 0.5f },
        OptimizerFlags.Dampening => s with { Dampening = 0.5f },
        OptimizerFlags.Nesterov => s with { Nesterov = true },
        OptimizerFlags.Alpha => s with { Alpha = 0.5f },
        OptimizerFlags.Centered => s with { Centered = true },
        _ => throw new ArgumentOutOfRangeException(nameof(flag), flag, "a flag this test does not know"),
    };

    private static OptimizerSettings OutOfRange(OptimizerSettings s, string flag) => flag switch
    {
        OptimizerFlags.WeightDecay => s with { WeightDecay = -1f },
        OptimizerFlags.Betas => s with { Beta1 = 1f },
        OptimizerFlags.Eps => s with { Epsilon = 0f },
        OptimizerFlags.Momentum => s with { Momentum = 1f },
        OptimizerFlags.Dampening => s with { Dampening = 2f },
        OptimizerFlags.Nesterov => s with { Nesterov = true, Momentum = 0f },
        OptimizerFlags.Alpha => s with { Alpha = 1f },
        _ => throw new ArgumentOutOfRangeException(nameof(flag), flag, "a flag this test does not know"),
    };
}
