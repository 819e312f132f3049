using GpuMlp.Compute;
using GpuMlp.Tests.Reference;
using GpuMlp.Training;
using ILGPU;
using ILGPU.Runtime;

namespace GpuMlp.Tests.Training;

/// <summary>The whole network's gradients on a tiny net: device backward vs central finite
/// differences of the double-precision reference, and a few Adam steps vs the reference.</summary>
[Collection(DeviceCollection.Name)]
public class NetworkGradientTests(DeviceFixture fixture)
{
    /// <summary>The kernels under test (GpuLaunchShapeTests runs the class again with the GPU launch profile).</summary>
    protected DeviceFixture Fixture => fixture;

    protected virtual KernelSet Set => fixture.Main;

    private static readonly Architecture TinyShape = Architecture.Mlp(7, [6, 5], 3, 0f);
    private const int Rows = 5;
    private const uint Seed = 42;

    private static (float[] Parameters, float[] Input, int[] Labels) TinyProblem(int seed)
    {
        var random = new Random(seed);
        var parameters = TinyShape.InitialParameters(seed);
        // Scale the weights up so every ReLU sees pre-activations well away from the kink
        // relative to the finite-difference step, and the loss is far from flat.
        for (int i = 0; i < parameters.Length; i++)
            parameters[i] *= 2.5f;
        var input = Enumerable.Range(0, Rows * (int)TinyShape.Input.Elements).Select(_ => (float)random.NextDouble()).ToArray();
        var labels = Enumerable.Range(0, Rows).Select(_ => random.Next(TinyShape.Classes)).ToArray();
        return (parameters, input, labels);
    }

    private static double[] ToDouble(float[] values) => values.Select(v => (double)v).ToArray();

    private LayerNetwork Upload(float[] parameters, float[] input, int[] labels, float dropout)
    {
        var network = new LayerNetwork(Set.Kernels, Architecture.Mlp(7, [6, 5], 3, dropout), Rows);
        network.SetParameters(parameters);
        network.Input.SubView(0, input.Length).CopyFromCPU(ref input[0], input.Length);
        network.Labels.SubView(0, labels.Length).CopyFromCPU(ref labels[0], labels.Length);
        return network;
    }

    private float[] DeviceGradient(LayerNetwork network, uint step)
    {
        var accelerator = Set.Accelerator;
        using var loss = accelerator.Allocate1D<float>(Rows);
        using var prediction = accelerator.Allocate1D<int>(Rows);
        network.Forward(Rows, training: true, Seed, step);
        network.Loss(Rows, writeGradient: true, 0, loss.View, prediction.View);
        network.Backward(Rows);
        return network.GetGradients();
    }

    private static double[] FiniteDifferences(ReferenceMlp reference, double[] x, int[] labels, double dropout, uint step)
    {
        const double h = 1e-6;
        var gradient = new double[reference.Parameters.Length];
        for (int i = 0; i < gradient.Length; i++)
        {
            double saved = reference.Parameters[i];
            reference.Parameters[i] = saved + h;
            double plus = reference.MeanLoss(x, labels, Rows, dropout, Seed, step);
            reference.Parameters[i] = saved - h;
            double minus = reference.MeanLoss(x, labels, Rows, dropout, Seed, step);
            reference.Parameters[i] = saved;
            gradient[i] = (plus - minus) / (2 * h);
        }
        return gradient;
    }

    [Theory]
    [InlineData(0f, 1)]
    [InlineData(0.3f, 2)]
    [InlineData(0.5f, 3)]
    public void Backward_TinyNetwork_MatchesFiniteDifferences(float dropout, int seed)
    {
        var (parameters, input, labels) = TinyProblem(seed);
        var reference = new ReferenceMlp(TinyShape, ToDouble(parameters));
        var x = ToDouble(input);
        const uint step = 7;
        double[] numeric = FiniteDifferences(reference, x, labels, dropout, step);

        // The reference's analytic gradient must agree with its own finite differences to
        // double-precision FD accuracy (h = 1e-6: truncation ~1e-12, rounding ~1e-10).
        Compare.AllClose(reference.Gradient(x, labels, Rows, dropout, Seed, step).Select(v => (float)v).ToArray(),
            numeric, 1e-6, 1e-5, "reference analytic gradient vs finite differences");

        using var network = Upload(parameters, input, labels, dropout);
        float[] device = DeviceGradient(network, step);
        // float32 kernels: every gradient is a sum of at most 7 products of O(1) terms, so its
        // rounding error is a few ulps of O(1) values; 1e-5 absolute leaves a wide margin while a
        // wrong stride, missing mask or missing 1/batch factor is off by >= 1e-2.
        Compare.AllClose(device, numeric, 1e-5, 1e-4, $"device gradient vs finite differences (dropout {dropout})");
        Assert.Contains(device, g => Math.Abs(g) > 1e-3f);
    }

    [Fact]
    public void Adam_FiveStepsOnTheTinyNetwork_MatchReference()
    {
        var (parameters, input, labels) = TinyProblem(5);
        var reference = new ReferenceMlp(TinyShape, ToDouble(parameters));
        var x = ToDouble(input);
        const float dropout = 0.2f, learningRate = 0.01f;
        using var network = Upload(parameters, input, labels, dropout);
        using var adam = new DeviceOptimizer(Set.Kernels, new OptimizerSettings(OptimizerKind.Adam), TinyShape.ParameterCount);
        for (int step = 0; step < 5; step++)
        {
            uint dropoutStep = (uint)adam.Steps;
            DeviceGradient(network, dropoutStep);
            adam.Step(network.Parameters, network.Gradients, learningRate);
            reference.Adam(reference.Gradient(x, labels, Rows, dropout, Seed, dropoutStep), learningRate);
            // Each Adam step moves a parameter by at most ~lr = 1e-2 along m/sqrt(v), which is
            // insensitive to the small float32 error of the gradient except where the gradient
            // is ~0; the tiny net has none of those, so 1e-5 absolute holds after 5 steps.
            Compare.AllClose(network.GetParameters(), reference.Parameters, 1e-5, 1e-4, $"parameters after Adam step {step + 1}");
        }
        float[] first = adam.GetState(Optimizers.ExpAvg), second = adam.GetState(Optimizers.ExpAvgSq);
        Compare.AllClose(first, reference.First, 1e-6, 1e-4, "Adam first moment");
        Compare.AllClose(second, reference.Second, 1e-8, 1e-4, "Adam second moment");
        Assert.Equal(5, adam.Steps);
    }
}
