namespace GpuMlp.Cli;

/// <summary>One class and its probability: JSON <c>class_name</c>, <c>class_index</c> (the label),
/// <c>probability</c>.</summary>
public sealed record ClassProbability(string ClassName, int ClassIndex, float Probability);

/// <summary>A model's class probabilities for one image, ranked by name: what `predict` prints and
/// what `serve` answers, computed once here so both say the same.</summary>
public static class ClassRanking
{
    /// <summary>Every class of <paramref name="probabilities"/> (one per label), named by
    /// <paramref name="classNames"/>[label], most probable first (ties in label order).</summary>
    public static ClassProbability[] Rank(float[] probabilities, IReadOnlyList<string> classNames)
    {
        ArgumentNullException.ThrowIfNull(probabilities);
        ArgumentNullException.ThrowIfNull(classNames);
        if (probabilities.Length != classNames.Count)
            throw new ArgumentException($"{probabilities.Length} probabilities for {classNames.Count} class names", nameof(probabilities));
        return probabilities
            .Select((p, label) => new ClassProbability(classNames[label], label, p))
            .OrderByDescending(c => c.Probability)
            .ToArray();
    }
}
