using GpuMlp.Compute;
using GpuMlp.Data;
using ILGPU;
using ILGPU.Runtime;

namespace GpuMlp.Training;

/// <summary>A split of MNIST uploaded once as bytes (pixels stay uint8 on the device; the gather
/// kernel normalises), plus the identity order used to evaluate it.</summary>
public sealed class DeviceDataset : IDisposable
{
    private readonly MemoryBuffer1D<byte, Stride1D.Dense> images;
    private readonly MemoryBuffer1D<byte, Stride1D.Dense> labels;
    private readonly MemoryBuffer1D<int, Stride1D.Dense> identity;

    public DeviceDataset(Accelerator accelerator, IdxImages source, byte[] sourceLabels, int count)
    {
        if (count < 0 || count > source.Count || count > sourceLabels.Length)
            throw new ArgumentOutOfRangeException(nameof(count));
        Count = count;
        ImageHeight = source.Rows;
        ImageWidth = source.Columns;
        Features = source.Rows * source.Columns;
        try
        {
            images = accelerator.Allocate1D<byte>(Math.Max(1L, (long)count * Features));
            labels = accelerator.Allocate1D<byte>(Math.Max(1, count));
            identity = accelerator.Allocate1D<int>(Math.Max(1, count));
            if (count > 0)
            {
                HostCopy.ToDevice(images.View, source.Pixels, (long)count * Features);
                HostCopy.ToDevice(labels.View, sourceLabels, count);
                int[] order = Enumerable.Range(0, count).ToArray();
                HostCopy.ToDevice(identity.View, order, count);
            }
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public int Count { get; }
    public int Features { get; }
    /// <summary>Rows and columns of one image (Features = ImageHeight * ImageWidth).</summary>
    public int ImageHeight { get; }
    public int ImageWidth { get; }
    public ArrayView<byte> Images => images.View;
    public ArrayView<byte> Labels => labels.View;
    public ArrayView<int> Identity => identity.View;

    public void Dispose()
    {
        // Null-conditional: a constructor that failed part-way disposes what it had allocated.
        images?.Dispose();
        labels?.Dispose();
        identity?.Dispose();
    }
}

/// <summary>Both MNIST splits on the device, uploaded once and shared by any number of trainers
/// (e.g. the trials of a tuning run).</summary>
public sealed class DeviceMnist : IDisposable
{
    public DeviceMnist(Accelerator accelerator, MnistDataset data)
    {
        ArgumentNullException.ThrowIfNull(data);
        Train = new DeviceDataset(accelerator, data.TrainImages, data.TrainLabels, data.TrainImages.Count);
        try
        {
            Test = new DeviceDataset(accelerator, data.TestImages, data.TestLabels, data.TestImages.Count);
        }
        catch
        {
            Train.Dispose();
            throw;
        }
    }

    public DeviceDataset Train { get; }
    public DeviceDataset Test { get; }

    public void Dispose()
    {
        Train.Dispose();
        Test.Dispose();
    }
}
