using BenchmarkDotNet.Attributes;
using GpuMlp.Data;
using GpuMlp.Training;
using ILGPU;

namespace GpuMlp.Bench;

/// <summary>Where a training step's time goes, at the network level: the whole step as Trainer runs
/// it (one fused launch on the CPU), and its parts launched alone: the gather, the forward pass, the
/// forward pass with the loss and the backward pass (the backward is the difference), and the Adam
/// step over every parameter. Arch is "mlp" (the report's MLP, dropout 0.2) or "cnn" (the preset);
/// batch 128. Run with `--alternate StepPartsBenchmarks:Arch=cnn ROUNDS` on a machine whose load drifts.</summary>
[BenchmarkCategory("Step")]
public class StepPartsBenchmarks
{
    private const uint Seed = 1;

    private BenchDevice? device;
    private LayerNetwork? network;
    private DeviceOptimizer? adam;
    private DeviceImageSet? dataset;
    private ArrayView<int> order;
    private ArrayView<float> sampleLoss;
    private ArrayView<int> samplePrediction;
    private int batchesInDataset;
    private int next;

    [ParamsSource(nameof(Devices))]
    public string Device { get; set; } = "cpu";

    [Params("mlp", "cnn")]
    public string Arch { get; set; } = "cnn";

    [Params(128)]
    public int Batch { get; set; } = 128;

    public static IEnumerable<string> Devices() => BenchDevices.All();

    [GlobalSetup]
    public void Setup()
    {
        device = new BenchDevice(Device);
        Architecture architecture = Arch == "cnn"
            ? NetworkInput.Parse(Architecture.CnnText, MnistDataset.Schema)
            : NetworkInput.Mlp([512, 256], MnistDataset.Schema, 0.2f);
        int rows = Math.Max(4096, 8 * Batch);
        batchesInDataset = rows / Batch;
        byte[] labels = Synthetic.Bytes(rows, 2).Select(v => (byte)(v % MnistDataset.ClassCount)).ToArray();
        var images = new ImageSet("synthetic", MnistDataset.Shape, Synthetic.Bytes((long)rows * MnistDataset.Shape.Pixels, 1), labels);
        dataset = new DeviceImageSet(device.Accelerator, images);
        order = device.Upload(Synthetic.Permutation(rows, 3));
        sampleLoss = device.Allocate<float>(Batch);
        samplePrediction = device.Allocate<int>(Batch);
        network = new LayerNetwork(device.Kernels, architecture, Batch);
        network.SetParameters(architecture.InitialParameters(1));
        adam = new DeviceOptimizer(device.Kernels, new OptimizerSettings(OptimizerKind.Adam), architecture.ParameterCount);
        // Every method must find valid rows, labels and forward state.
        Gather();
        Forward();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        device?.Synchronize();
        network?.Dispose();
        adam?.Dispose();
        dataset?.Dispose();
        device?.Dispose();
    }

    /// <summary>Gather, forward, loss, backward, Adam: one fused launch on the CPU, as Trainer runs it.</summary>
    [Benchmark(Baseline = true)]
    public void TrainStep()
    {
        var d = device!;
        using (d.Kernels.FuseLaunches())
        {
            GatherBatch();
            ForwardPass();
            LossAndBackward();
            adam!.Step(network!.Parameters, network.Gradients, 1e-3f);
        }
        d.Synchronize();
    }

    /// <summary>The batch gathered from the device-resident dataset.</summary>
    [Benchmark]
    public void Gather()
    {
        GatherBatch();
        device!.Synchronize();
    }

    [Benchmark]
    public void Forward()
    {
        ForwardPass();
        device!.Synchronize();
    }

    /// <summary>Forward, softmax cross-entropy and backward (every parameter gradient).</summary>
    [Benchmark]
    public void ForwardLossBackward()
    {
        ForwardPass();
        LossAndBackward();
        device!.Synchronize();
    }

    /// <summary>One Adam step over every parameter.</summary>
    [Benchmark]
    public void AdamStep()
    {
        adam!.Step(network!.Parameters, network.Gradients, 1e-3f);
        device!.Synchronize();
    }

    private void GatherBatch()
    {
        var net = network!;
        int first = next * Batch;
        next = (next + 1) % batchesInDataset;
        device!.Kernels.Gather(dataset!.Images, dataset.Labels, order, first, Batch, net.Inputs, net.Input, net.Labels);
    }

    private void ForwardPass() => network!.Forward(Batch, training: true, Seed, (uint)adam!.Steps);

    private void LossAndBackward()
    {
        network!.Loss(Batch, writeGradient: true, 0, sampleLoss, samplePrediction);
        network.Backward(Batch);
    }
}
