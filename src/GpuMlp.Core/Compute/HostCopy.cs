using ILGPU;
using ILGPU.Runtime;

namespace GpuMlp.Compute;

/// <summary>Copies between a managed array's first `count` elements and a device view, with the
/// array pinned for the copy. ILGPU's CopyFromCPU/CopyToCPU(ref T, length) take the raw address of
/// the reference without pinning it, so a garbage collection that moved the array during the copy
/// (small arrays are moved; the large-object heap is not compacted by default) would copy from or
/// into memory the array no longer occupies.</summary>
public static class HostCopy
{
    /// <summary>view[0 .. count) = source[0 .. count).</summary>
    public static void ToDevice<T>(ArrayView<T> view, T[] source, long count)
        where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(source);
        Check(view, source.Length, count);
        if (count == 0)
            return;
        using var pin = source.AsMemory().Pin();
        view.SubView(0, count).CopyFromCPU(ref source[0], count);
    }

    /// <summary>target[0 .. count) = view[0 .. count) (synchronises).</summary>
    public static void ToHost<T>(ArrayView<T> view, T[] target, long count)
        where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(target);
        Check(view, target.Length, count);
        if (count == 0)
            return;
        using var pin = target.AsMemory().Pin();
        view.SubView(0, count).CopyToCPU(ref target[0], count);
    }

    private static void Check<T>(ArrayView<T> view, long arrayLength, long count)
        where T : unmanaged
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        if (count > arrayLength || count > view.Length)
            throw new ArgumentException($"copying {count} elements between an array of {arrayLength} and a device view of {view.Length}");
    }
}
