using GpuMlp.Compute;
using GpuMlp.Kernels;
using ILGPU;
using ILGPU.Runtime;

namespace GpuMlp.Training;

/// <summary>An optimiser's state as plain arrays, for checkpoints: the kind, the number of steps taken
/// (the t of Adam's bias corrections; 0 means SGD's next step starts its momentum buffer) and every
/// state tensor by its torch name (see <see cref="OptimizerSettings.StateNames"/>).</summary>
public sealed record OptimizerState(OptimizerKind Kind, long Steps, IReadOnlyDictionary<string, float[]> Tensors);

/// <summary>One optimiser on the device: its state tensors (one flat buffer each, as long as the
/// parameters, zero at first) live on the accelerator for the object's lifetime, and each
/// <see cref="Step"/> is a single kernel launch over the flat parameter buffer with no host
/// synchronisation (on the CPU SIMD set, a command of the training step's fused launch). The host keeps
/// the step counter; the optimiser's definition (<see cref="OptimizerDefinition.Step"/>) computes the
/// per-step scalars (bias corrections, AdamW's decay factor, SGD's first-step flag), exactly as
/// torch.optim does for one parameter group.</summary>
public sealed class DeviceOptimizer : IDisposable
{
    // In StateNames order.
    private readonly MemoryBuffer1D<float, Stride1D.Dense>[] buffers;

