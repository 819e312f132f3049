using ILGPU;
using ILGPU.Runtime;

namespace GpuMlp.Tests.Kernels;

/// <summary>Deterministic random inputs (fixed seeds; System.Random with a seed is stable across
/// runs and platforms of the same .NET).</summary>
internal static class TestData
{
    /// <summary>A seed that depends only on the values (HashCode.Combine is randomised per process,
    /// so a test seeded with it sees different data in every run).</summary>
    public static int StableSeed(params int[] values)
    {
        uint hash = 2166136261;
        foreach (int value in values)
            hash = (hash ^ (uint)value) * 16777619;
        return (int)(hash & 0x7fffffff);
    }

    /// <summary>Optimiser-test gradients of several magnitudes: ordinary (0.1), large (10), zero (the
    /// state only decays) and tiny (1e-9, where eps dominates the denominator, so eps inside vs
    /// outside the square root, or a missing bias correction, shows).</summary>
    public static float[] Gradients(Random random, int count)
    {
        float[] g = Uniform(random, count, -0.1f, 0.1f);
        for (int i = 0; i < count; i++)
        {
            switch (i % 4)
            {
                case 1:
                    g[i] *= 100f;
                    break;
                case 2:
                    g[i] = i % 8 == 2 ? 0f : g[i] * 1e-8f;
                    break;
            }
        }
        return g;
    }

    public static float[] Uniform(Random random, int count, float low = -1f, float high = 1f)
    {
        var values = new float[count];
        for (int i = 0; i < count; i++)
            values[i] = low + ((high - low) * random.NextSingle());
        return values;
    }

    /// <summary>Uniform in ±[margin, 1]: values kept away from 0 so a finite-difference step never
    /// crosses the ReLU kink.</summary>
    public static float[] AwayFromZero(Random random, int count, float margin)
    {
        var values = new float[count];
        for (int i = 0; i < count; i++)
        {
            float magnitude = margin + ((1f - margin) * random.NextSingle());
            values[i] = random.Next(2) == 0 ? -magnitude : magnitude;
        }
        return values;
    }

    public static byte[] Bytes(Random random, int count, int exclusiveMax = 256)
    {
        var values = new byte[count];
        for (int i = 0; i < count; i++)
            values[i] = (byte)random.Next(exclusiveMax);
        return values;
    }

    public static int[] Ints(Random random, int count, int exclusiveMax)
    {
        var values = new int[count];
        for (int i = 0; i < count; i++)
            values[i] = random.Next(exclusiveMax);
        return values;
    }

    public static int[] Permutation(Random random, int count)
    {
        int[] order = Enumerable.Range(0, count).ToArray();
        random.Shuffle(order);
        return order;
    }

    /// <summary>The transpose of a row-major [rows, columns] matrix, row-major [columns, rows].</summary>
    public static float[] Transpose(float[] matrix, int rows, int columns)
    {
        var result = new float[matrix.Length];
        for (int r = 0; r < rows; r++)
        {
            for (int c = 0; c < columns; c++)
                result[(c * rows) + r] = matrix[(r * columns) + c];
        }
        return result;
    }

    public static double Dot(ReadOnlySpan<double> x, ReadOnlySpan<double> y)
    {
        double sum = 0;
        for (int i = 0; i < x.Length; i++)
            sum += x[i] * y[i];
        return sum;
    }

    /// <summary>Central finite differences of a scalar function of a float64 vector:
    /// (f(x + h e_i) - f(x - h e_i)) / 2h for every i.</summary>
    public static double[] FiniteDifference(double[] x, double h, Func<double[], double> f)
    {
        var gradient = new double[x.Length];
        var probe = (double[])x.Clone();
        for (int i = 0; i < x.Length; i++)
        {
            probe[i] = x[i] + h;
            double plus = f(probe);
            probe[i] = x[i] - h;
            double minus = f(probe);
            probe[i] = x[i];
            gradient[i] = (plus - minus) / (2 * h);
        }
        return gradient;
    }
}

/// <summary>A device buffer with guard bands of `Guard` elements on both sides of the view a kernel
/// gets. Inputs use NaN guards, so a read outside the view (a stride off by one, an edge tile not
/// clamped) poisons the result; outputs are pre-filled with NaN inside and a sentinel in the guards,
/// so an element the kernel forgot to write stays NaN and a write past the end changes a guard.</summary>
internal sealed class Guarded<T> : IDisposable
    where T : unmanaged
{
    public const int Guard = 64;

    private readonly MemoryBuffer1D<T, Stride1D.Dense> buffer;
    private readonly T guardValue;

    public Guarded(Accelerator accelerator, T[] contents, T guardValue)
    {
        Length = contents.Length;
        this.guardValue = guardValue;
        var host = new T[Length + (2 * Guard)];
        Array.Fill(host, guardValue);
        contents.CopyTo(host, Guard);
        buffer = accelerator.Upload(host);
    }

    public int Length { get; }

    public ArrayView<T> View => buffer.View.BaseView.SubView(Guard, Length);

    /// <summary>Downloads the view's contents, failing if any guard element changed.</summary>
    public T[] Download(string what)
    {
        T[] host = buffer.Download();
        for (int i = 0; i < host.Length; i++)
        {
            if (i >= Guard && i < Guard + Length)
                continue;
            if (!EqualityComparer<T>.Default.Equals(host[i], guardValue))
            {
                int offset = i < Guard ? i - Guard : i - Guard - Length;
                Assert.Fail($"{what}: the kernel wrote {host[i]} outside the {Length}-element view " +
                    $"({(offset < 0 ? $"{-offset} before its start" : $"{offset} past its end")})");
            }
        }
        return host.AsSpan(Guard, Length).ToArray();
    }

    public void Dispose() => buffer.Dispose();
}

internal static class GuardedExtensions
{
    /// <summary>An input: the contents with NaN guards.</summary>
    public static Guarded<float> Input(this Accelerator accelerator, float[] contents) => new(accelerator, contents, float.NaN);

    /// <summary>An output of `length` floats: NaN inside (so every element must be written), a
    /// sentinel in the guards.</summary>
    public static Guarded<float> Output(this Accelerator accelerator, int length)
    {
        var contents = new float[length];
        Array.Fill(contents, float.NaN);
        return new Guarded<float>(accelerator, contents, -12345.5f);
    }
}
