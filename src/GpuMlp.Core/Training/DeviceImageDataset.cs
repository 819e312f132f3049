using System.Globalization;
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
        // Refused before anything is allocated; the CPU accelerator reports long.MaxValue, and the
        // host's allocator is the judge there.
        if (accelerator.AcceleratorType != AcceleratorType.CPU)
            EnsureFits(source.Name, source.Shape, count, accelerator.MemorySize);
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
        catch (Exception error)
        {
            Dispose();
            if (error is AcceleratorException or OutOfMemoryException)
                throw new DeviceOutOfMemoryException(TooLarge(source.Name, source.Shape, count, accelerator.MemorySize), error);
            throw;
        }
    }

    /// <summary>Device bytes of <paramref name="count"/> images of <paramref name="shape"/>: the
    /// pixels (one byte each), the labels (one byte each) and the identity order (an int each).</summary>
    public static long DeviceBytes(ImageShape shape, int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        long rows = Math.Max(1, count);
        return Math.Max(1L, (long)count * shape.Pixels) + rows + (sizeof(int) * rows);
    }

    /// <summary>Refuses a split that cannot fit in <paramref name="availableBytes"/> of device
    /// memory, with a one-line message naming it, its size and what to shrink.</summary>
    /// <exception cref="DeviceOutOfMemoryException">It does not fit.</exception>
    public static void EnsureFits(string name, ImageShape shape, int count, long availableBytes)
    {
        if (DeviceBytes(shape, count) > availableBytes)
            throw new DeviceOutOfMemoryException(TooLarge(name, shape, count, availableBytes));
    }

    private static string TooLarge(string name, ImageShape shape, int count, long availableBytes) =>
        string.Create(CultureInfo.InvariantCulture,
            $"the dataset does not fit on the device: {name} holds {count} images of {shape}, {Mebibytes(DeviceBytes(shape, count))} MiB, and the device has {Mebibytes(availableBytes)} MiB; {ShrinkAdvice}");

    /// <summary>What a dataset too large for the device can change, in the refusals' words.</summary>
    internal const string ShrinkAdvice = "use a smaller --image-size, --channels gray, fewer images or --device cpu";

    /// <summary>Bytes in MiB, rounded up (a refusal never says a size fits that does not).</summary>
    internal static long Mebibytes(long bytes) => (bytes + (1024 * 1024) - 1) / (1024 * 1024);

    public int Count { get; }
    public ImageShape Shape { get; }
    /// <summary>Device bytes this split holds (<see cref="DeviceBytes"/>).</summary>
    public long UploadedBytes => DeviceBytes(Shape, Count);
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
        ArgumentNullException.ThrowIfNull(accelerator);
        ArgumentNullException.ThrowIfNull(data);
        // Both splits together, before either is allocated (each split also checks itself).
        if (accelerator.AcceleratorType != AcceleratorType.CPU)
            EnsureFits(data, accelerator.MemorySize);
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

    /// <summary>Device bytes of both splits of <paramref name="data"/>.</summary>
    public static long DeviceBytes(ImageDataset data)
    {
        ArgumentNullException.ThrowIfNull(data);
        return DeviceImageSet.DeviceBytes(data.Shape, data.Train.Count) + DeviceImageSet.DeviceBytes(data.Shape, data.Test.Count);
    }

    /// <summary>Refuses a dataset whose two splits cannot fit in <paramref name="availableBytes"/>
    /// of device memory, with a one-line message giving their size and what to shrink.</summary>
    /// <exception cref="DeviceOutOfMemoryException">It does not fit.</exception>
    public static void EnsureFits(ImageDataset data, long availableBytes)
    {
        long needed = DeviceBytes(data);
        if (needed > availableBytes)
        {
            throw new DeviceOutOfMemoryException(string.Create(CultureInfo.InvariantCulture,
                $"the dataset does not fit on the device: {data.Train.Count} training and {data.Test.Count} test images of {data.Shape} need {DeviceImageSet.Mebibytes(needed)} MiB and the device has {DeviceImageSet.Mebibytes(availableBytes)} MiB; {DeviceImageSet.ShrinkAdvice}"));
        }
    }

    /// <summary>The images' shape and the class names: what a network trained on this must take and give.</summary>
    public ImageSchema Schema { get; }
    /// <summary>Device bytes both splits hold (<see cref="DeviceImageSet.DeviceBytes"/>).</summary>
    public long UploadedBytes => Train.UploadedBytes + Test.UploadedBytes;
    public DeviceImageSet Train { get; }
    public DeviceImageSet Test { get; }

    public void Dispose()
    {
        Train.Dispose();
        Test.Dispose();
    }
}
