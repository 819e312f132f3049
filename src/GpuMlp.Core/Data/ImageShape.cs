using System.Globalization;

namespace GpuMlp.Data;

/// <summary>The layout of one image: Channels x Height x Width bytes, channel by channel, each
/// channel row-major (NCHW without the batch dimension).</summary>
public readonly record struct ImageShape(int Channels, int Height, int Width)
{
    /// <summary>Largest side or channel count accepted (a guard against corrupt headers and metadata).</summary>
    public const int MaxDimension = 1 << 16;

    /// <summary>Bytes per image (C * H * W); a shape that fails <see cref="Check"/> has no meaningful count.</summary>
    public int Pixels => Channels * Height * Width;

    /// <summary>"CxHxW", e.g. 3x32x32: the form model files record and <see cref="TryParse"/> reads.</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Channels}x{Height}x{Width}");

    /// <summary>Every dimension in 1..<see cref="MaxDimension"/> and C*H*W below 2^31.</summary>
    /// <exception cref="DataFormatException">One line naming <paramref name="what"/> and the bad dimension.</exception>
    public void Check(string what)
    {
        foreach (var (value, name) in new[] { (Channels, "channels"), (Height, "height"), (Width, "width") })
        {
            if (value is < 1 or > MaxDimension)
                throw new DataFormatException(string.Create(CultureInfo.InvariantCulture, $"{what}: {name} {value} is outside 1..{MaxDimension}"));
        }
        if ((long)Channels * Height * Width > int.MaxValue)
            throw new DataFormatException($"{what}: images of {this} have more than {int.MaxValue} values");
    }

    /// <summary>Reads "CxHxW" (canonical decimal, each dimension valid); null for anything else.</summary>
    public static ImageShape? TryParse(string? text)
    {
        string[] parts = text?.Split('x') ?? [];
        if (parts.Length != 3)
            return null;
        var dims = new int[3];
        for (int i = 0; i < 3; i++)
        {
            if (!int.TryParse(parts[i], NumberStyles.None, CultureInfo.InvariantCulture, out dims[i])
                || dims[i].ToString(CultureInfo.InvariantCulture) != parts[i])
                return null;
        }
        var shape = new ImageShape(dims[0], dims[1], dims[2]);
        try
        {
            shape.Check("shape");
        }
        catch (DataFormatException)
        {
            return null;
        }
        return shape;
    }
}
