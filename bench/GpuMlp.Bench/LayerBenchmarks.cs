using BenchmarkDotNet.Attributes;
using GpuMlp.Compute;
using GpuMlp.Kernels;
using GpuMlp.Training;
using ILGPU;

namespace GpuMlp.Bench;

/// <summary>The non-GEMM kernels of a step at the model's shapes (memory-bound: GB/s column).</summary>
[BenchmarkCategory("Layers")]
public class LayerBenchmarks
{
    public const int Hidden = 512;
    public const int Classes = 10;
    public const int Features = 28 * 28;
    /// <summary>Synthetic device-resident dataset the gather reads from.</summary>
    public const int DatasetRows = 8192;

    private BenchDevice? device;
    private ArrayView<float> logits, dLogits, loss, hidden, dropped, dz, db, gathered;
    private ArrayView<int> labels, prediction, order, gatheredLabels;
    private ArrayView<byte> images, byteLabels;
    private DropoutMask mask;

    [ParamsSource(nameof(Devices))]
    public string Device { get; set; } = "cpu";

    [Params(128, 1024)]
    public int Batch { get; set; } = 128;

    public static IEnumerable<string> Devices() => BenchDevices.All();

    [GlobalSetup]
    public void Setup()
    {
        device = new BenchDevice(Device);
        logits = device.Upload(Synthetic.Floats((long)Batch * Classes, 1, 3f));
        labels = device.Upload(Synthetic.Labels(Batch, Classes, 2));
        dLogits = device.Allocate<float>((long)Batch * Classes);
        loss = device.Allocate<float>(Batch);
        prediction = device.Allocate<int>(Batch);
        hidden = device.Upload(Synthetic.Activations((long)Batch * Hidden, 3));
        dropped = device.Allocate<float>((long)Batch * Hidden);
        dz = device.Upload(Synthetic.Floats((long)Batch * Hidden, 4, 0.01f));
        db = device.Allocate<float>(Hidden);
        images = device.Upload(Synthetic.Bytes((long)DatasetRows * Features, 5));
        byteLabels = device.Upload(Synthetic.Bytes(DatasetRows, 6).Select(v => (byte)(v % Classes)).ToArray());
        order = device.Upload(Synthetic.Permutation(DatasetRows, 7));
        gathered = device.Allocate<float>((long)Batch * Features);
        gatheredLabels = device.Allocate<int>(Batch);
        mask = DropoutMask.For(0.2f, 1, 0, 0);
        _ = device.Unfused; // compiled here, not in the first timed call
        device.Synchronize();
    }

    [GlobalCleanup]
    public void Cleanup() => device?.Dispose();

    /// <summary>Fused softmax + cross-entropy + logit gradient over [Batch, 10].</summary>
    [Benchmark]
    public void SoftmaxCrossEntropy()
    {
        var d = device!;
        d.Kernels.SoftmaxCrossEntropy(logits, labels, Batch, Classes, writeGradient: true, dLogits, 0, loss, prediction);
        d.Synchronize();
    }

    /// <summary>Standalone dropout forward over the first hidden layer [Batch, 512] (training
    /// fuses it into the GEMM epilogue; this is the unfused kernel).</summary>
    [Benchmark]
    public void DropoutForward()
    {
        var d = device!;
        d.Unfused.Dropout(hidden, dropped, Batch * Hidden, mask);
        d.Synchronize();
    }

    /// <summary>Batch gather from the device-resident uint8 dataset (input layer).</summary>
    [Benchmark]
    public void Gather()
    {
        var d = device!;
        d.Kernels.Gather(images, byteLabels, order, 0, Batch, Features, gathered, gatheredLabels);
        d.Synchronize();
    }

    /// <summary>Bias gradient of the first layer: column sums of dZ[Batch, 512].</summary>
    [Benchmark]
    public void BiasGradient()
    {
        var d = device!;
        d.Kernels.BiasGradient(dz, Batch, Hidden, db);
        d.Synchronize();
    }
}

/// <summary>One Adam update of all 535,818 parameters (no batch dependence).</summary>
[BenchmarkCategory("Adam")]
public class AdamBenchmarks
{
    private BenchDevice? device;
    private ArrayView<float> parameters, gradients, first, second;
    private long step;

    [ParamsSource(nameof(Devices))]
    public string Device { get; set; } = "cpu";

    public static IEnumerable<string> Devices() => BenchDevices.All();

    public static int ParameterCount => GemmProblem.Model.ParameterCount;

    [GlobalSetup]
    public void Setup()
    {
        device = new BenchDevice(Device);
        int count = ParameterCount;
        parameters = device.Upload(GemmProblem.Model.InitialParameters(1));
        gradients = device.Upload(Synthetic.Floats(count, 2, 1e-3f));
        first = device.Upload(new float[count]);
        second = device.Upload(new float[count]);
        device.Synchronize();
    }

    [GlobalCleanup]
    public void Cleanup() => device?.Dispose();

    [Benchmark]
    public void Adam()
    {
        var d = device!;
        step++;
        var adam = new AdamStep
        {
            LearningRate = 1e-3f,
            Beta1 = 0.9f,
            Beta2 = 0.999f,
            Epsilon = 1e-8f,
            // Clamp t so the corrections stay representable however many invocations run.
            BiasCorrection1 = (float)(1.0 - Math.Pow(0.9, Math.Min(step, 10_000))),
            BiasCorrection2 = (float)(1.0 - Math.Pow(0.999, Math.Min(step, 10_000))),
        };
        d.Kernels.OptimizerStep(new OptimizerOperands(parameters, gradients, first, second), ParameterCount, adam);
        d.Synchronize();
    }
}
