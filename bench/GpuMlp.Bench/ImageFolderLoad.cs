using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using GpuMlp.Data;
using SkiaSharp;

namespace GpuMlp.Bench;

/// <summary>
/// How fast <see cref="ImageFolderSource"/> loads a folder: writes the first <c>count</c> MNIST
/// training digits as gray PNGs under folder/&lt;digit&gt;/ (once; an existing folder is reused),
/// then loads it <c>repeats</c> times cold (an emptied cache: list, read every header, decode
/// every image, write the cache) and <c>repeats</c> times cached (list, read the cache), each in a
/// fresh source. The cache is folder + ".cache", beside the folder (GPUMLP_CACHE_DIR).
/// Prints one line per load: images, seconds, images/s.
/// </summary>
internal static class ImageFolderLoad
{
    public static int Run(string folder, int count, int repeats, TextWriter output)
    {
        string root = Path.GetFullPath(folder);
        if (!Directory.Exists(root))
            WriteDigits(root, count, output);
        string cache = root.TrimEnd(Path.DirectorySeparatorChar) + ".cache";
        Environment.SetEnvironmentVariable("GPUMLP_CACHE_DIR", cache);
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"image-folder-load: {root}, {Environment.ProcessorCount} logical CPUs"));
        foreach (bool cold in new[] { true, false })
        {
            for (int r = 0; r < repeats; r++)
            {
                if (cold && Directory.Exists(cache))
                    Directory.Delete(cache, recursive: true);
                var watch = Stopwatch.StartNew();
                var source = new ImageFolderSource(root, ImageLoadOptions.Default);
                ImageDataset data = source.Load(_ => { });
                double seconds = watch.Elapsed.TotalSeconds;
                int images = data.Train.Count + data.Test.Count;
                output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{(cold ? "cold" : "cached")} {r + 1}: {images} images of {data.Shape} in {seconds:F3} s = {images / seconds:F0} images/s"));
            }
        }
        return 0;
    }

    private static void WriteDigits(string root, int count, TextWriter output)
    {
        ImageSet train = MnistFolder.Default.Load(output.WriteLine).Train;
        int n = Math.Min(count, train.Count);
        string staging = root + ".writing";
        if (Directory.Exists(staging))
            Directory.Delete(staging, recursive: true);
        Parallel.For(0, n, i =>
        {
            string classFolder = Path.Combine(staging, train.Labels[i].ToString(CultureInfo.InvariantCulture));
            Directory.CreateDirectory(classFolder);
            using var bitmap = new SKBitmap(new SKImageInfo(train.Shape.Width, train.Shape.Height, SKColorType.Gray8, SKAlphaType.Opaque));
            byte[] image = train.Image(i).ToArray();
            for (int y = 0; y < train.Shape.Height; y++)
                Marshal.Copy(image, y * train.Shape.Width, bitmap.GetPixels() + (y * bitmap.RowBytes), train.Shape.Width);
            using SKData png = bitmap.Encode(SKEncodedImageFormat.Png, 100);
            File.WriteAllBytes(Path.Combine(classFolder, string.Create(CultureInfo.InvariantCulture, $"{i:D5}.png")), png.ToArray());
        });
        Directory.Move(staging, root);
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"wrote {n} MNIST training digits as PNG under {root}"));
    }
}
