using System.Globalization;
using GpuMlp.Export;
using GpuMlp.Models;
using ILGPU;

namespace GpuMlp.Training;

/// <summary>One layer of a stack, as written in the architecture text (see <see cref="Architecture"/>).
/// Each is one module of PyTorch's nn.Sequential, so its position is its index there.
///
/// A layer kind is one file in Training/Layers: its spec record (this class's abstract members:
/// text token, output shape and its checks, parameter tensors with their PyTorch names, PyTorch
/// module, export description, device layer) and its parser, registered in <see cref="Kinds"/>.
/// The compiler asks a new kind for each abstract member. Outside these files only two places name
/// kinds: <see cref="LayerNetwork.Plan"/>'s fusion rules (what relu and dropout fuse into) and
/// <see cref="Architecture.MlpWidths"/>, which recognises the MLP that keeps its own file format.</summary>
public abstract record LayerSpec
{
    /// <summary>Every layer kind's parser, in the order the architecture parser tries them. A
    /// parser returns null for a token that is not its kind, and throws a one-line
    /// <see cref="ArchitectureException"/> for a token of its kind that is malformed.</summary>
    internal static IReadOnlyList<LayerKind> Kinds { get; } =
    [
        ConvSpec.Kind, MaxPool2Spec.Kind, FlattenSpec.Kind, DenseSpec.Kind, ReluSpec.Kind, DropoutSpec.Kind, BatchNormSpec.Kind,
    ];

    /// <summary>The canonical text of the layer (what <see cref="Architecture.ParseLayers"/> reads).</summary>
    public abstract string Token { get; }

    /// <summary>True for kinds that read a C x H x W map (conv, pool2, flatten): a stack with any of
    /// them reads an MNIST image as a map, any other as the vector of its pixels.</summary>
    public virtual bool TakesMap => false;

    /// <summary>True for kinds whose launches need the convolution and pooling kernels loaded.</summary>
    public virtual bool UsesConvolutionKernels => false;

    /// <summary>True for kinds with no launches of their own, fused by <see cref="LayerNetwork.Plan"/>
    /// into the layer before them (relu, dropout).</summary>
    public virtual bool FusesIntoPrevious => false;

    /// <summary>The shape this layer hands on for <paramref name="input"/>; throws a one-line
    /// <see cref="ArchitectureException"/> (through <see cref="Invalid"/>) when the layer cannot take it.</summary>
    /// <param name="index">The layer's 0-based position, for messages.</param>
    public abstract ActivationShape OutputShape(ActivationShape input, int index);

    /// <summary>The layer's trained tensors in state_dict order, with offset 0 (the stack places
    /// them in the flat buffer).</summary>
    public abstract IReadOnlyList<ParameterTensor> Parameters(int index, ActivationShape input);

    /// <summary>The layer's non-trained state tensors (PyTorch's buffer names, e.g.
    /// "{index}.running_mean"), with offset 0 (the stack places them in the flat state buffer);
    /// none unless a kind overrides this.</summary>
    public virtual IReadOnlyList<StateTensor> State(int index, ActivationShape input) => [];

    /// <summary>The equivalent PyTorch module, e.g. "nn.Conv2d(1, 32, kernel_size=(5, 5), padding=2)".</summary>
    public abstract string PyTorchModule(ActivationShape input);

    /// <summary>What the layer computes at inference, with its trained tensors (by name, in
    /// PyTorch's layouts), for the exporters.</summary>
    public abstract LayerDescription Describe(ArchitectureLayer layer, IReadOnlyDictionary<string, SafeTensor> tensors);

    /// <summary>The most values per row any one of the layer's buffers holds; no buffer may pass
    /// int indexing (see <see cref="LayerNetwork.MaxRowsFor"/>).</summary>
    public virtual long LargestBufferPerRow(ArchitectureLayer layer) => layer.Output.Elements;

    /// <summary>Values per row all of the device layer's buffers hold together (0 for fused kinds).</summary>
    public abstract long DeviceValuesPerRow(ArchitectureLayer layer);

    /// <summary>The device layer of a planned step: its buffers and its forward and backward launches.</summary>
    /// <param name="needsInputGradient">True when a layer with parameters comes before this one, so
    /// its backward must write the previous layer's output gradient.</param>
    internal abstract DeviceLayer CreateDeviceLayer(LayerNetwork network, LayerNetwork.PlannedLayer step, DeviceLayer? previous, bool needsInputGradient);

