// The distorting batch gather: random affine maps (torchvision RandomAffine's parameters) and
// elastic distortion (Simard, Steinkraus & Platt 2003) of the training images, sampled bilinearly.
//
// Shapes: images [samples, C * H * W] uint8 (NCHW); labels [samples] uint8; order [samples] int32;
// field [rows, 2, H + 2R, W] float32 (R = shape.ElasticRadius; read and written only when
// shape.ElasticAlpha > 0, else it may be any view).
//
// ElasticFieldRowsKernel OVERWRITES field: for each row, plane d (0: x, 1: y), padded line yp in
// [0, H + 2R) and column xx in [0, W), the noise line smoothed along x:
//   field[row, d, yp, xx] = w_0 u(xx + R) + sum_{k=1..R} w_k (u(xx + R - k) + u(xx + R + k)),
// with u(xp) = ElasticNoise(row, d, yp, xp), uniform(-1, 1) on the padded (H + 2R) x (W + 2R) grid
// (so the smoothed field has no edge effects), and w the normalised Gaussian of sigma truncated at
// R (GaussianWeight). Summed in float in exactly this order.
//
// DistortBatchKernel OVERWRITES x [rows, C * H * W] float32 and y [rows] int32. For the output pixel
// (xx, yy) of a row, the displacement is the field smoothed along y, scaled by alpha:
//   dx = alpha (w_0 f(yy + R) + sum_k w_k (f(yy + R - k) + f(yy + R + k))), f = field[row, 0, ., xx],
// likewise dy from plane 1 (both 0 without elastic distortion); the point (xx + dx, yy + dy) is then
// mapped by the row's inverse affine map (Affine) to (xs, ys) in the source image, and every channel
// is sampled there bilinearly from images[order[first + row]] / 255, with zeros outside the image.
// Affine then elastic: the output is the elastically distorted affine image, resampled once through
// the composed map. Labels as the plain gather.
//
// The draws are stateless counter hashes (CounterHash.cs) of (seed, step, row): AffineStream for the
// five affine parameters, ElasticStream for the noise, and the plain shifted gather's ShiftStream for
// the integer shift of --augment-shift, which is added to the translation. Same seed and step, same
// distortion, on every backend and launch shape; the CPU SIMD variant
// (Cpu/CpuDistortionKernels.cs) gives these bits.
using ILGPU;

namespace GpuMlp.Kernels;

/// <summary>What the distorting gather draws from: the images' shape, the ranges of the random
/// affine map (torchvision RandomAffine's: rotation uniform in +-RotateDegrees, scale in 1 +-
/// Scale, x shear in +-ShearDegrees, translation in +-Translate of the width and height), the
/// integer shift of --augment-shift (MaxShift, 0: none), the elastic field's alpha (0: none), the
/// Gaussian's radius R and its weights' constants (ElasticDecay = exp(-1 / (2 sigma^2)),
/// ElasticNormalizer = 1 / the truncated weights' sum: see GaussianWeight), and the draw's
/// seed and step.</summary>
public struct DistortionShape
{
    public int Channels;
    public int Height;
    public int Width;
    public float RotateDegrees;
    public float Scale;
    public float ShearDegrees;
    public float Translate;
    public int MaxShift;
    public float ElasticAlpha;
    public int ElasticRadius;
    public double ElasticDecay;
    public double ElasticNormalizer;
    public uint Seed;
    public uint Step;

    /// <summary>Columns of the padded noise grid: W + 2R.</summary>
    public readonly int PaddedWidth => Width + 2 * ElasticRadius;

    /// <summary>Lines of the padded noise grid and of the field: H + 2R.</summary>
    public readonly int PaddedHeight => Height + 2 * ElasticRadius;

    /// <summary>Floats of field one row needs: 2 (H + 2R) W (0 without elastic distortion).</summary>
    public readonly long FieldPerRow => ElasticAlpha > 0f ? 2L * PaddedHeight * Width : 0L;
}

/// <summary>One row's inverse affine map, output pixel (x, y) to source point
/// (M00 x + M01 y + OffsetX, M10 x + M11 y + OffsetY), in pixel-index coordinates.</summary>
public struct InverseAffine
{
    public float M00;
    public float M01;
    public float OffsetX;
    public float M10;
    public float M11;
    public float OffsetY;
}

public static class DistortionKernels
{
    /// <summary>The largest Gaussian radius R (the CPU kernel keeps the weights on its stack).</summary>
    public const int MaxElasticRadius = 64;

    /// <summary>The CounterHash stream of the affine draws.</summary>
    public const uint AffineStream = 0x41464E45U;

    /// <summary>The CounterHash stream of the elastic noise.</summary>
    public const uint ElasticStream = 0x454C4153U;

    /// <summary>Draws per row in AffineStream: element 8 row + j, j = 0 rotation, 1 scale, 2 shear,
    /// 3 x translation, 4 y translation.</summary>
    public const int AffineDrawsPerRow = 8;

    /// <summary>bits mapped to [-1, 1): the top 24 bits as k, then k / 2^23 - 1 (exact in float).</summary>
    public static float Symmetric(uint bits) => (int)(bits >> 8) * (1f / 8388608f) - 1f;

