using GpuMlp.Compute;
using GpuMlp.Data;
using ILGPU;
using ILGPU.Runtime;

namespace GpuMlp.Training;

/// <summary>One split (<see cref="ImageSet"/>) uploaded once as bytes (pixels stay uint8 on the
/// device; the gather kernel normalises), plus the identity order used to evaluate it.
/// Images: [Count, C*H*W] bytes; labels: [Count] bytes; identity: [Count] ints 0..Count-1.</summary>
public sealed class DeviceImageSet : IDisposable
{
    private readonly MemoryBuffer1D<byte, Stride1D.Dense> images;
    private readonly MemoryBuffer1D<byte, Stride1D.Dense> labels;
    private readonly MemoryBuffer1D<int, Stride1D.Dense> identity;

    /// <summary>The whole split.</summary>
    public DeviceImageSet(Accelerator accelerator, ImageSet source)
        : this(accelerator, source, (source ?? throw new ArgumentNullException(nameof(source))).Count)
    {
    }

    /// <summary>The first <paramref name="count"/> images of the split.</summary>
    public DeviceImageSet(Accelerator accelerator, ImageSet source, int count)
    {
        ArgumentNullException.ThrowIfNull(accelerator);
        ArgumentNullException.ThrowIfNull(source);
        if (count < 0 || count > source.Count)
            throw new ArgumentOutOfRangeException(nameof(count));
        Count = count;
        Shape = source.Shape;
        try
        {
            images = accelerator.Allocate1D<byte>(Math.Max(1L, (long)count * Features));
            labels = accelerator.Allocate1D<byte>(Math.Max(1, count));
            identity = accelerator.Allocate1D<int>(Math.Max(1, count));
            if (count > 0)
            {
                HostCopy.ToDevice(images.View, source.Pixels, (long)count * Features);
                HostCopy.ToDevice(labels.View, source.Labels, count);
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
    public ImageShape Shape { get; }
    /// <summary>Values per image: C * H * W.</summary>
    public int Features => Shape.Pixels;
    /// <summary>Rows and columns of one image (the augmentation shifts move them).</summary>
    public int ImageHeight => Shape.Height;
    public int ImageWidth => Shape.Width;
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

/// <summary>Both splits of an <see cref="ImageDataset"/> on the device, uploaded once and shared by
/// any number of trainers (e.g. the trials of a tuning run), with the dataset's schema.</summary>
public sealed class DeviceImageDataset : IDisposable
{
    public DeviceImageDataset(Accelerator accelerator, ImageDataset data)
    {
        ArgumentNullException.ThrowIfNull(data);
        Schema = data.Schema;
        Train = new DeviceImageSet(accelerator, data.Train);
        try
        {
            Test = new DeviceImageSet(accelerator, data.Test);
        }
        catch
        {
            Train.Dispose();
            throw;
        }
    }

    /// <summary>The images' shape and the class names: what a network trained on this must take and give.</summary>
    public ImageSchema Schema { get; }
    public DeviceImageSet Train { get; }
    public DeviceImageSet Test { get; }

    public void Dispose()
    {
        Train.Dispose();
        Test.Dispose();
    }
}
