using GpuMlp.Compute;
using GpuMlp.Kernels;
using GpuMlp.Tests.Reference;
using GpuMlp.Training;

namespace GpuMlp.Tests.Kernels;

/// <summary>The distorting gather (kernels/DistortionKernels.cs, kernels/Cpu/CpuDistortionKernels.cs)
/// against a float64 reference of the same transform from the same hashed draws, on the test
/// device's set, the portable kernels on the CPU, and the CPU kernel recorded into a fused program.</summary>
[Collection(DeviceCollection.Name)]
public sealed class DistortionTests(DeviceFixture fixture)
{
    /// <summary>Pixels of the distorting gather against the float64 reference: the kernels compute the
    /// source point in float (the affine map rounded to float, the field summed in float), about 1e-5
    /// pixel from the exact point for alpha 34 at most; bilinear sampling of values in [0, 1] is
    /// 1-Lipschitz per pixel of displacement and continuous at the image's edge, so 1e-4 absolute
    /// holds with a wide margin while any wrong tap, weight or pixel is off by 1e-2 or more.</summary>
    private const double PixelAtol = 1e-4;

    private static (float[] X, int[] Y) Distort(KernelSet set, byte[] images, byte[] labels, int[] order, int first, int rows,
        DistortionShape shape, bool fused = false)
    {
        using var imagesBuffer = set.Accelerator.Upload(images);
        using var labelsBuffer = set.Accelerator.Upload(labels);
        using var orderBuffer = set.Accelerator.Upload(order);
        int features = shape.Channels * shape.Height * shape.Width;
        using var field = set.Accelerator.Output((int)Math.Max(1, rows * shape.FieldPerRow));
        using var x = set.Accelerator.Output(rows * features);
        using var y = set.Accelerator.Filled(rows + 2, -1);
        if (fused)
        {
            using var scope = set.Kernels.FuseLaunches();
            set.Kernels.Distort(imagesBuffer.View, labelsBuffer.View, orderBuffer.View, first, rows, shape, field.View, x.View, y.View);
        }
        else
        {
            set.Kernels.Distort(imagesBuffer.View, labelsBuffer.View, orderBuffer.View, first, rows, shape, field.View, x.View, y.View);
        }
        int[] yOut = y.Download();
        Assert.Equal([-1, -1], yOut[rows..]);
        return (x.Download("x"), yOut[..rows]);
    }

    private static DistortionShape Shape(ImageDistortion distortion, int channels, int height, int width, int maxShift = 0, uint seed = 3, uint step = 7) =>
        distortion.KernelShape(new GpuMlp.Data.ImageShape(channels, height, width), maxShift, seed, step);

