using System.Globalization;
using GpuMlp.Data;
using GpuMlp.Kernels;

namespace GpuMlp.Training;

/// <summary>Data augmentation by random distortion of every training image, drawn per image and step
/// on the device (kernels/DistortionKernels.cs): a random affine map with torchvision RandomAffine's
/// parameters, then Simard et al.'s (2003) elastic distortion, resampled once bilinearly with zeros
/// outside the image. All zero (the default) is no distortion. With --augment-shift as well, the
/// integer shift is added to the affine translation. Validation and test images are never distorted.</summary>
public sealed record ImageDistortion
{
    /// <summary>Rotation uniform in ±this many degrees (RandomAffine's degrees); 0..180.</summary>
    public float RotateDegrees { get; init; }

    /// <summary>Scale uniform in 1 ± this (RandomAffine's scale=(1 - F, 1 + F)); 0..0.9.</summary>
    public float Scale { get; init; }

    /// <summary>x shear uniform in ±this many degrees (RandomAffine's shear=DEG); 0..60.</summary>
    public float ShearDegrees { get; init; }

    /// <summary>Translation uniform in ± this fraction of the width and of the height
    /// (RandomAffine's translate=(F, F), but not rounded to whole pixels); 0..0.5.</summary>
    public float Translate { get; init; }

    /// <summary>Elastic distortion's scale α in pixels (Simard: 34 for MNIST digits); 0 is none.</summary>
    public float ElasticAlpha { get; init; }

    /// <summary>Elastic distortion's Gaussian σ in pixels (Simard: 4); 0 is none, else 0.5..16.</summary>
    public float ElasticSigma { get; init; }

    public const float MaxRotateDegrees = 180f;
    public const float MaxScale = 0.9f;
    public const float MaxShearDegrees = 60f;
    public const float MaxTranslate = 0.5f;
    public const float MaxElasticAlpha = 100f;
    public const float MinElasticSigma = 0.5f;
    public const float MaxElasticSigma = 16f;

    /// <summary>The Gaussian is truncated at this many σ.</summary>
    public const double RadiusInSigmas = 3.0;

    /// <summary>No distortion.</summary>
    public static ImageDistortion None { get; } = new();

    /// <summary>True when any affine range is set.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public bool HasAffine => RotateDegrees > 0 || Scale > 0 || ShearDegrees > 0 || Translate > 0;

    /// <summary>True when elastic distortion is on (α and σ both set).</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public bool HasElastic => ElasticAlpha > 0 && ElasticSigma > 0;

    /// <summary>True when training images are distorted at all.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public bool IsActive => HasAffine || HasElastic;

    /// <summary>The Gaussian's radius R = ceil(3σ) (0 without elastic distortion).</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public int ElasticRadius => HasElastic ? (int)Math.Ceiling(RadiusInSigmas * ElasticSigma) : 0;

    /// <summary>Checks every range; the message is a one-line usage error naming the flag.</summary>
    public void Validate()
    {
        Check(RotateDegrees, MaxRotateDegrees, "--augment-rotate", " degrees");
        Check(Scale, MaxScale, "--augment-scale", "");
        Check(ShearDegrees, MaxShearDegrees, "--augment-shear", " degrees");
        Check(Translate, MaxTranslate, "--augment-translate", " (a fraction of the image size)");
        Check(ElasticAlpha, MaxElasticAlpha, "--elastic-alpha", " pixels");
        Check(ElasticSigma, MaxElasticSigma, "--elastic-sigma", " pixels");
        if (ElasticSigma > 0 && ElasticSigma < MinElasticSigma)
            throw new OptionException($"--elastic-sigma must be 0 or in {Num(MinElasticSigma)}..{Num(MaxElasticSigma)} pixels (got {Num(ElasticSigma)})");
        if ((ElasticAlpha > 0) != (ElasticSigma > 0))
            throw new OptionException("--elastic-alpha and --elastic-sigma go together: give both, e.g. --elastic-alpha 34 --elastic-sigma 4");
    }

    private static void Check(float value, float max, string flag, string unit)
    {
        if (!(value >= 0 && value <= max))
            throw new OptionException($"{flag} must be in 0..{Num(max)}{unit} (got {Num(value)})");
    }

    private static string Num(float value) => value.ToString(CultureInfo.InvariantCulture);

    /// <summary>The kernels' description of these distortions for images of <paramref name="shape"/>,
    /// with the --augment-shift <paramref name="maxShift"/>, for the draws of (seed, step); the
    /// Gaussian's constants computed here once (DistortionKernels.GaussianWeight).</summary>
    public DistortionShape KernelShape(ImageShape shape, int maxShift, uint seed, uint step)
    {
        int radius = ElasticRadius;
        double decay = HasElastic ? Math.Exp(-1.0 / (2.0 * ElasticSigma * ElasticSigma)) : 0.0;
        var kernelShape = new DistortionShape
        {
            Channels = shape.Channels,
            Height = shape.Height,
            Width = shape.Width,
            RotateDegrees = RotateDegrees,
            Scale = Scale,
            ShearDegrees = ShearDegrees,
            Translate = Translate,
            MaxShift = maxShift,
            ElasticAlpha = HasElastic ? ElasticAlpha : 0f,
            ElasticRadius = radius,
            ElasticDecay = decay,
            ElasticNormalizer = 1.0,
            Seed = seed,
            Step = step,
        };
        if (!HasElastic)
            return kernelShape;
        // The weights' sum: q^(k^2) by the kernels' own products, so the normalised weights sum to 1.
        double sum = 0;
        for (int k = -radius; k <= radius; k++)
            sum += DistortionKernels.GaussianWeight(kernelShape, Math.Abs(k));
        return kernelShape with { ElasticNormalizer = 1.0 / sum };
    }

    /// <summary>"rotate 10 deg, scale 0.1, ..., elastic alpha 34 sigma 4" (each range's half-width, ASCII
    /// for any console): what the run prints and tune shows.</summary>
    public override string ToString()
    {
        var parts = new List<string>();
        if (RotateDegrees > 0)
            parts.Add($"rotate {Num(RotateDegrees)} deg");
        if (Scale > 0)
            parts.Add($"scale {Num(Scale)}");
        if (ShearDegrees > 0)
            parts.Add($"shear {Num(ShearDegrees)} deg");
        if (Translate > 0)
            parts.Add($"translate {Num(Translate)}");
        if (HasElastic)
            parts.Add($"elastic alpha {Num(ElasticAlpha)} sigma {Num(ElasticSigma)}");
        return parts.Count == 0 ? "none" : string.Join(", ", parts);
    }

    /// <summary>The train flags that give these distortions ("" for none).</summary>
    public string CommandLineFlags()
    {
        var flags = new List<string>();
        if (RotateDegrees > 0)
            flags.Add($"--augment-rotate {Num(RotateDegrees)}");
        if (Scale > 0)
            flags.Add($"--augment-scale {Num(Scale)}");
        if (ShearDegrees > 0)
            flags.Add($"--augment-shear {Num(ShearDegrees)}");
        if (Translate > 0)
            flags.Add($"--augment-translate {Num(Translate)}");
        if (ElasticAlpha > 0)
            flags.Add($"--elastic-alpha {Num(ElasticAlpha)}");
        if (ElasticSigma > 0)
            flags.Add($"--elastic-sigma {Num(ElasticSigma)}");
        return string.Join(" ", flags);
    }
}