    /// <param name="kernels">The loaded kernels; the state is allocated on their accelerator.</param>
    /// <param name="settings">Hyperparameters; validated here.</param>
    /// <param name="parameterCount">Length of the flat parameter buffer the optimiser updates.</param>
    public DeviceOptimizer(DeviceKernels kernels, OptimizerSettings settings, int parameterCount)
    {
        ArgumentNullException.ThrowIfNull(kernels);
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentOutOfRangeException.ThrowIfLessThan(parameterCount, 1);
        settings.Validate();
        Kernels = kernels;
        Settings = settings;
        ParameterCount = parameterCount;
        StateNames = settings.StateNames;
        buffers = new MemoryBuffer1D<float, Stride1D.Dense>[StateNames.Count];
        try
        {
            for (int s = 0; s < buffers.Length; s++)
            {
                buffers[s] = kernels.Accelerator.Allocate1D<float>(parameterCount);
                buffers[s].MemSetToZero();
            }
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public OptimizerSettings Settings { get; }

    /// <summary>The kernels the definition's step launches.</summary>
    internal DeviceKernels Kernels { get; }
    public OptimizerKind Kind => Settings.Kind;
    public int ParameterCount { get; }

    /// <summary>Steps taken so far (restored from a checkpoint with <see cref="Restore"/>).</summary>
    public long Steps { get; private set; }

    /// <summary>The state tensors kept, in torch's state_dict names and order.</summary>
    public IReadOnlyList<string> StateNames { get; }

    /// <summary>Device memory the state occupies: 4 bytes per parameter per state tensor.</summary>
    public long DeviceBytes => DeviceBytesFor(Settings, ParameterCount);

    /// <summary>Device memory an optimiser with <paramref name="settings"/> allocates for
    /// <paramref name="parameterCount"/> parameters (known before allocating anything).</summary>
    public static long DeviceBytesFor(OptimizerSettings settings, int parameterCount)
    {
        ArgumentNullException.ThrowIfNull(settings);
        return (long)settings.StateNames.Count * parameterCount * sizeof(float);
    }

    /// <summary>One update of every parameter from the gradients with this step's learning rate:
    /// parameters and state updated in place on the device (one launch), Steps incremented.</summary>
    public void Step(ArrayView<float> parameters, ArrayView<float> gradients, float learningRate) =>
        Step(parameters, gradients, learningRate, momentum: null);

    /// <summary>One update as <see cref="Step(ArrayView{float}, ArrayView{float}, float)"/>, with this
    /// step's beta1 (adam, adamw) or momentum (sgd, rmsprop) in place of the settings' when
    /// <paramref name="momentum"/> is given (OneCycle's cycle_momentum): a per-step scalar, so no
    /// kernel is recompiled; Adam's bias correction uses it with the step count, as torch does.</summary>
    public void Step(ArrayView<float> parameters, ArrayView<float> gradients, float learningRate, float? momentum)
    {
        if (momentum is float m && !(m is >= 0f and < 1f))
            throw new ArgumentOutOfRangeException(nameof(momentum), m, "a step's momentum (beta1) must be in [0, 1)");
        if (parameters.Length != ParameterCount || gradients.Length != ParameterCount)
            throw new ArgumentException(
                $"the optimizer updates {ParameterCount} parameters; got {parameters.Length} parameters and {gradients.Length} gradients");
        if (!(learningRate >= 0f) || float.IsInfinity(learningRate))
            throw new ArgumentOutOfRangeException(nameof(learningRate), learningRate, "the learning rate must be a finite number >= 0");
        Steps++;
        Settings.Definition.Step(this, parameters, gradients, learningRate, momentum, Steps);
    }

    /// <summary>Copies one state tensor to the host (synchronises).</summary>
    public float[] GetState(string name) => buffers[IndexOf(name)].GetAsArray1D();

    /// <summary>Overwrites one state tensor from the host.</summary>
    public void SetState(string name, float[] values)
    {
        ArgumentNullException.ThrowIfNull(values);
        int index = IndexOf(name);
        if (values.Length != ParameterCount)
            throw new ArgumentException($"optimizer state '{name}' has {values.Length} values; the network has {ParameterCount} parameters");
        buffers[index].CopyFromCPU(values);
    }

    /// <summary>The whole state on the host, for a checkpoint.</summary>
    public OptimizerState Capture()
    {
        var tensors = new Dictionary<string, float[]>(StringComparer.Ordinal);
        foreach (string name in StateNames)
            tensors[name] = GetState(name);
        return new OptimizerState(Kind, Steps, tensors);
    }

    /// <summary>Replaces the whole state (a resumed run continues bit-identically). Refuses, with a
    /// one-line message and nothing changed, a state from another optimiser, one whose tensors are not
    /// exactly those these settings keep, or a tensor of the wrong length.</summary>
    public void Restore(OptimizerState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (state.Kind != Kind)
            throw new ArgumentException($"the saved optimizer state is {state.Kind.Name()}'s; this run uses {Kind.Name()}");
        if (state.Steps < 0)
            throw new ArgumentException($"the saved optimizer state has a negative step count ({state.Steps})");
        var expected = StateNames.Order(StringComparer.Ordinal).ToArray();
        var saved = state.Tensors.Keys.Order(StringComparer.Ordinal).ToArray();
        if (!expected.SequenceEqual(saved, StringComparer.Ordinal))
            throw new ArgumentException(
                $"the saved {Kind.Name()} state holds [{string.Join(", ", saved)}] but {Settings.Describe()} keeps [{string.Join(", ", expected)}]");
        foreach (var (name, values) in state.Tensors)
        {
            if (values.Length != ParameterCount)
                throw new ArgumentException($"optimizer state '{name}' has {values.Length} values; the network has {ParameterCount} parameters");
        }
        foreach (var (name, values) in state.Tensors)
            buffers[IndexOf(name)].CopyFromCPU(values);
        Steps = state.Steps;
    }

    /// <summary>Back to the state of a new optimiser: every tensor zero, no steps taken.</summary>
    public void Reset()
    {
        foreach (var buffer in buffers)
            buffer.MemSetToZero();
        Steps = 0;
    }

    public void Dispose()
    {
        foreach (var buffer in buffers)
            buffer?.Dispose();
    }

    private int IndexOf(string name)
    {
        for (int s = 0; s < StateNames.Count; s++)
        {
            if (StateNames[s] == name)
                return s;
        }
        throw new ArgumentException(
            $"{Settings.Describe()} keeps no state '{name}' (it keeps [{string.Join(", ", StateNames)}])");
    }

    internal ArrayView<float> State(string name) => buffers[IndexOf(name)].View;

    // A buffer the current settings may not keep (SGD/RMSprop momentum, RMSprop grad_avg): the
    // kernel does not touch it then, so the one-element placeholder stands in.
    internal ArrayView<float> OptionalState(string name)
    {
        for (int s = 0; s < StateNames.Count; s++)
        {
            if (StateNames[s] == name)
                return buffers[s].View;
        }
        return Kernels.Unused;
    }
}
