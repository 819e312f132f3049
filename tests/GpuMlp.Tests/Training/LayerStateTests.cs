using GpuMlp.Export;
using GpuMlp.Models;
using GpuMlp.Runs;
using GpuMlp.Training;
using ILGPU;

namespace GpuMlp.Tests.Training;

/// <summary>A test-only layer kind with non-trained state, the shape of BatchNorm's running
/// statistics: the identity on a vector of C values, with "{index}.running_mean" [C] (initially 0)
/// and "{index}.running_var" [C] (initially 1). It shows a kind declares state in its own spec and
/// that the state travels through the network, checkpoints and model files beside the parameters.</summary>
internal sealed record RunningStatsSpec : LayerSpec
{
    public override string Token => "runningstats";

    public override ActivationShape OutputShape(ActivationShape input, int index) =>
        input.IsMap ? throw Invalid(index, "needs a vector") : input;

    public override IReadOnlyList<ParameterTensor> Parameters(int index, ActivationShape input) => [];

    public override IReadOnlyList<StateTensor> State(int index, ActivationShape input) =>
    [
        new($"{index}.running_mean", [input.Channels], 0, 0f),
        new($"{index}.running_var", [input.Channels], 0, 1f),
    ];

    public override string PyTorchModule(ActivationShape input) => $"RunningStats({input.Channels})";

    public override LayerDescription Describe(ArchitectureLayer layer, IReadOnlyDictionary<string, SafeTensor> tensors) =>
        new LayerDescription.Dropout(0f);

    public override long DeviceValuesPerRow(ArchitectureLayer layer) => 0;

    internal override DeviceLayer CreateDeviceLayer(LayerNetwork network, LayerNetwork.PlannedLayer step, DeviceLayer? previous, bool needsInputGradient) =>
        new Identity(previous ?? throw new ArgumentException("runningstats needs a layer before it"));

    /// <summary>No launch: hands on the previous layer's buffers, as flatten does.</summary>
    private sealed class Identity : DeviceLayer
    {
        public Identity(DeviceLayer previous)
        {
            Output = previous.Output;
            OutputGradient = previous.OutputGradient;
            MasksInputGradient = previous.MasksInputGradient;
            KeepScale = previous.KeepScale;
        }

        public override void Forward(int rows, ArrayView<float> x, bool training, uint seed, uint step)
        {
        }

        public override void Backward(int rows, ArrayView<float> x)
        {
        }
    }
}

[Collection(DeviceCollection.Name)]
public sealed class LayerStateTests(DeviceFixture fixture) : IDisposable
{
    private readonly TempDir dir = new();

    public void Dispose() => dir.Dispose();

    /// <summary>dense4, relu, runningstats (state at index 2), dense3 on vectors of 5.</summary>
    private static Architecture WithState() =>
        new([LayerSpec.Dense(4), LayerSpec.Relu, new RunningStatsSpec(), LayerSpec.Dense(3)], ActivationShape.Vector(5), 3);

    /// <summary>The same parameters without the stateful layer.</summary>
    private static Architecture WithoutState() =>
        new([LayerSpec.Dense(4), LayerSpec.Relu, LayerSpec.Dense(3)], ActivationShape.Vector(5), 3);

    private static float[] SomeState(Architecture network) =>
        Enumerable.Range(0, network.StateCount).Select(i => 0.25f * (i + 1)).ToArray();

    [Fact]
    public void Architecture_LayerWithState_PlacesItsStateTensorsInTheirOwnBuffer()
    {
        Architecture network = WithState();

        Assert.Equal(["2.running_mean", "2.running_var"], network.StateTensors.Select(t => t.Name));
        Assert.Equal([0, 4], network.StateTensors.Select(t => t.Offset));
        Assert.Equal(8, network.StateCount);
        Assert.Equal([0f, 0f, 0f, 0f, 1f, 1f, 1f, 1f], network.InitialState());
        Assert.Equal(WithoutState().ParameterCount, network.ParameterCount);
        Assert.Empty(MnistNetworks.Cnn.StateTensors);
        Assert.Equal(0, MnistNetworks.Cnn.StateCount);
    }

    [Fact]
    public void LayerNetwork_LayerWithState_StartsAtTheInitialStateAndKeepsWhatIsSet()
    {
        Architecture network = WithState();
        using var device = new LayerNetwork(fixture.Main.Kernels, network, 2);

        Assert.Equal(network.InitialState(), device.GetState());
        float[] state = SomeState(network);
        device.SetState(state);
        Assert.Equal(state, device.GetState());
        Assert.Throws<ArgumentException>(() => device.SetState(new float[3]));
    }