    public static ConvSpec Conv(int outChannels, int kernel, int padding = 0) => new(outChannels, kernel, kernel, padding);

    public static MaxPool2Spec MaxPool2 { get; } = new();

    public static FlattenSpec Flatten { get; } = new();

    public static DenseSpec Dense(int outputs) => new(outputs);

    public static ReluSpec Relu { get; } = new();

    public static DropoutSpec Dropout(float rate) => new(rate);

    public static BatchNormSpec BatchNorm { get; } = new();

    public sealed override string ToString() => Token;

    /// <summary>The one-line message of a layer that does not fit its place in the stack.</summary>
    protected ArchitectureException Invalid(int index, string problem) =>
        new(string.Create(CultureInfo.InvariantCulture, $"architecture: layer {index + 1} '{Token}': {problem}"));

    /// <summary>A fused kind's answer to <see cref="CreateDeviceLayer"/>: the planner never asks.</summary>
    private protected InvalidOperationException Fused() =>
        new($"{Token} has no device layer of its own: LayerNetwork.Plan fuses it into the layer before it");

    /// <summary>A decimal field of a token in min..max, else the one-line message naming it.</summary>
    internal static int Number(string digits, int min, int max, string quoted, string what)
    {
        if (!int.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out int value) || value < min || value > max)
        {
            throw new ArchitectureException(string.Create(CultureInfo.InvariantCulture,
                $"architecture: {quoted}: {what} must be {min}..{max}"));
        }
        return value;
    }
}

/// <summary>A layer kind's text form and parser (see <see cref="LayerSpec.Kinds"/>).</summary>
/// <param name="Form">The form as the parser's messages list it, e.g. "dense&lt;out&gt;".</param>
/// <param name="TryParse">(lower-case token, "layer N 'token'" for messages) to the spec, or null
/// when the token is not this kind.</param>
internal sealed record LayerKind(string Form, Func<string, string, LayerSpec?> TryParse);

/// <summary>One device layer. Output: [rows, output elements] (NCHW for maps). OutputGradient:
/// where the next layer's backward writes dLoss/d(Output); for a dense layer with relu,
/// dLoss/dZ (its writer applies the ReLU'/dropout mask, as the MLP always has).</summary>
internal abstract class DeviceLayer
{
    public ArrayView<float> Output { get; protected set; }
    public ArrayView<float> OutputGradient { get; protected set; }

    /// <summary>True when the output is a dense layer's masked activation (relu, maybe dropout),
    /// so the next dense layer's input gradient applies the mask in its epilogue.</summary>
    public bool MasksInputGradient { get; protected init; }

    /// <summary>1/(1-p) of the dropout fused into this layer (1 without).</summary>
    public float KeepScale { get; protected init; } = 1f;

    /// <summary>Set by a convolution that hands its output to the pool2 after it as its GEMM's rows
    /// (LayerNetwork.PlannedLayer.FeedsPoolAsRows): the convolution's forward pools them itself into
    /// the pooled output and argmax here (which the pool layer takes as its own), its Output is
    /// scratch for the [B * H * W, C] rows, and OutputGradient the convolution's dz in the same rows,
    /// already through its ReLU, which the pool's backward writes together with the bias partials
    /// here.</summary>
    public PoolRowsHandoff? PoolRows { get; protected init; }

    public abstract void Forward(int rows, ArrayView<float> x, bool training, uint seed, uint step);

    /// <summary>Parameter gradients (overwritten) and, when needed, the previous layer's
    /// OutputGradient; x is this layer's forward input.</summary>
    public abstract void Backward(int rows, ArrayView<float> x);
}

/// <summary>What a convolution feeding a pool2 as rows shares with the pool (see DeviceLayer.PoolRows):
/// whether the convolution has a ReLU, where the pool's backward puts its bias partials, and the
/// pooled output [B, C, H / 2, W / 2] and argmax that the convolution's forward writes.</summary>
internal sealed record PoolRowsHandoff(bool Relu, ArrayView<float> BiasPartials, ArrayView<float> Pooled, ArrayView<int> Argmax);
