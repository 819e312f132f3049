namespace GpuMlp.Export;

/// <summary>
/// One layer of a trained network as an exporter sees it: what the layer computes at inference and
/// its trained tensors, independent of the kernels that trained it. A network is a list of these
/// (<see cref="NetworkDescription"/>), applied in order to a batch of samples. Today's networks are
/// sequences of <see cref="Dense"/>, <see cref="Relu"/> and <see cref="Dropout"/>; the planned
/// convolutional layers (conv2d, maxpool, flatten) become further cases here and in the exporter's
/// one switch over layer kinds.
/// </summary>
public abstract record LayerDescription
{
    private LayerDescription()
    {
    }

    /// <summary>A fully connected layer, y = x·Wᵀ + b, as PyTorch's nn.Linear: input [N, Inputs],
    /// <paramref name="Weight"/> [Outputs, Inputs] row-major, <paramref name="Bias"/> [Outputs],
    /// output [N, Outputs]. The names are the tensors' names in the exported file.</summary>
    public sealed record Dense(string WeightName, string BiasName, int Inputs, int Outputs, float[] Weight, float[] Bias) : LayerDescription;

    /// <summary>max(x, 0) elementwise; the shape is unchanged.</summary>
    public sealed record Relu : LayerDescription;

    /// <summary>Inverted dropout with this rate during training (kept values are scaled by
    /// 1/(1 − rate) then), hence the identity at inference.</summary>
    public sealed record Dropout(float Rate) : LayerDescription;
}
