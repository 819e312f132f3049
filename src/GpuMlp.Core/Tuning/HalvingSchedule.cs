namespace GpuMlp.Tuning;

/// <summary>One rung of successive halving: every trial that enters trains up to
/// <see cref="Epochs"/> epochs in total; <see cref="Trials"/> is how many enter when none diverge.</summary>
public sealed record Rung(int Index, int Epochs, int Trials);

/// <summary>The successive-halving plan: rung k trains its trials to min(maxEpochs,
/// minEpochs·η^k) epochs, the last rung to exactly maxEpochs; after each rung but the last the
/// best max(1, ⌊n/η⌋) of the n that entered are promoted (trained further, never restarted) and
/// the rest stop. With minEpochs ≥ maxEpochs it is plain random search (one rung).</summary>
public sealed class HalvingSchedule
{
    public const int MaxEta = 10;

    public HalvingSchedule(int trials, int eta, int minEpochs, int maxEpochs)
    {
        if (trials < 1)
            throw new OptionException($"--trials must be at least 1 (got {trials})");
        if (eta < 2 || eta > MaxEta)
            throw new OptionException($"--eta must be in 2..{MaxEta} (got {eta})");
        if (minEpochs < 1)
            throw new OptionException($"--min-epochs must be at least 1 (got {minEpochs})");
        if (maxEpochs < minEpochs)
            throw new OptionException($"--max-epochs must be at least --min-epochs ({minEpochs}), got {maxEpochs}");
        TrialCount = trials;
        Eta = eta;
        MinEpochs = minEpochs;
        MaxEpochs = maxEpochs;
        var rungs = new List<Rung>();
        long epochs = minEpochs;
        int entering = trials;
        while (true)
        {
            int rungEpochs = (int)Math.Min(maxEpochs, epochs);
            rungs.Add(new Rung(rungs.Count, rungEpochs, entering));
            if (rungEpochs >= maxEpochs)
                break;
            epochs *= eta;
            entering = Promoted(entering);
        }
        Rungs = rungs;
    }

    public int TrialCount { get; }
    public int Eta { get; }
    public int MinEpochs { get; }
    public int MaxEpochs { get; }
    public IReadOnlyList<Rung> Rungs { get; }

    /// <summary>How many of the <paramref name="entered"/> trials of a rung go on to the next.</summary>
    public int Promoted(int entered) => entered <= 0 ? 0 : Math.Max(1, entered / Eta);

    /// <summary>Epochs trained when every rung runs in full and nothing diverges (the final
    /// retrain not included).</summary>
    public long PlannedEpochs
    {
        get
        {
            long total = 0;
            int before = 0;
            foreach (var rung in Rungs)
            {
                total += (long)rung.Trials * (rung.Epochs - before);
                before = rung.Epochs;
            }
            return total;
        }
    }

    public override string ToString() =>
        string.Join(", ", Rungs.Select(r => $"{r.Trials} × {r.Epochs}")) + $" epochs ({PlannedEpochs} in all)";
}
