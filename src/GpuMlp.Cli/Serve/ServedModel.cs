using System.Text.RegularExpressions;
using GpuMlp.Imaging;
using GpuMlp.Models;

namespace GpuMlp.Cli.Serve;

/// <summary>One model `serve` answers for: its name in URLs (/predict/{name}, /v2/models/{name}),
/// the trained model read once, and how its images are prepared (what `predict` would do).</summary>
public sealed partial class ServedModel
{
    public ServedModel(string name, TrainedModel model)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(model);
        if (!IsValidName(name))
            throw new OptionException($"model name '{name}' must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit");
        Name = name;
        Model = model;
    }

    public string Name { get; }
    public TrainedModel Model { get; }
    public ImagePreprocessing Preprocessing => Model.Preprocessing;

    /// <summary>C*H*W: the values of one input row.</summary>
    public int InputValues => Model.Schema.Shape.Pixels;

    public int Classes => Model.Schema.Classes;

    public static bool IsValidName(string name) => NamePattern().IsMatch(name);

    /// <summary>Every --model value, RUN or NAME=RUN, read once. An unnamed model is named after its
    /// run folder or file (without .safetensors); two models of one name are refused.</summary>
    /// <exception cref="OptionException">A bad or repeated name, or no model.</exception>
    public static IReadOnlyList<ServedModel> LoadAll(IReadOnlyList<string> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        if (values.Count == 0)
            throw new OptionException("give --model RUN (a run folder or .safetensors file), or several --model NAME=RUN");
        var models = new List<ServedModel>();
        foreach (string value in values)
        {
            var (name, path) = SplitNamed(value);
            if (models.Any(m => m.Name == name))
                throw new OptionException($"two models are named '{name}'; name them with --model NAME=RUN");
            models.Add(new ServedModel(name, TrainedModel.Load(path)));
        }
        return models;
    }

    /// <summary>"NAME=RUN" (when the part before '=' is a valid name) or "RUN", named after the
    /// folder or file.</summary>
    public static (string Name, string Path) SplitNamed(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        int equals = value.IndexOf('=', StringComparison.Ordinal);
        if (equals > 0 && IsValidName(value[..equals]))
            return (value[..equals], value[(equals + 1)..]);
        string trimmed = value.TrimEnd('/', '\\');
        string stem = Path.GetFileName(trimmed);
        if (stem.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase))
            stem = stem[..^".safetensors".Length];
        if (!IsValidName(stem))
            throw new OptionException($"cannot name the model at {value} after its file; give --model NAME={value}");
        return (stem, value);
    }

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
    private static partial Regex NamePattern();
}