    /// <summary>The j-th affine draw of a row in [-1, 1).</summary>
    public static float AffineDraw(uint seed, uint step, int row, int j) =>
        Symmetric(CounterHash.Bits(seed, step, AffineStream, (uint)(row * AffineDrawsPerRow + j)));

    /// <summary>sin(t) for |t| &lt;= pi by its Taylor series to t^29 (error below 1e-15; plain
    /// arithmetic, so every backend computes the same bits).</summary>
    public static double Sine(double t)
    {
        double term = t, sum = t, t2 = t * t;
        for (int k = 1; k <= 14; k++)
        {
            term = -term * t2 / ((2 * k) * (2 * k + 1));
            sum += term;
        }
        return sum;
    }

    /// <summary>cos(t) for |t| &lt;= pi by its Taylor series to t^28.</summary>
    public static double Cosine(double t)
    {
        double term = 1.0, sum = 1.0, t2 = t * t;
        for (int k = 1; k <= 14; k++)
        {
            term = -term * t2 / ((2 * k - 1) * (2 * k));
            sum += term;
        }
        return sum;
    }

    /// <summary>The inverse affine map of one row, torchvision's _get_inverse_affine_matrix about the
    /// image centre ((W - 1) / 2, (H - 1) / 2) with angle a = RotateDegrees draw0 (clockwise as
    /// displayed, y down), scale s = 1 + Scale draw1, x shear h = ShearDegrees draw2, translation
    /// (tx, ty) = (Translate W draw3 + sx, Translate H draw4 + sy) with (sx, sy) the --augment-shift
    /// of the row (BatchGatherKernels.Shift) when MaxShift > 0. Forward: p' = C + T + R(a) Sh(h) s
    /// (p - C), with R(a) Sh(h) = [[a', b'], [c', d']] = [[cos a, -cos a tan h - sin a], [sin a,
    /// -sin a tan h + cos a]] (determinant 1); the inverse p = C + [[d', -b'], [-c', a']] (p' - C - T) / s,
    /// computed in double and rounded once. Without any affine range or shift it is exactly the identity.</summary>
    public static InverseAffine Affine(in DistortionShape shape, int row)
    {
        const double radians = 3.14159265358979323846 / 180.0;
        double angle = shape.RotateDegrees * (double)AffineDraw(shape.Seed, shape.Step, row, 0) * radians;
        double scale = 1.0 + shape.Scale * (double)AffineDraw(shape.Seed, shape.Step, row, 1);
        double shear = shape.ShearDegrees * (double)AffineDraw(shape.Seed, shape.Step, row, 2) * radians;
        double tx = shape.Translate * (double)shape.Width * AffineDraw(shape.Seed, shape.Step, row, 3);
        double ty = shape.Translate * (double)shape.Height * AffineDraw(shape.Seed, shape.Step, row, 4);
        if (shape.MaxShift > 0)
        {
            BatchGatherKernels.Shift(shape.Seed, shape.Step, row, shape.MaxShift, out int sx, out int sy);
            tx += sx;
            ty += sy;
        }
        double cosA = Cosine(angle), sinA = Sine(angle), tanH = Sine(shear) / Cosine(shear);
        // torchvision's RSS = R(a) Sh(h) (without scale): [[a, b], [c, d]], determinant 1.
        double a = cosA, b = -cosA * tanH - sinA, c = sinA, d = -sinA * tanH + cosA;
        double m00 = d / scale, m01 = -b / scale, m10 = -c / scale, m11 = a / scale;
        double cx = (shape.Width - 1) * 0.5, cy = (shape.Height - 1) * 0.5;
        return new InverseAffine
        {
            M00 = (float)m00,
            M01 = (float)m01,
            OffsetX = (float)(cx - m00 * (cx + tx) - m01 * (cy + ty)),
            M10 = (float)m10,
            M11 = (float)m11,
            OffsetY = (float)(cy - m10 * (cx + tx) - m11 * (cy + ty)),
        };
    }

    /// <summary>The key of a row's elastic noise: Mix(row ^ Key(seed, step, ElasticStream)).</summary>
    public static uint ElasticKey(uint seed, uint step, int row) =>
        CounterHash.Mix((uint)row ^ CounterHash.Key(seed, step, ElasticStream));

    /// <summary>The noise u in [-1, 1) of plane d at padded line yp and column xp:
    /// Symmetric(Mix(((d (H + 2R) + yp) (W + 2R) + xp) ^ key)).</summary>
    public static float ElasticNoise(in DistortionShape shape, uint key, int d, int yp, int xp) =>
        Symmetric(CounterHash.Mix((uint)(((d * shape.PaddedHeight) + yp) * shape.PaddedWidth + xp) ^ key));

