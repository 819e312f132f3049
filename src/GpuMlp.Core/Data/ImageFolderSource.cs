namespace GpuMlp.Data;

/// <summary>A dataset from a folder of class folders (root/&lt;class&gt;/&lt;image&gt;).</summary>
public sealed class ImageFolderSource : IImageSource
{
    public ImageFolderSource(string root, ImageLoadOptions options)
    {
        ArgumentException.ThrowIfNullOrEmpty(root);
        ArgumentNullException.ThrowIfNull(options);
        throw new NotSupportedException("image folders are not read yet");
    }

    public string Path => throw new NotSupportedException("image folders are not read yet");

    public ImageSchema Schema => throw new NotSupportedException("image folders are not read yet");

    /// <summary>Whether <paramref name="path"/> is laid out as class folders.</summary>
    public static bool IsImageFolder(string path) => false;

    public ImageDataset Load(Action<string> log) => throw new NotSupportedException("image folders are not read yet");
}
