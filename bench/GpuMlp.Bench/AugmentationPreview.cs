using System.Globalization;
using System.Runtime.InteropServices;
using GpuMlp.Compute;
using GpuMlp.Data;
using GpuMlp.Training;
using ILGPU;
using ILGPU.Runtime;
using SkiaSharp;

namespace GpuMlp.Bench;

/// <summary>
/// A picture of the training distortions: the first <see cref="Digits"/> MNIST training digits
/// (one per grid row) as they are, then as the distorting gather (DistortionKernels.cs, through
/// DeviceKernels.Distort on the CPU accelerator, exactly as training draws them) gives them at
/// steps 0, 1, ... for each recipe in <see cref="Recipes"/> (a block of <see cref="Steps"/> columns
/// per recipe, separated by a gap). Pixels are drawn 3x3 as gray levels; written as one PNG.
/// </summary>
internal static class AugmentationPreview
{
    private const int Digits = 8;
    private const int Steps = 4;
    private const int Zoom = 3;
    private const int Gap = 6;
    private const uint Seed = 1;

    /// <summary>The recipes shown, in column-block order.</summary>
    public static IReadOnlyList<(string Name, ImageDistortion Distortion, int Shift)> Recipes { get; } =
    [
        ("affine: rotate 10, scale 0.1, translate 0.1 (cdeotte)", new ImageDistortion { RotateDegrees = 10, Scale = 0.1f, Translate = 0.1f }, 0),
        ("elastic: alpha 34, sigma 4 (Simard)", new ImageDistortion { ElasticAlpha = 34, ElasticSigma = 4 }, 0),
        ("affine + shear 15 + elastic alpha 34 sigma 4", new ImageDistortion { RotateDegrees = 10, Scale = 0.1f, ShearDegrees = 15, Translate = 0.1f, ElasticAlpha = 34, ElasticSigma = 4 }, 0),
    ];

    public static int Run(string mnistFolder, string outputPath, TextWriter output)
    {
        ImageSet train = new MnistFolder(mnistFolder, FetchMissing: false).Load(output.WriteLine).Train;
        ImageShape shape = train.Shape;
        using var device = KernelDevice.Open(DeviceRequest.Cpu);
        var accelerator = device.Device.Accelerator;
        using var images = new DeviceImageSet(accelerator, train, Digits);
        using var x = accelerator.Allocate1D<float>((long)Digits * shape.Pixels);
        using var y = accelerator.Allocate1D<int>(Digits);
        var columns = new List<float[]> { Original(train, shape) };
        foreach (var (_, distortion, shift) in Recipes)
        {
            var kernelShape = distortion.KernelShape(shape, shift, Seed, 0);
            using var field = accelerator.Allocate1D<float>(Math.Max(1, Digits * kernelShape.FieldPerRow));
            for (int step = 0; step < Steps; step++)
            {
                device.Kernels.Distort(images.Images, images.Labels, images.Identity, 0, Digits, kernelShape with { Step = (uint)step },
                    field.View, x.View, y.View);
                accelerator.Synchronize();
                columns.Add(x.GetAsArray1D());
            }
        }
        WritePng(columns, shape, outputPath);
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"wrote {outputPath}: {Digits} digits; column 1 as they are, then {Steps} steps of each recipe (seed {Seed}):"));
        foreach (var (name, distortion, _) in Recipes)
            output.WriteLine($"  {name}: {distortion.CommandLineFlags()}");
        return 0;
    }

    private static float[] Original(ImageSet train, ImageShape shape)
    {
        var values = new float[Digits * shape.Pixels];
        for (int i = 0; i < values.Length; i++)
            values[i] = train.Pixels[i] / 255f;
        return values;
    }

    /// <summary>columns[c][digit * pixels + p]: one grid column per array, the original first; a gap
    /// after the original and after each recipe's block.</summary>
    private static void WritePng(List<float[]> columns, ImageShape shape, string path)
    {
        int cell = shape.Width * Zoom, cellHeight = shape.Height * Zoom;
        int blocks = 1 + Recipes.Count;
        int width = (columns.Count * cell) + (blocks - 1) * Gap, height = Digits * cellHeight;
        using var bitmap = new SKBitmap(new SKImageInfo(width, height, SKColorType.Gray8, SKAlphaType.Opaque));
        var pixels = new byte[bitmap.RowBytes * height];
        Array.Fill(pixels, (byte)128);
        for (int c = 0; c < columns.Count; c++)
        {
            int left = c * cell + (c == 0 ? 0 : (1 + (c - 1) / Steps) * Gap);
            for (int digit = 0; digit < Digits; digit++)
            {
                for (int py = 0; py < cellHeight; py++)
                {
                    for (int px = 0; px < cell; px++)
                    {
                        float v = columns[c][digit * shape.Pixels + (py / Zoom) * shape.Width + px / Zoom];
                        pixels[(digit * cellHeight + py) * bitmap.RowBytes + left + px] = (byte)Math.Clamp(MathF.Round(v * 255f), 0f, 255f);
                    }
                }
            }
        }
        Marshal.Copy(pixels, 0, bitmap.GetPixels(), pixels.Length);
        using SKData png = bitmap.Encode(SKEncodedImageFormat.Png, 100);
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        File.WriteAllBytes(path, png.ToArray());
    }
}
