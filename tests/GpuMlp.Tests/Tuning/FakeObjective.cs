using GpuMlp.Tuning;

namespace GpuMlp.Tests.Tuning;

/// <summary>A deterministic stand-in for training: each configuration has a quality (best near
/// lr 1e-3, dropout 0.2, batch 128) and a speed; validation loss falls with epochs towards a floor
/// set by the quality, plus noise from a Random seeded by (noise seed, configuration, epoch), so
/// training a trial again gives the same numbers. Learning rates above DivergeAbove give NaN from
/// epoch 2. It can cancel on its Nth call (a simulated interruption) and advances a fake clock.</summary>
internal sealed class FakeObjective : ITrialObjective
{
    private readonly int noiseSeed;
    private readonly FakeClock? clock;
    private readonly Dictionary<int, int> epochsDone = [];

    public FakeObjective(int noiseSeed = 7, FakeClock? clock = null)
    {
        this.noiseSeed = noiseSeed;
        this.clock = clock;
    }

    public double SecondsPerEpoch { get; init; } = 2;
    public double DivergeAbove { get; init; } = double.PositiveInfinity;

    /// <summary>Throw OperationCanceledException at the start of this (1-based) call.</summary>
    public int? CancelOnCall { get; init; }

    /// <summary>Train this many epochs of the cancelled call first (an interruption mid-rung).</summary>
    public int EpochsBeforeCancel { get; init; }

    public List<TrialRun> Runs { get; } = [];
    public List<string> Events { get; } = [];
    public HashSet<int> Released { get; } = [];

    /// <summary>Epochs the objective trained again because it had no live state for a trial.</summary>
    public int Replayed { get; private set; }

    public IReadOnlyList<TrialEpoch> Run(TrialRun run, CancellationToken cancel)
    {
        Runs.Add(run);
        Events.Add($"run {run.Trial} {run.FromEpoch}-{run.ToEpoch}");
        if (CancelOnCall == Runs.Count)
        {
            clock?.Advance(EpochsBeforeCancel * SecondsPerEpoch);
            epochsDone.Remove(run.Trial);
            throw new OperationCanceledException("simulated interruption");
        }
        if (Released.Contains(run.Trial))
            throw new InvalidOperationException($"trial {run.Trial} was released and then run again");
        int done = epochsDone.GetValueOrDefault(run.Trial);
        if (done != run.FromEpoch - 1)
        {
            // No live state at the right epoch (a resumed search): "train again from scratch".
            Replayed += run.FromEpoch - 1;
        }
        var result = new List<TrialEpoch>();
        for (int epoch = run.FromEpoch; epoch <= run.ToEpoch; epoch++)
        {
            clock?.Advance(SecondsPerEpoch);
            var e = Score(run.Config, epoch);
            result.Add(e);
            if (!e.IsFinite)
                break;
        }
        epochsDone[run.Trial] = run.ToEpoch;
        return result;
    }

    public void Release(int trial)
    {
        if (Released.Add(trial))
            Events.Add($"release {trial}");
        epochsDone.Remove(trial);
    }

    public TrialEpoch Score(TrialConfig config, int epoch)
    {
        double seconds = SecondsPerEpoch;
        if (config.LearningRate > DivergeAbove && epoch >= 2)
            return new TrialEpoch(epoch, double.NaN, 0.1, double.NaN, 0.1, seconds);
        double lrDistance = Math.Abs(Math.Log10(config.LearningRate) + 3);
        double floor = 0.05 + (0.08 * lrDistance) + (0.2 * Math.Abs((config.Dropout ?? 0.2f) - 0.2)) + (0.01 * Math.Abs(Math.Log2(config.BatchSize / 128.0)));
        double speed = 0.25 + (0.5 * Math.Min(1, config.LearningRate / 1e-3));
        var noise = new Random(unchecked((noiseSeed * 1_000_003) + (config.BatchSize * 7919) + (int)(config.LearningRate * 1e7f) * 31 + (int)(config.Dropout.GetValueOrDefault() * 1000) * 131 + (epoch * 17)));
        double loss = floor + (1.5 * Math.Exp(-speed * epoch)) + (0.01 * noise.NextDouble());
        double accuracy = Math.Clamp(1 - (loss / 4), 0, 1);
        return new TrialEpoch(epoch, loss * 0.8, accuracy + 0.01, loss, accuracy, seconds);
    }
}

/// <summary>A clock the fake objective moves forward.</summary>
internal sealed class FakeClock : TimeProvider
{
    private long ticks;

    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    public override long GetTimestamp() => ticks;

    public void Advance(double seconds) => ticks += (long)(seconds * TimeSpan.TicksPerSecond);
}
