using System.Security.Cryptography;
using GpuMlp.Compute;
using GpuMlp.Data;
using GpuMlp.Tests.Data;
using GpuMlp.Training;

namespace GpuMlp.Tests.Training;

/// <summary>Pins what training computes, bit for bit, so that a refactoring of layers, optimisers,
/// kernel sets or data handling cannot change it unnoticed: the report's MLP and the CNN preset
/// (with its ±2-pixel shifts), each trained for one short epoch on real MNIST from seed 1, on the
/// CPU accelerator's SIMD kernels (Vector256, which every x86-64 CI machine runs in hardware; the
/// results do not depend on the worker count) and on the portable kernels the GPUs run
/// (`--cpu-simd off`). The SHA-256 of the final flat parameter buffer was recorded from the code as
/// it stood when the test was written; a deliberate change of the arithmetic must update it and
/// say why in its commit.</summary>
[Collection(DeviceCollection.Name)]
public sealed class BehaviourPinTests
{
    [Theory]
    [InlineData("mlp", "vector256", "80a58189f0ee5a2e40cb65726b2a7122df5f5b6bd3f433fda654508d5fc6c252")]
    [InlineData("mlp", "off", "4e460a00dc43567283a2cb238abff6054d906080b7fc4400e1ef37201657b610")]
    [InlineData("cnn", "vector256", "e53a513978bde40225894eb75870c8c83ef39afd86b888054e1115e021a372a1")]
    [InlineData("cnn", "off", "ee3a95770e862b3fb80bddec115b6da73673849803e4896d326390b6f98d0d11")]
    public void Training_FixedSeedOnCpu_GivesThePinnedWeights(string arch, string kernelSet, string expectedSha256)
    {
        Assert.SkipWhen(TestDevice.RequestedName != "cpu",
            $"the pinned weights are the CPU accelerator's; {TestDevice.VariableName}={TestDevice.RequestedName}");
        var options = new TrainingOptions
        {
            Epochs = 1,
            BatchSize = 128,
            LimitTrain = arch == "cnn" ? 256 : 1024,
            ValidationSplit = 0,
            Seed = 1,
            ArchitectureText = ArchitectureChoice.Resolve(arch, MnistDataset.Schema),
            AugmentShift = ArchitectureChoice.DefaultAugmentShift(arch),
        };
        using var device = ComputeDevice.Open(DeviceRequest.Cpu);
        var kernels = new DeviceKernels(device.Accelerator, cpuSimd: CpuSimdChoice.Parse(kernelSet));
        using var trainer = new Trainer(new KernelDevice(device, kernels), RealMnist.Load(), options);
        trainer.TrainEpoch(1, cancel: TestContext.Current.CancellationToken);
        float[] parameters = trainer.Network.GetParameters();
        byte[] bytes = new byte[parameters.Length * sizeof(float)];
        Buffer.BlockCopy(parameters, 0, bytes, 0, bytes.Length);
        string actual = Convert.ToHexStringLower(SHA256.HashData(bytes));
        Assert.True(expectedSha256 == actual,
            $"{arch} on {kernelSet}: the weights after one epoch changed: SHA-256 {actual}, pinned {expectedSha256} " +
            $"(first parameters {string.Join(", ", parameters.Take(4).Select(p => p.ToString("R", System.Globalization.CultureInfo.InvariantCulture)))})");
    }
}
