using GpuMlp.Data;

namespace GpuMlp.Training;

/// <summary>What <c>--arch</c> (train, bench) and each entry of tune's architecture list read:
/// "mlp" (the report's MLP of --hidden and --dropout), "cnn" (the CNN preset: the stack
/// <see cref="Architecture.CnnText"/> plus its recipe, training images shifted by
/// ±<see cref="TrainingOptions.CnnPresetAugmentShift"/> pixels) or a layer stack in the text form,
/// trained as written (no shifts, even when it is the preset's stack). The resolved text is
/// <see cref="TrainingOptions.ArchitectureText"/>'s: null for the MLP, else the stack's canonical text.</summary>
public static class ArchitectureChoice
{
    public const string Mlp = "mlp";
    public const string Cnn = "cnn";

    /// <summary>Null for "mlp", <see cref="Architecture.CnnText"/> for "cnn" (case and surrounding
    /// blanks ignored), else the canonical text of the stack. Every stack, the preset's included, is
    /// checked to parse, chain and plan for the images and classes of <paramref name="schema"/>, the
    /// data it will train on (the MLP's network depends on its widths too, which the run's options
    /// check).</summary>
    /// <exception cref="ArchitectureException">The text is no preset and no valid stack; one line.</exception>
    public static string? Resolve(string text, ImageSchema schema)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(schema);
        string trimmed = text.Trim();
        if (trimmed.Equals(Mlp, StringComparison.OrdinalIgnoreCase))
            return null;
        var network = NetworkInput.Parse(IsCnnPreset(trimmed) ? Architecture.CnnText : trimmed, schema);
        _ = LayerNetwork.Plan(network);
        return network.Text;
    }

    /// <summary>The augmentation shift a choice trains with unless told otherwise: the CNN preset's
    /// recipe for "cnn", none for everything else.</summary>
    public static int DefaultAugmentShift(string text) => IsCnnPreset(text) ? TrainingOptions.CnnPresetAugmentShift : 0;

    /// <summary>The short name of a resolved choice: "mlp" for null, "cnn" for the preset (its
    /// stack with its shift), else the stack's text.</summary>
    public static string Name(string? architectureText, int augmentShift) => architectureText switch
    {
        null => Mlp,
        Architecture.CnnText when augmentShift == TrainingOptions.CnnPresetAugmentShift => Cnn,
        _ => architectureText,
    };

    /// <summary>Whether the text names the CNN preset ("cnn", case and surrounding blanks ignored),
    /// not a stack: the preset's own stack text written out is a stack.</summary>
    public static bool IsCnnPreset(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return text.Trim().Equals(Cnn, StringComparison.OrdinalIgnoreCase);
    }
}
