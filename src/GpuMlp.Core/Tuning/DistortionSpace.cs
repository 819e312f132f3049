using System.Globalization;
using GpuMlp.Training;

namespace GpuMlp.Tuning;

/// <summary>The distortion strengths a search samples (<see cref="ImageDistortion"/>): each of
/// rotate, scale, shear, translate, elastic_alpha and elastic_sigma uniform in its [min, max] of
/// <see cref="Min"/> and <see cref="Max"/>, rounded to 2 significant digits. All zero (the
/// default) searches no distortion and draws nothing, so searches without it sample what they
/// always did. Elastic distortion needs both alpha and sigma ranges; a trial whose alpha is 0 has
/// none.</summary>
public sealed record DistortionSpace
{
    /// <summary>The file keys, in sampling order.</summary>
    public static IReadOnlyList<string> Keys { get; } = ["rotate", "scale", "shear", "translate", "elastic_alpha", "elastic_sigma"];

    public ImageDistortion Min { get; init; } = ImageDistortion.None;
    public ImageDistortion Max { get; init; } = ImageDistortion.None;

    /// <summary>True when some range is above 0: trials are distorted.</summary>
    public bool IsActive => Keys.Any(key => Of(Max, key) > 0);

    /// <summary>The tune flag of a key: --augment-rotate-range, ..., --elastic-sigma-range.</summary>
    public static string FlagOf(string key) => key switch
    {
        "rotate" or "scale" or "shear" or "translate" => $"--augment-{key}-range",
        "elastic_alpha" => "--elastic-alpha-range",
        "elastic_sigma" => "--elastic-sigma-range",
        _ => throw new ArgumentOutOfRangeException(nameof(key), key, "not a distortion key"),
    };

    /// <summary>One strength of a distortion by its key.</summary>
    public static float Of(ImageDistortion distortion, string key)
    {
        ArgumentNullException.ThrowIfNull(distortion);
        return key switch
        {
            "rotate" => distortion.RotateDegrees,
            "scale" => distortion.Scale,
            "shear" => distortion.ShearDegrees,
            "translate" => distortion.Translate,
            "elastic_alpha" => distortion.ElasticAlpha,
            "elastic_sigma" => distortion.ElasticSigma,
            _ => throw new ArgumentOutOfRangeException(nameof(key), key, "not a distortion key"),
        };
    }

    private static ImageDistortion With(ImageDistortion distortion, string key, float value) => key switch
    {
        "rotate" => distortion with { RotateDegrees = value },
        "scale" => distortion with { Scale = value },
        "shear" => distortion with { ShearDegrees = value },
        "translate" => distortion with { Translate = value },
        "elastic_alpha" => distortion with { ElasticAlpha = value },
        "elastic_sigma" => distortion with { ElasticSigma = value },
        _ => throw new ArgumentOutOfRangeException(nameof(key), key, "not a distortion key"),
    };

    private static float Limit(string key) => key switch
    {
        "rotate" => ImageDistortion.MaxRotateDegrees,
        "scale" => ImageDistortion.MaxScale,
        "shear" => ImageDistortion.MaxShearDegrees,
        "translate" => ImageDistortion.MaxTranslate,
        "elastic_alpha" => ImageDistortion.MaxElasticAlpha,
        "elastic_sigma" => ImageDistortion.MaxElasticSigma,
        _ => throw new ArgumentOutOfRangeException(nameof(key), key, "not a distortion key"),
    };

    /// <summary>This space with key's range [min, max].</summary>
    public DistortionSpace WithRange(string key, double min, double max) =>
        this with { Min = With(Min, key, (float)min), Max = With(Max, key, (float)max) };

    /// <summary>Checks every range; the message starts with <paramref name="source"/>.</summary>
    public void Validate(string source)
    {
        foreach (string key in Keys)
        {
            float min = Of(Min, key), max = Of(Max, key), limit = Limit(key);
            if (!(min >= 0 && max <= limit))
                throw new OptionException($"{source}: {key} must lie in [0, {Num(limit)}] (got [{Num(min)}, {Num(max)}])");
            if (min > max)
                throw new OptionException($"{source}: {key} range [{Num(min)}, {Num(max)}] has min > max");
        }
        bool alpha = Max.ElasticAlpha > 0, sigma = Max.ElasticSigma > 0;
        if (alpha != sigma)
            throw new OptionException($"{source}: elastic_alpha and elastic_sigma go together: give both ranges, e.g. elastic_alpha [0, 40] and elastic_sigma [4, 6]");
        if (sigma && Min.ElasticSigma < ImageDistortion.MinElasticSigma)
            throw new OptionException($"{source}: elastic_sigma must lie in [{Num(ImageDistortion.MinElasticSigma)}, {Num(ImageDistortion.MaxElasticSigma)}] (got [{Num(Min.ElasticSigma)}, {Num(Max.ElasticSigma)}])");
    }

    /// <summary>One trial's distortion: every key drawn in order (six draws), or null when the
    /// draws give none.</summary>
    public ImageDistortion? Sample(Random random)
    {
        ArgumentNullException.ThrowIfNull(random);
        var distortion = ImageDistortion.None;
        foreach (string key in Keys)
        {
            double min = Of(Min, key), max = Of(Max, key);
            double value = Math.Clamp(SearchSpace.RoundSignificant(min + (random.NextDouble() * (max - min)), 2), min, max);
            distortion = With(distortion, key, (float)value);
        }
        if (distortion.ElasticAlpha == 0)
            distortion = distortion with { ElasticSigma = 0 };
        return distortion.IsActive ? distortion : null;
    }

    /// <summary>The stored form: key -> [min, max] of the keys searched; null when none is.</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<double>>? ToDocument() =>
        IsActive
            ? Keys.Where(key => Of(Max, key) > 0).ToDictionary(key => key, key => (IReadOnlyList<double>)[Of(Min, key), Of(Max, key)], StringComparer.Ordinal)
            : null;

    /// <summary>The stored form read back (null: no distortion); unknown keys and bad ranges are errors.</summary>
    public static DistortionSpace FromDocument(IReadOnlyDictionary<string, IReadOnlyList<double>>? document, string source)
    {
        var space = new DistortionSpace();
        foreach (var (key, range) in document ?? new Dictionary<string, IReadOnlyList<double>>())
        {
            if (!Keys.Contains(key))
                throw new OptionException($"{source}: unknown distortion key '{key}' (use {string.Join(", ", Keys)})");
            if (range is not { Count: 1 or 2 })
                throw new OptionException($"{source}: {key} needs [min, max]");
            space = space.WithRange(key, range[0], range[^1]);
        }
        space.Validate(source);
        return space;
    }

    private static string Num(float value) => value.ToString(CultureInfo.InvariantCulture);
}
