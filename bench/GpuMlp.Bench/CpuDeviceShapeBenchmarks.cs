using BenchmarkDotNet.Attributes;
using GpuMlp.Compute;
using GpuMlp.Data;
using GpuMlp.Kernels;
using GpuMlp.Training;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;

namespace GpuMlp.Bench;

/// <summary>How to shape ILGPU's simulated CPU device for the CPU SIMD kernels (CPUDevice(threads per
/// warp, warps per multiprocessor, multiprocessors)): the cost of one launch and wait, the forward
/// GEMM Batch x 784 x 512 and a whole training step (fused where the shape allows one group of every
/// worker). DeviceKernels launches one group per multiprocessor with all its threads, so a shape's
/// worker count is its thread count. ComputeDevice.CpuDeviceShape is the first case on a 2-core machine.</summary>
[BenchmarkCategory("CpuDeviceShape")]
public class CpuDeviceShapeBenchmarks
{
    public const int Batch = 128;

    private ComputeDevice? device;
    private DeviceKernels? kernels;
    private LayerNetwork? network;
    private DeviceOptimizer? adam;
    private ArrayView<float> a, b, c, one, loss;
    private ArrayView<int> prediction;
    private readonly List<IDisposable> buffers = [];

    /// <summary>"warp x warps x multiprocessors".</summary>
    [Params("P x 1 x 1", "2 x 1 x P", "2P x 1 x 1", "2 x 2 x 1", "default")]
    public string Shape { get; set; } = "P x 1 x 1";

    public static CPUDevice DeviceFor(string shape)
    {
        int cores = Math.Max(2, Environment.ProcessorCount);
        return shape switch
        {
            "P x 1 x 1" => new CPUDevice(cores, 1, 1),
            "2 x 1 x P" => new CPUDevice(2, 1, cores),
            "2P x 1 x 1" => new CPUDevice(2 * cores, 1, 1),
            "2 x 2 x 1" => new CPUDevice(2, 2, 1),
            _ => CPUDevice.Default,
        };
    }

    [GlobalSetup]
    public void Setup()
    {
        device = ComputeDevice.Open(DeviceRequest.Cpu, DeviceFor(Shape));
        kernels = new DeviceKernels(device.Accelerator, cpuSimd: CpuSimdRequest.Auto);
        a = Upload(Synthetic.Floats((long)Batch * 784, 1, 0.1f));
        b = Upload(Synthetic.Floats(784L * 512, 2, 0.1f));
        c = Upload(new float[Batch * 512]);
        one = Upload(new float[1]);
        loss = Upload(new float[Batch]);
        var predictions = device.Accelerator.Allocate1D<int>(Batch);
        buffers.Add(predictions);
        prediction = predictions.View;
        var shape = GemmProblem.Model;
        network = new LayerNetwork(kernels, NetworkInput.Mlp([512, 256], MnistDataset.Schema, 0.2f), Batch);
        adam = new DeviceOptimizer(kernels, new OptimizerSettings(OptimizerKind.Adam), shape.ParameterCount);
        network.SetParameters(shape.InitialParameters(1));
        float[] input = Synthetic.Bytes((long)Batch * shape.Input.Elements, 4).Select(v => v / 255f).ToArray();
        int[] labels = Synthetic.Labels(Batch, shape.Classes, 5);
        network.Input.SubView(0, input.Length).CopyFromCPU(ref input[0], input.Length);
        network.Labels.SubView(0, labels.Length).CopyFromCPU(ref labels[0], labels.Length);
        device.Synchronize();
    }

    private ArrayView<float> Upload(float[] values)
    {
        var buffer = device!.Accelerator.Allocate1D(values);
        buffers.Add(buffer);
        return buffer.View;
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        network?.Dispose();
        adam?.Dispose();
        foreach (var buffer in buffers)
            buffer.Dispose();
        device?.Dispose();
    }

    /// <summary>One launch of a kernel with next to no work (Adam on one parameter) and the wait for it.</summary>
    [Benchmark(Baseline = true)]
    public void LaunchAndWait()
    {
        kernels!.OptimizerStep(new OptimizerOperands(one, one, one, one), 1, new AdamStep { LearningRate = 0f, Beta1 = 0.9f, Beta2 = 0.999f, Epsilon = 1f, BiasCorrection1 = 1f, BiasCorrection2 = 1f });
        device!.Synchronize();
    }

    [Benchmark]
    public void Gemm()
    {
        kernels!.Gemm(GemmShape.Plain(Batch, 512, 784), DenseEpilogue.Of(EpilogueMode.Store), a, b, c, kernels.Unused, kernels.Unused);
        device!.Synchronize();
    }

    /// <summary>Forward (dropout 0.2), loss, backward and Adam of the 784-512-256-10 model.</summary>
    [Benchmark]
    public void TrainStep()
    {
        var net = network!;
        using (kernels!.FuseLaunches())
        {
            uint step = (uint)adam!.Steps;
            net.Forward(Batch, training: true, 1, step);
            net.Loss(Batch, writeGradient: true, 0, loss, prediction);
            net.Backward(Batch);
            adam.Step(net.Parameters, net.Gradients, 1e-3f);
        }
        device!.Synchronize();
    }
}