    [Fact]
    public void ModelFile_LayerWithState_WritesStateBesideTheParametersAndReadsItBack()
    {
        Architecture network = WithState();
        float[] parameters = network.InitialParameters(3), state = SomeState(network);
        string path = Path.Combine(dir.Path, "model.safetensors");

        ModelFile.Save(path, network, parameters, state, new Dictionary<string, string>());

        Assert.Equal(["0.weight", "0.bias", "2.running_mean", "2.running_var", "3.weight", "3.bias"],
            SafeTensorsFile.Read(path).Tensors.Select(t => t.Name));
        LoadedModel loaded = ModelFile.Load(path, network);
        Assert.Equal(parameters, loaded.Parameters);
        Assert.Equal(state, loaded.State);
        var error = Assert.Throws<ModelFormatException>(() => ModelFile.Load(path, WithoutState()));
        Assert.Contains("unexpected tensor", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ModelFile_StackWithoutState_WritesTheSameBytesAsBefore()
    {
        Architecture cnn = MnistNetworks.Parse("conv3x3x2,pool2,flatten,dense10");
        float[] parameters = cnn.InitialParameters(1);
        string plain = Path.Combine(dir.Path, "plain.safetensors"), withState = Path.Combine(dir.Path, "state.safetensors");

        ModelFile.Save(plain, cnn, parameters, new Dictionary<string, string>());
        ModelFile.Save(withState, cnn, parameters, [], new Dictionary<string, string>());

        Assert.Equal(File.ReadAllBytes(plain), File.ReadAllBytes(withState));
        Assert.Empty(ModelFile.LoadAny(plain).State);
    }

    [Fact]
    public void Checkpoint_LayerWithState_RoundTripsAndIsCheckedAgainstTheNetwork()
    {
        Architecture network = WithState();
        float[] state = SomeState(network);
        string path = Path.Combine(dir.Path, Checkpoint.FileName);

        CheckpointOf(network, state).Save(path);

        var loaded = Checkpoint.Load(path, network);
        Assert.Equal(["2.running_mean", "2.running_var"], loaded.State.LayerStateTensors);
        Assert.Equal(state, loaded.LayerState);
        var error = Assert.Throws<CheckpointFormatException>(() => Checkpoint.Load(path, WithoutState()));
        Assert.Contains("layer state", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', error.Message);
    }

    [Fact]
    public void Checkpoint_BestLayerState_RoundTripsBesideTheBestWeightsAndIsChecked()
    {
        Architecture network = WithState();
        float[] state = SomeState(network);
        float[] best = [.. state.Select(v => -v)];
        string path = Path.Combine(dir.Path, Checkpoint.FileName);

        CheckpointOf(network, state, network.InitialParameters(6), best).Save(path);
        var loaded = Checkpoint.Load(path, network);
        Assert.Equal(state, loaded.LayerState);
        Assert.Equal(best, loaded.BestLayerState);

        string alone = Path.Combine(dir.Path, "alone.bin");
        CheckpointOf(network, state, null, best).Save(alone);
        var error = Assert.Throws<CheckpointFormatException>(() => Checkpoint.Load(alone, network));
        Assert.Contains("best layer state without best weights", error.Message, StringComparison.Ordinal);

        string shorter = Path.Combine(dir.Path, "shorter.bin");
        CheckpointOf(network, state, network.InitialParameters(6), best[1..]).Save(shorter);
        error = Assert.Throws<CheckpointFormatException>(() => Checkpoint.Load(shorter, network));
        Assert.Contains("best layer state of", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', error.Message);
    }

    [Fact]
    public void Checkpoint_NetworkWithoutState_WritesNoLayerStateField()
    {
        Architecture network = WithoutState();
        string path = Path.Combine(dir.Path, Checkpoint.FileName);

        CheckpointOf(network, []).Save(path);

        Assert.DoesNotContain("layer_state", System.Text.Encoding.UTF8.GetString(File.ReadAllBytes(path)), StringComparison.Ordinal);
        var loaded = Checkpoint.Load(path, network);
        Assert.Null(loaded.State.LayerStateTensors);
        Assert.Empty(loaded.LayerState);
    }

    private static Checkpoint CheckpointOf(Architecture network, float[] state, float[]? bestParameters = null, float[]? bestState = null)
    {
        var options = new TrainingOptions { Hidden = [4], Epochs = 2, BatchSize = 4, Seed = 5, Optimizer = new OptimizerSettings(OptimizerKind.Sgd) };
        return new Checkpoint
        {
            State = new CheckpointState
            {
                Options = options,
                EpochsCompleted = 1,
                History = [new EpochRecord(1, 2.3, 0.11, 2.25, 0.125, 0.5, 1000)],
                Device = "cpu: CPUAccelerator",
                LayerStateTensors = state.Length == 0 ? null : network.StateTensors.Select(t => t.Name).ToArray(),
            },
            Parameters = network.InitialParameters(5),
            Optimizer = new OptimizerState(options.Optimizer.Kind, 0, new Dictionary<string, float[]>(StringComparer.Ordinal)),
            LayerState = state,
            BestParameters = bestParameters,
            BestLayerState = bestState,
        };
    }
}