    /// <summary>The Gaussian weight w_k (0 &lt;= k &lt;= R) as a float: exp(-k^2 / (2 sigma^2)) /
    /// sum_{|j| &lt;= R} exp(-j^2 / (2 sigma^2)), computed as q^(k^2) times the normaliser, with
    /// q = ElasticDecay and q^(k^2) by the products q^1 q^3 ... q^(2k - 1) in double (plain
    /// arithmetic: every backend and the host compute the same bits).</summary>
    public static float GaussianWeight(in DistortionShape shape, int k)
    {
        double weight = 1.0, ratio = shape.ElasticDecay, decaySquared = shape.ElasticDecay * shape.ElasticDecay;
        for (int j = 1; j <= k; j++)
        {
            weight *= ratio;
            ratio *= decaySquared;
        }
        return (float)(weight * shape.ElasticNormalizer);
    }

    /// <summary>field [rows, 2, H + 2R, W] = the noise smoothed along x (see the file header).</summary>
    public static void ElasticFieldRowsKernel(DistortionShape shape, int rows, ArrayView<float> field)
    {
        int width = shape.Width, radius = shape.ElasticRadius, lines = shape.PaddedHeight;
        int count = rows * 2 * lines * width;
        int stride = Grid.DimX * Group.DimX;
        for (int i = Grid.GlobalIndex.X; i < count; i += stride)
        {
            int xx = i % width;
            int line = i / width;
            int yp = line % lines;
            int plane = line / lines;
            int d = plane % 2;
            int row = plane / 2;
            uint key = ElasticKey(shape.Seed, shape.Step, row);
            int center = xx + radius;
            float sum = GaussianWeight(shape, 0) * ElasticNoise(shape, key, d, yp, center);
            for (int k = 1; k <= radius; k++)
                sum += GaussianWeight(shape, k) * (ElasticNoise(shape, key, d, yp, center - k) + ElasticNoise(shape, key, d, yp, center + k));
            field[i] = sum;
        }
    }

    /// <summary>One byte of the image at (x, y) as the gather reads it (the float nearest b / 255),
    /// or 0 outside the image.</summary>
    private static float Pixel(ArrayView<byte> images, long planeStart, int x, int y, int height, int width) =>
        x >= 0 && x < width && y >= 0 && y < height ? (float)(images[planeStart + y * width + x] / 255.0) : 0f;

    /// <summary>x, y as in the file header: each output pixel sampled bilinearly through the row's
    /// elastic field and inverse affine map; every channel at the same source point.</summary>
    public static void DistortBatchKernel(
        ArrayView<byte> images, ArrayView<byte> labels, ArrayView<int> order, int first, int rows,
        DistortionShape shape, ArrayView<float> field, ArrayView<float> x, ArrayView<int> y)
    {
        int height = shape.Height, width = shape.Width, pixels = height * width;
        int features = shape.Channels * pixels;
        int count = rows * pixels;
        int stride = Grid.DimX * Group.DimX;
        for (int i = Grid.GlobalIndex.X; i < count; i += stride)
        {
            int row = i / pixels;
            int pixel = i - row * pixels;
            int yy = pixel / width, xx = pixel - yy * width;
            int sample = order[first + row];
            float px = xx, py = yy;
            if (shape.ElasticAlpha > 0f)
            {
                int radius = shape.ElasticRadius, lines = shape.PaddedHeight;
                long xPlane = (long)row * 2 * lines * width, yPlane = xPlane + (long)lines * width;
                long center = (long)(yy + radius) * width + xx;
                float w0 = GaussianWeight(shape, 0);
                float dx = w0 * field[xPlane + center], dy = w0 * field[yPlane + center];
                for (int k = 1; k <= radius; k++)
                {
                    float w = GaussianWeight(shape, k);
                    long up = center - (long)k * width, down = center + (long)k * width;
                    dx += w * (field[xPlane + up] + field[xPlane + down]);
                    dy += w * (field[yPlane + up] + field[yPlane + down]);
                }
                px += shape.ElasticAlpha * dx;
                py += shape.ElasticAlpha * dy;
            }
            var map = Affine(shape, row);
            float xs = map.M00 * px + map.M01 * py + map.OffsetX;
            float ys = map.M10 * px + map.M11 * py + map.OffsetY;
            long output = (long)row * features + pixel;
            long source = (long)sample * features;
            // Points at or beyond a pixel outside the image read only zeros (NaN fails the test too).
            if (!(xs > -1f && xs < width && ys > -1f && ys < height))
            {
                for (int channel = 0; channel < shape.Channels; channel++)
                    x[output + (long)channel * pixels] = 0f;
            }
            else
            {
                int x0 = (int)(xs + 1f) - 1, y0 = (int)(ys + 1f) - 1;
                float fx = xs - x0, fy = ys - y0;
                for (int channel = 0; channel < shape.Channels; channel++)
                {
                    long plane = source + (long)channel * pixels;
                    float top = (1f - fx) * Pixel(images, plane, x0, y0, height, width) + fx * Pixel(images, plane, x0 + 1, y0, height, width);
                    float bottom = (1f - fx) * Pixel(images, plane, x0, y0 + 1, height, width) + fx * Pixel(images, plane, x0 + 1, y0 + 1, height, width);
                    x[output + (long)channel * pixels] = (1f - fy) * top + fy * bottom;
                }
            }
            if (pixel == 0)
                y[row] = labels[sample];
        }
    }
}
