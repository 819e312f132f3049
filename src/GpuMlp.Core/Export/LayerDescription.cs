namespace GpuMlp.Export;

/// <summary>
/// One layer of a trained network as an exporter sees it: what the layer computes at inference and
/// its trained tensors, independent of the kernels that trained it. A network is a list of these
/// (<see cref="NetworkDescription"/>), applied in order to a batch of samples: <see cref="Dense"/>,
/// <see cref="Conv2d"/>, <see cref="MaxPool2"/>, <see cref="Flatten"/>, <see cref="Relu"/>,
/// <see cref="Dropout"/> and <see cref="BatchNorm"/>, each one case of the exporter's one switch over layer kinds.
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

    /// <summary>A 2-D convolution, stride 1, zero padding <paramref name="Padding"/> on all sides, as
    /// PyTorch's nn.Conv2d: input [N, InChannels, H, W], <paramref name="Weight"/> [OutChannels,
    /// InChannels, KernelH, KernelW] row-major, <paramref name="Bias"/> [OutChannels], output
    /// [N, OutChannels, H + 2P − KernelH + 1, W + 2P − KernelW + 1].</summary>
    public sealed record Conv2d(string WeightName, string BiasName, int InChannels, int OutChannels, int KernelH, int KernelW, int Padding,
        float[] Weight, float[] Bias) : LayerDescription;

    /// <summary>2x2 max-pooling, stride 2, as nn.MaxPool2d(2): [N, C, H, W] to [N, C, H/2, W/2] (floor).</summary>
    public sealed record MaxPool2 : LayerDescription;

    /// <summary>[N, C, H, W] to [N, C·H·W] in row-major (NCHW) order, as nn.Flatten().</summary>
    public sealed record Flatten : LayerDescription;

    /// <summary>max(x, 0) elementwise; the shape is unchanged.</summary>
    public sealed record Relu : LayerDescription;

    /// <summary>Inverted dropout with this rate during training (kept values are scaled by
    /// 1/(1 − rate) then), hence the identity at inference.</summary>
    public sealed record Dropout(float Rate) : LayerDescription;

    /// <summary>Batch normalisation at inference, as nn.BatchNorm1d/2d in eval mode: y = (x −
    /// RunningMean[c]) / sqrt(RunningVar[c] + Epsilon) · Weight[c] + Bias[c] over channel c (dimension 1)
    /// of [N, Channels] or [N, Channels, H, W]; every tensor [Channels]. The names are the tensors'
    /// names in the exported file.</summary>
    public sealed record BatchNorm(string WeightName, string BiasName, string RunningMeanName, string RunningVarName, int Channels,
        float Epsilon, float[] Weight, float[] Bias, float[] RunningMean, float[] RunningVar) : LayerDescription;
}
