using System.CommandLine;
using GpuMlp.Training;

namespace GpuMlp.Cli;

/// <summary>`gpumlp train`'s distortion flags (<see cref="ImageDistortion"/>): the random affine map
/// with torchvision RandomAffine's parameters and Simard's elastic distortion, all 0 (off) by default.</summary>
public sealed class DistortionOptions
{
    public Option<float> Rotate { get; } = new("--augment-rotate")
    {
        Description = $"Rotate every training image by a random angle uniform in ±DEG degrees, drawn per image and step on the device (RandomAffine's degrees; 0..{ImageDistortion.MaxRotateDegrees}; default 0: none)",
    };

    public Option<float> Scale { get; } = new("--augment-scale")
    {
        Description = $"Scale every training image by a random factor uniform in 1±F (RandomAffine's scale=(1-F, 1+F); 0..{ImageDistortion.MaxScale}; default 0)",
    };

    public Option<float> Shear { get; } = new("--augment-shear")
    {
        Description = $"Shear every training image along x by a random angle uniform in ±DEG degrees (RandomAffine's shear=DEG; 0..{ImageDistortion.MaxShearDegrees}; default 0)",
    };

    public Option<float> Translate { get; } = new("--augment-translate")
    {
        Description = $"Move every training image by a random fraction uniform in ±F of its width and height, not rounded to pixels (RandomAffine's translate=(F, F); 0..{ImageDistortion.MaxTranslate}; default 0); --augment-shift adds to it",
    };

    public Option<float> ElasticAlpha { get; } = new("--elastic-alpha")
    {
        Description = $"Elastic distortion (Simard et al. 2003): scale α of the smoothed random displacement field in pixels, e.g. 34 for MNIST digits (0..{ImageDistortion.MaxElasticAlpha}; default 0: none; needs --elastic-sigma)",
    };

    public Option<float> ElasticSigma { get; } = new("--elastic-sigma")
    {
        Description = $"Elastic distortion: σ of the Gaussian that smooths the field, in pixels, e.g. 4 (0 or {ImageDistortion.MinElasticSigma}..{ImageDistortion.MaxElasticSigma}; truncated at 3σ; needs --elastic-alpha)",
    };

    public IReadOnlyList<Option<float>> All => [Rotate, Scale, Shear, Translate, ElasticAlpha, ElasticSigma];

    /// <summary>The distortion the flags ask for, or null when none is set (not yet validated:
    /// TrainingOptions.Validate checks it with the other settings).</summary>
    public ImageDistortion? Parse(ParseResult parse)
    {
        ArgumentNullException.ThrowIfNull(parse);
        var distortion = new ImageDistortion
        {
            RotateDegrees = parse.GetValue(Rotate),
            Scale = parse.GetValue(Scale),
            ShearDegrees = parse.GetValue(Shear),
            Translate = parse.GetValue(Translate),
            ElasticAlpha = parse.GetValue(ElasticAlpha),
            ElasticSigma = parse.GetValue(ElasticSigma),
        };
        return distortion == ImageDistortion.None ? null : distortion;
    }

    /// <summary>A resumed run keeps its saved distortion: any distortion flag beside --resume is a usage error.</summary>
    public void CheckResume(ParseResult parse, string folder)
    {
        ArgumentNullException.ThrowIfNull(parse);
        var given = All.Where(o => CommonOptions.Given(parse, o)).Select(o => o.Name).ToList();
        if (given.Count > 0)
            throw new OptionException($"--resume {folder}: the run keeps the distortion it was started with; drop {string.Join(", ", given)}");
    }
}
