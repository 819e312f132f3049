using BenchmarkDotNet.Attributes;
using GpuMlp.Data;
using GpuMlp.Training;
using ILGPU;
using ILGPU.Runtime;

namespace GpuMlp.Bench;

/// <summary>One whole training step through LayerNetwork, as Trainer runs it: gather from the
/// device-resident dataset, forward (dropout 0.2), softmax-CE, backward, Adam. Weights and data
/// stay on the device; only TrainStepWithUpload and UploadBatch move a batch host -> device.</summary>
[BenchmarkCategory("Step")]
public class StepBenchmarks
{
    private const float DropoutRate = 0.2f;
    private const float LearningRate = 1e-3f;
    private const uint Seed = 1;

    private BenchDevice? device;
    private LayerNetwork? network;
    private DeviceOptimizer? adam;
    private DeviceImageSet? dataset;
    private ArrayView<int> order;
    private ArrayView<float> sampleLoss;
    private ArrayView<int> samplePrediction;
    private float[] hostBatch = [];
    private int[] hostLabels = [];
    private int batchesInDataset;
    private int next;

    [ParamsSource(nameof(Devices))]
    public string Device { get; set; } = "cpu";

    [Params(128, 1024)]
    public int Batch { get; set; } = 128;

    public static IEnumerable<string> Devices() => BenchDevices.All();

    [GlobalSetup]
    public void Setup()
    {
        device = new BenchDevice(Device);
        var shape = GemmProblem.Model;
        int rows = Math.Max(8192, 8 * Batch);
        batchesInDataset = rows / Batch;
        byte[] labels = Synthetic.Bytes(rows, 2).Select(v => (byte)(v % shape.Classes)).ToArray();
        var images = new ImageSet("synthetic", MnistDataset.Shape, Synthetic.Bytes((long)rows * shape.Input.Elements, 1), labels);
        dataset = new DeviceImageSet(device.Accelerator, images);
        order = device.Upload(Synthetic.Permutation(rows, 3));
        sampleLoss = device.Allocate<float>(Batch);
        samplePrediction = device.Allocate<int>(Batch);
        network = new LayerNetwork(device.Kernels, NetworkInput.Mlp([512, 256], MnistDataset.Schema, DropoutRate), Batch);
        adam = new DeviceOptimizer(device.Kernels, new OptimizerSettings(OptimizerKind.Adam), shape.ParameterCount);
        network.SetParameters(shape.InitialParameters(1));
        hostBatch = Synthetic.Bytes((long)Batch * shape.Input.Elements, 4).Select(v => v / 255f).ToArray();
        hostLabels = Synthetic.Labels(Batch, shape.Classes, 5);
        // Every method must find valid rows and labels (BenchmarkDotNet gives each method a fresh
        // instance, and the softmax kernel indexes the logits by label).
        UploadHostBatch(network);
        device.Synchronize();
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

    /// <summary>Copies the float batch and its labels from host memory into the network's input.</summary>
    private void UploadHostBatch(LayerNetwork net)
    {
        net.Input.SubView(0, hostBatch.Length).CopyFromCPU(ref hostBatch[0], hostBatch.Length);
        net.Labels.SubView(0, hostLabels.Length).CopyFromCPU(ref hostLabels[0], hostLabels.Length);
    }

    private void ForwardBackwardAdam(LayerNetwork net)
    {
        uint step = (uint)adam!.Steps;
        net.Forward(Batch, training: true, Seed, step);
        net.Loss(Batch, writeGradient: true, 0, sampleLoss, samplePrediction);
        net.Backward(Batch);
        adam.Step(net.Parameters, net.Gradients, LearningRate);
    }

    /// <summary>Weights and data resident: gather + forward + loss + backward + Adam, as Trainer runs it
    /// (on the CPU SIMD kernels: one fused launch, DeviceKernels.FuseLaunches).</summary>
    [Benchmark(Baseline = true)]
    public void TrainStep()
    {
        var d = device!;
        using (d.Kernels.FuseLaunches())
            GatherForwardBackwardAdam(d);
        d.Synchronize();
    }

    /// <summary>The same step with every kernel launched on its own (11 launches on the CPU SIMD
    /// kernels; identical to TrainStep on a GPU, where nothing fuses).</summary>
    [Benchmark]
    public void TrainStepUnfused()
    {
        var d = device!;
        GatherForwardBackwardAdam(d);
        d.Synchronize();
    }

    private void GatherForwardBackwardAdam(BenchDevice d)
    {
        var net = network!;
        int first = next * Batch;
        next = (next + 1) % batchesInDataset;
        d.Kernels.Gather(dataset!.Images, dataset.Labels, order, first, Batch, net.Inputs, net.Input, net.Labels);
        ForwardBackwardAdam(net);
    }

    /// <summary>The same step fed the classic way: the float batch and its labels are uploaded
    /// from (pageable) host memory first, instead of gathered on the device.</summary>
    [Benchmark]
    public void TrainStepWithUpload()
    {
        var d = device!;
        var net = network!;
        UploadHostBatch(net);
        ForwardBackwardAdam(net);
        d.Synchronize();
    }

    /// <summary>Only the host -> device copy of one float batch and its labels.</summary>
    [Benchmark]
    public void UploadBatch()
    {
        var d = device!;
        var net = network!;
        UploadHostBatch(net);
        d.Synchronize();
    }

    /// <summary>Evaluation-style forward pass (no dropout) + loss without gradient.</summary>
    [Benchmark]
    public void ForwardOnly()
    {
        var d = device!;
        var net = network!;
        net.Forward(Batch, training: false, 0, 0);
        net.Loss(Batch, writeGradient: false, 0, sampleLoss, samplePrediction);
        d.Synchronize();
    }
}
