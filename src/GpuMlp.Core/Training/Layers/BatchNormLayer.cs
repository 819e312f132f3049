using System.Globalization;
using GpuMlp.Compute;
using GpuMlp.Export;
using GpuMlp.Kernels;
using GpuMlp.Models;
using ILGPU;

namespace GpuMlp.Training;

/// <summary>Batch normalisation with PyTorch's semantics and defaults (eps 1e-5, momentum 0.1,
/// affine, running statistics tracked): nn.BatchNorm2d(C) after a C x H x W map (statistics over
/// batch, height and width per channel), nn.BatchNorm1d(F) after a vector of F (statistics over the
/// batch per feature). Text: bn. Shape unchanged. Trained: weight [C] (initially 1) and bias [C]
/// (initially 0). State (torch's buffers): running_mean [C] (0), running_var [C] (1) and
/// num_batches_tracked [] (0; a float here, exact up to 2^24 steps). Training normalises with the
/// batch's statistics and updates the running ones (the unbiased variance); evaluation normalises
/// with the running statistics. A relu right after it is fused into it.</summary>
public sealed record BatchNormSpec : LayerSpec
{
    internal static LayerKind Kind { get; } = new("bn", TryParse);

    public override string Token => "bn";

    private static BatchNormSpec? TryParse(string lower, string quoted)
    {
        if (lower == "bn")
            return BatchNorm;
        if (lower.StartsWith("bn", StringComparison.Ordinal) || lower.StartsWith("batchnorm", StringComparison.Ordinal))
            throw new ArchitectureException($"architecture: {quoted}: batch normalisation is written bn (its channels are its input's)");
        return null;
    }

    public override ActivationShape OutputShape(ActivationShape input, int index) => input;

    public override IReadOnlyList<ParameterTensor> Parameters(int index, ActivationShape input) =>
    [
        new ParameterTensor(Architecture.WeightName(index), [input.Channels], 0, false, input.Channels) { InitialValue = 1f },
        new ParameterTensor(Architecture.BiasName(index), [input.Channels], 0, false, input.Channels) { InitialValue = 0f },
    ];

    public override IReadOnlyList<StateTensor> State(int index, ActivationShape input) =>
    [
        new(RunningMeanName(index), [input.Channels], 0, 0f),
        new(RunningVarName(index), [input.Channels], 0, 1f),
        new(NumBatchesTrackedName(index), [], 0, 0f),
    ];

    public static string RunningMeanName(int index) => string.Create(CultureInfo.InvariantCulture, $"{index}.running_mean");

    public static string RunningVarName(int index) => string.Create(CultureInfo.InvariantCulture, $"{index}.running_var");

    public static string NumBatchesTrackedName(int index) => string.Create(CultureInfo.InvariantCulture, $"{index}.num_batches_tracked");

    public override string PyTorchModule(ActivationShape input) => string.Create(CultureInfo.InvariantCulture,
        $"nn.BatchNorm{(input.IsMap ? 2 : 1)}d({input.Channels})");

    public override LayerDescription Describe(ArchitectureLayer layer, IReadOnlyDictionary<string, SafeTensor> tensors)
    {
        string weight = layer.Parameters[0].Name, bias = layer.Parameters[1].Name;
        string mean = layer.State[0].Name, variance = layer.State[1].Name;
        return new LayerDescription.BatchNorm(weight, bias, mean, variance, layer.Input.Channels, BatchNormKernels.Epsilon,
            tensors[weight].Data, tensors[bias].Data, tensors[mean].Data, tensors[variance].Data);
    }

    /// <summary>The output and its gradient (the per-channel statistics are not per row).</summary>
    public override long DeviceValuesPerRow(ArchitectureLayer layer) => 2 * layer.Output.Elements;

    internal override DeviceLayer CreateDeviceLayer(LayerNetwork network, LayerNetwork.PlannedLayer step, DeviceLayer? previous, bool needsInputGradient) =>
        new Device(network, step, previous, needsInputGradient);

    /// <summary>bn[,relu]: statistics (training) and the normalisation, kernels/BatchNormKernels.cs.
    /// Owns y, the output gradient dy (dLoss/dy: this layer applies its own ReLU' in backward, so the
    /// next layer writes it unmasked) and the batch's mean and variance, kept from the training
    /// forward for the backward.</summary>
    private sealed class Device : DeviceLayer
    {
        private readonly LayerNetwork network;
        private readonly DeviceLayer? previous;
        private readonly bool needsInputGradient, relu;
        private readonly int channels, spatial;
        private readonly ParameterTensor weight, bias;
        private readonly StateTensor runningMean, runningVariance, numBatchesTracked;
        private readonly ArrayView<float> mean, variance;

        public Device(LayerNetwork network, LayerNetwork.PlannedLayer step, DeviceLayer? previous, bool needsInputGradient)
        {
            this.network = network;
            this.previous = previous;
            this.needsInputGradient = needsInputGradient && previous is not null;
            relu = step.Relu;
            ActivationShape input = step.Layer.Input;
            channels = input.Channels;
            spatial = input.IsMap ? input.Height * input.Width : 1;
            weight = step.Layer.Parameters[0];
            bias = step.Layer.Parameters[1];
            runningMean = step.Layer.State[0];
            runningVariance = step.Layer.State[1];
            numBatchesTracked = step.Layer.State[2];
            long elements = (long)network.MaxRows * input.Elements;
            Output = network.Buffer<float>(elements);
            OutputGradient = network.Buffer<float>(elements);
            mean = network.Buffer<float>(channels);
            variance = network.Buffer<float>(channels);
            network.Kernels.LoadBatchNorm();
        }

        private BatchNormShape Shape(int rows) => new(rows, channels, spatial);

        public override void Forward(int rows, ArrayView<float> x, bool training, uint seed, uint step)
        {
            var shape = Shape(rows);
            DeviceKernels kernels = network.Kernels;
            if (training)
            {
                kernels.BatchNormStatistics(shape, x, mean, variance, network.StateSlice(runningMean), network.StateSlice(runningVariance),
                    network.StateSlice(numBatchesTracked));
                kernels.BatchNormForward(shape, relu, x, mean, variance, network.ParameterSlice(weight), network.ParameterSlice(bias), Output);
            }
            else
            {
                kernels.BatchNormForward(shape, relu, x, network.StateSlice(runningMean), network.StateSlice(runningVariance),
                    network.ParameterSlice(weight), network.ParameterSlice(bias), Output);
            }
        }

        public override void Backward(int rows, ArrayView<float> x)
        {
            var shape = Shape(rows);
            DeviceKernels kernels = network.Kernels;
            ArrayView<float> dWeight = network.GradientSlice(weight), dBias = network.GradientSlice(bias);
            kernels.BatchNormParameterGradients(shape, relu, OutputGradient, Output, x, mean, variance, dWeight, dBias);
            if (needsInputGradient)
            {
                kernels.BatchNormInputGradient(shape, relu, previous!.MasksInputGradient, previous.KeepScale, new BatchNormOperands(
                    OutputGradient, Output, x, mean, variance, network.ParameterSlice(weight), dWeight, dBias, previous.OutputGradient));
            }
        }
    }
}