    /// <summary>The float64 definition: per row, the five affine draws (DistortionKernels.AffineDraw)
    /// give torchvision's inverse affine matrix about the centre with Math.Sin/Cos/Tan; the elastic
    /// noise (DistortionKernels.ElasticNoise) on the padded grid is smoothed by the normalised
    /// Gaussian exp(-k^2 / 2 sigma^2), |k| &lt;= R, along x then y and scaled by alpha; the output pixel
    /// p + d is mapped by the inverse affine and every channel sampled bilinearly from b / 255 with
    /// zeros outside.</summary>
    private static double[] Reference(byte[] images, int[] order, int first, int rows, DistortionShape s)
    {
        int c = s.Channels, h = s.Height, w = s.Width, pixels = h * w, features = c * pixels, r = s.ElasticRadius;
        bool elastic = s.ElasticAlpha > 0;
        var weights = new double[2 * r + 1];
        if (elastic)
        {
            double sigma = Math.Sqrt(-1.0 / (2.0 * Math.Log(s.ElasticDecay)));
            for (int k = -r; k <= r; k++)
                weights[k + r] = Math.Exp(-k * k / (2 * sigma * sigma));
            double sum = weights.Sum();
            for (int k = 0; k < weights.Length; k++)
                weights[k] /= sum;
        }
        var x = new double[rows * features];
        for (int row = 0; row < rows; row++)
        {
            double D(int j) => DistortionKernels.AffineDraw(s.Seed, s.Step, row, j);
            double angle = s.RotateDegrees * D(0) * Math.PI / 180, scale = 1 + s.Scale * D(1), shear = s.ShearDegrees * D(2) * Math.PI / 180;
            double tx = s.Translate * w * D(3), ty = s.Translate * h * D(4);
            if (s.MaxShift > 0)
            {
                BatchGatherKernels.Shift(s.Seed, s.Step, row, s.MaxShift, out int sx, out int sy);
                tx += sx;
                ty += sy;
            }
            double a = Math.Cos(angle), b = -Math.Cos(angle) * Math.Tan(shear) - Math.Sin(angle);
            double cc = Math.Sin(angle), d = -Math.Sin(angle) * Math.Tan(shear) + Math.Cos(angle);
            double cx = (w - 1) / 2.0, cy = (h - 1) / 2.0;
            var dx = new double[pixels];
            var dy = new double[pixels];
            if (elastic)
            {
                uint key = DistortionKernels.ElasticKey(s.Seed, s.Step, row);
                for (int plane = 0; plane < 2; plane++)
                {
                    // Smoothed along x on every padded line, then along y at the image's lines.
                    var rowsSmoothed = new double[s.PaddedHeight, w];
                    for (int yp = 0; yp < s.PaddedHeight; yp++)
                        for (int xx = 0; xx < w; xx++)
                            for (int k = -r; k <= r; k++)
                                rowsSmoothed[yp, xx] += weights[k + r] * DistortionKernels.ElasticNoise(s, key, plane, yp, xx + r + k);
                    for (int yy = 0; yy < h; yy++)
                    {
                        for (int xx = 0; xx < w; xx++)
                        {
                            double sum = 0;
                            for (int k = -r; k <= r; k++)
                                sum += weights[k + r] * rowsSmoothed[yy + r + k, xx];
                            (plane == 0 ? dx : dy)[yy * w + xx] = s.ElasticAlpha * sum;
                        }
                    }
                }
            }
            int sample = order[first + row];
            for (int yy = 0; yy < h; yy++)
            {
                for (int xx = 0; xx < w; xx++)
                {
                    double px = xx + dx[yy * w + xx] - cx - tx, py = yy + dy[yy * w + xx] - cy - ty;
                    double xs = cx + (d * px - b * py) / scale, ys = cy + (-cc * px + a * py) / scale;
                    int x0 = (int)Math.Floor(xs), y0 = (int)Math.Floor(ys);
                    double fx = xs - x0, fy = ys - y0;
                    for (int channel = 0; channel < c; channel++)
                    {
                        int plane = sample * features + channel * pixels;
                        double P(int px2, int py2) => px2 >= 0 && px2 < w && py2 >= 0 && py2 < h ? images[plane + py2 * w + px2] / 255.0 : 0.0;
                        x[row * features + channel * pixels + yy * w + xx] =
                            (1 - fy) * ((1 - fx) * P(x0, y0) + fx * P(x0 + 1, y0)) + fy * ((1 - fx) * P(x0, y0 + 1) + fx * P(x0 + 1, y0 + 1));
                    }
                }
            }
        }
        return x;
    }

    public static TheoryData<string, int, int, int, int> Cases => new()
    {
        // name, channels, height, width, rows
        { "affine", 1, 28, 28, 6 },
        { "elastic", 1, 28, 28, 4 },
        { "affine+elastic+shift", 1, 13, 17, 5 },
        { "affine+elastic 3 channels", 3, 9, 11, 3 },
    };

    private static ImageDistortion DistortionOf(string name) => name switch
    {
        "affine" => new ImageDistortion { RotateDegrees = 30, Scale = 0.2f, ShearDegrees = 15, Translate = 0.1f },
        "elastic" => new ImageDistortion { ElasticAlpha = 34, ElasticSigma = 4 },
        _ => new ImageDistortion { RotateDegrees = 20, Scale = 0.1f, ShearDegrees = 10, Translate = 0.15f, ElasticAlpha = 8, ElasticSigma = 1.5f },
    };

