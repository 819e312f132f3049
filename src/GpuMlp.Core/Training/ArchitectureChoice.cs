namespace GpuMlp.Training;

/// <summary>What <c>--arch</c> (train, bench) and each entry of tune's architecture list read:
/// "mlp" (the report's MLP of --hidden and --dropout), "cnn" (<see cref="Architecture.CnnText"/>)
/// or a layer stack in the text form. The resolved value is <see cref="TrainingOptions.ArchitectureText"/>'s:
/// null for the MLP, else the stack's canonical text.</summary>
public static class ArchitectureChoice
{
    public const string Mlp = "mlp";
    public const string Cnn = "cnn";

    /// <summary>Null for "mlp", <see cref="Architecture.CnnText"/> for "cnn" (case and surrounding
    /// blanks ignored), else the canonical text of the stack, checked to parse, chain and plan.</summary>
    /// <exception cref="ArchitectureException">The text is no preset and no valid stack; one line.</exception>
    public static string? Resolve(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        string trimmed = text.Trim();
        if (trimmed.Equals(Mlp, StringComparison.OrdinalIgnoreCase))
            return null;
        if (trimmed.Equals(Cnn, StringComparison.OrdinalIgnoreCase))
            return Architecture.CnnText;
        var network = Architecture.Parse(trimmed);
        _ = LayerNetwork.Plan(network);
        return network.Text;
    }

    /// <summary>The short name of a resolved choice: "mlp" for null, "cnn" for the preset's text,
    /// else the stack's text.</summary>
    public static string Name(string? architectureText) => architectureText switch
    {
        null => Mlp,
        Architecture.CnnText => Cnn,
        _ => architectureText,
    };
}