    /// <summary>Every pixel of every channel within PixelAtol of the float64 reference; labels follow
    /// order. On the test device's set (the CPU SIMD kernel on the CPU) and the portable kernels.</summary>
    [Theory]
    [MemberData(nameof(Cases))]
    public void Distort_RandomDraws_MatchesTheFloat64Transform(string name, int channels, int height, int width, int rows)
    {
        var random = new Random(channels * 1000 + height + width);
        int samples = rows + 3, features = channels * height * width;
        byte[] images = TestData.Bytes(random, samples * features);
        byte[] labels = TestData.Bytes(random, samples, 10);
        int[] order = TestData.Permutation(random, samples);
        var shape = Shape(DistortionOf(name), channels, height, width, maxShift: name.Contains("shift", StringComparison.Ordinal) ? 2 : 0);
        double[] expected = Reference(images, order, 2, rows, shape);
        foreach (var set in new[] { fixture.Main, fixture.Cpu(CpuSimdRequest.Off) })
        {
            (float[] x, int[] y) = Distort(set, images, labels, order, 2, rows, shape);
            Compare.AllClose(x, expected, PixelAtol, 0, $"{set.Name} distorting gather ({name}, {channels}x{height}x{width})", width);
            Assert.Equal(NaiveReference.Gather(images, labels, order, 2, rows, features).Y, y);
        }
    }

    /// <summary>The CPU kernel gives the portable kernel's bits, launched alone and recorded into a fused program.</summary>
    [Fact]
    public void Distort_CpuKernelAndPortableKernel_AreBitIdentical()
    {
        var random = new Random(5);
        byte[] images = TestData.Bytes(random, 12 * 2 * 20 * 20);
        byte[] labels = TestData.Bytes(random, 12, 10);
        int[] order = TestData.Permutation(random, 12);
        var shape = Shape(DistortionOf("all"), 2, 20, 20, maxShift: 1, seed: 11, step: 4);
        var portable = Distort(fixture.Cpu(CpuSimdRequest.Off), images, labels, order, 1, 10, shape);
        var simd = fixture.Cpu(CpuSimdRequest.Scalar);
        Assert.Equal(portable.X, Distort(simd, images, labels, order, 1, 10, shape).X);
        Assert.Equal(portable.X, Distort(simd, images, labels, order, 1, 10, shape, fused: true).X);
    }

    /// <summary>No affine range, no elastic field, no shift: the image itself, bit for bit the plain gather.</summary>
    [Fact]
    public void Distort_IdentityParameters_IsThePlainGather()
    {
        var random = new Random(8);
        byte[] images = TestData.Bytes(random, 6 * 2 * 7 * 9);
        byte[] labels = TestData.Bytes(random, 6, 10);
        int[] order = TestData.Permutation(random, 6);
        var shape = Shape(ImageDistortion.None, 2, 7, 9);
        foreach (var set in new[] { fixture.Main, fixture.Cpu(CpuSimdRequest.Off) })
        {
            using var imagesBuffer = set.Accelerator.Upload(images);
            using var labelsBuffer = set.Accelerator.Upload(labels);
            using var orderBuffer = set.Accelerator.Upload(order);
            using var plain = set.Accelerator.Output(5 * 2 * 7 * 9);
            using var y = set.Accelerator.Filled(5, -1);
            set.Kernels.Gather(imagesBuffer.View, labelsBuffer.View, orderBuffer.View, 1, 5, 2 * 7 * 9, plain.View, y.View);
            Assert.Equal(plain.Download("plain"), Distort(set, images, labels, order, 1, 5, shape).X);
        }
    }

    /// <summary>Seed 1, step 13349303, row 0 draws exactly -1 for the rotation, so --augment-rotate 90
    /// turns that row's image by -90 degrees: counter-clockwise as displayed (positive angles turn
    /// clockwise, as torchvision's affine), out[i, j] = in[j, W - 1 - i] (numpy's rot90), exactly.</summary>
    [Fact]
    public void Distort_RotationByNinetyDegrees_IsRot90OfTheImage()
    {
        const uint seed = 1, step = 13349303;
        Assert.Equal(-1f, DistortionKernels.AffineDraw(seed, step, 0, 0));
        const int n = 6;
        byte[] image = Enumerable.Range(0, n * n).Select(i => (byte)(i * 7)).ToArray();
        var shape = Shape(new ImageDistortion { RotateDegrees = 90 }, 1, n, n, seed: seed, step: step);
        var expected = new double[n * n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                expected[i * n + j] = (float)(image[j * n + (n - 1 - i)] / 255.0);
        foreach (var set in new[] { fixture.Main, fixture.Cpu(CpuSimdRequest.Off) })
            Compare.AllClose(Distort(set, image, [4], [0], 0, 1, shape).X, expected, 1e-6, 0, $"{set.Name} rotation by -90 degrees", n);
    }

    /// <summary>Same seed and step, same batch; another step, another batch.</summary>
    [Fact]
    public void Distort_SameSeedAndStep_RepeatsAndAnotherStepDiffers()
    {
        var random = new Random(9);
        byte[] images = TestData.Bytes(random, 4 * 28 * 28);
        byte[] labels = TestData.Bytes(random, 4, 10);
        int[] order = [0, 1, 2, 3];
        var distortion = DistortionOf("all");
        var once = Distort(fixture.Main, images, labels, order, 0, 4, Shape(distortion, 1, 28, 28, step: 5)).X;
        Assert.Equal(once, Distort(fixture.Main, images, labels, order, 0, 4, Shape(distortion, 1, 28, 28, step: 5)).X);
        Assert.NotEqual(once, Distort(fixture.Main, images, labels, order, 0, 4, Shape(distortion, 1, 28, 28, step: 6)).X);
    }

    /// <summary>The in-kernel sine and cosine (plain arithmetic, the same bits everywhere) agree with
    /// Math.Sin and Math.Cos to 1e-14 over the whole range of angles the options allow.</summary>
    [Fact]
    public void SineCosine_OverPlusMinusPi_AgreeWithMath()
    {
        for (int i = -1000; i <= 1000; i++)
        {
            double t = Math.PI * i / 1000;
            Assert.True(Math.Abs(DistortionKernels.Sine(t) - Math.Sin(t)) < 1e-14, $"sin({t})");
            Assert.True(Math.Abs(DistortionKernels.Cosine(t) - Math.Cos(t)) < 1e-14, $"cos({t})");
        }
    }

    /// <summary>The Gaussian weights the kernels compute sum to 1 (within float rounding) and are
    /// exp(-k^2 / 2 sigma^2) normalised, to float precision.</summary>
    [Theory]
    [InlineData(0.5f)]
    [InlineData(4f)]
    [InlineData(16f)]
    public void GaussianWeight_Sigma_IsTheNormalisedTruncatedGaussian(float sigma)
    {
        var shape = Shape(new ImageDistortion { ElasticAlpha = 1, ElasticSigma = sigma }, 1, 8, 8);
        int r = shape.ElasticRadius;
        Assert.Equal((int)Math.Ceiling(3 * sigma), r);
        double norm = Enumerable.Range(-r, 2 * r + 1).Sum(k => Math.Exp(-k * k / (2.0 * sigma * sigma)));
        var actual = Enumerable.Range(0, r + 1).Select(k => DistortionKernels.GaussianWeight(shape, k)).ToArray();
        var expected = Enumerable.Range(0, r + 1).Select(k => Math.Exp(-k * k / (2.0 * sigma * sigma)) / norm).ToArray();
        Compare.AllClose(actual, expected, 1e-9, 1e-6, $"Gaussian weights of sigma {sigma}");
    }
}
