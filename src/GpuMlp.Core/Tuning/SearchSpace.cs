using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using GpuMlp.Data;
using GpuMlp.Training;

namespace GpuMlp.Tuning;

/// <summary>The ranges a search samples from: learning rate log-uniform in [min, max], dropout
/// uniform in [min, max], batch size and hidden widths chosen uniformly from lists. The JSON file
/// form (every key optional; a missing key keeps the default):
/// <code>{"lr": [1e-4, 3e-3], "dropout": [0.0, 0.5], "batch_size": [64, 128, 256], "hidden": ["512,256", "256,128"],
///  "optimizer": ["adam", "sgd"], "momentum": [0.5, 0.95], "weight_decay": [0, 1e-4],
///  "arch": ["mlp", "cnn", "conv3x3x8p1,relu,pool2,flatten,dense10"]}</code>
/// A range may also be a single number (fixed); a hidden entry may be "512,256" or [512, 256].
/// The optimiser is chosen uniformly from its list (default adam alone), momentum (sgd and rmsprop
/// only; other optimisers keep 0) uniformly from its range (default 0), and weight decay from its
/// list of values (default: each optimiser's torch default, 0.01 for adamw and 0 otherwise).
/// The architecture is chosen uniformly from its list (default "mlp" alone): "mlp" is the report's
/// MLP, whose dropout and hidden widths are the sampled ones; "cnn" is the CNN preset as
/// <c>gpumlp train --arch cnn</c> trains it (its stack, training images shifted by ±2 pixels); a
/// layer stack trains as written, without shifts. A stack's own dropout layers apply; the sampled
/// dropout and hidden are not used and not recorded for it.
/// Every stack is checked against the schema of the data the search trains on (its images and
/// classes), given where a space is read or checked.
/// Invalid input throws <see cref="OptionException"/> whose message starts with the source
/// (a flag name or the file), ready to be shown as a usage error.</summary>
public sealed record SearchSpace
{
    public const double MaxLearningRate = 1.0;
    public const int MaxHiddenWidth = 65536;

    public double LearningRateMin { get; init; } = 1e-4;
    public double LearningRateMax { get; init; } = 3e-3;
    public double DropoutMin { get; init; }
    public double DropoutMax { get; init; } = 0.5;
    public IReadOnlyList<int> BatchSizes { get; init; } = [64, 128, 256];
    public IReadOnlyList<IReadOnlyList<int>> Hidden { get; init; } = [[512, 256]];
    public IReadOnlyList<OptimizerKind> Optimizers { get; init; } = [OptimizerKind.Adam];
    public double MomentumMin { get; init; }
    public double MomentumMax { get; init; }
    /// <summary>Weight decay values to choose from; null: each optimiser's default.</summary>
    public IReadOnlyList<double>? WeightDecays { get; init; }
    /// <summary>Architectures to choose from, resolved (<see cref="ResolveArchitecture"/>): "mlp",
    /// "cnn" (the preset with its recipe) or a stack's canonical text.</summary>
    public IReadOnlyList<string> Architectures { get; init; } = [ArchitectureChoice.Mlp];
    /// <summary>The training distortions' strengths (keys rotate, scale, shear, translate,
    /// elastic_alpha, elastic_sigma, each [min, max]); none by default.</summary>
    public DistortionSpace Distortion { get; init; } = new();

    // The recipe's schedule and regularisation: each a list chosen from uniformly, and drawn only
    // when it holds two or more, so searches without them sample what they always did.

    /// <summary>Learning-rate schedules to choose from (default constant alone); each with its
    /// defaults (OneCycle torch's, no warm-up). A schedule spans the trial's rung, so a trial
    /// promoted to a longer rung under onecycle, cosine, linear or cosine-steps trains again.</summary>
    public IReadOnlyList<LearningRateSchedule> Schedules { get; init; } = [LearningRateSchedule.Constant];

    /// <summary>Label smoothing values to choose from (default 0 alone).</summary>
    public IReadOnlyList<double> LabelSmoothings { get; init; } = [0];

    /// <summary>EMA decays to choose from, null for no average (default: no average).</summary>
    public IReadOnlyList<double?> EmaDecays { get; init; } = [null];

    /// <summary>True when the space searches a schedule, label smoothing or EMA (tune.csv then has
    /// their columns).</summary>
    public bool SearchesRecipe => Schedules.Count > 1 || Schedules[0] != LearningRateSchedule.Constant
        || LabelSmoothings.Count > 1 || LabelSmoothings[0] != 0 || EmaDecays.Count > 1 || EmaDecays[0] is not null;

    /// <summary>Checks every range, and every architecture for data of <paramref name="schema"/>;
    /// the message starts with <paramref name="source"/>.</summary>
    public SearchSpace Validate(ImageSchema schema, string source = "search space")
    {
        ArgumentNullException.ThrowIfNull(schema);
        if (!double.IsFinite(LearningRateMin) || !double.IsFinite(LearningRateMax) || LearningRateMin <= 0 || LearningRateMax > MaxLearningRate)
            throw new OptionException($"{source}: lr must lie in (0, {MaxLearningRate.ToString(CultureInfo.InvariantCulture)}] (got [{Num(LearningRateMin)}, {Num(LearningRateMax)}])");
        if (LearningRateMin > LearningRateMax)
            throw new OptionException($"{source}: lr range [{Num(LearningRateMin)}, {Num(LearningRateMax)}] has min > max");
        if (!double.IsFinite(DropoutMin) || !double.IsFinite(DropoutMax) || DropoutMin < 0 || DropoutMax >= 1)
            throw new OptionException($"{source}: dropout must lie in [0, 1) (got [{Num(DropoutMin)}, {Num(DropoutMax)}])");
        if (DropoutMin > DropoutMax)
            throw new OptionException($"{source}: dropout range [{Num(DropoutMin)}, {Num(DropoutMax)}] has min > max");
        if (BatchSizes.Count == 0 || BatchSizes.Any(b => b < 1))
            throw new OptionException($"{source}: batch_size must list one or more positive sizes");
        if (BatchSizes.Distinct().Count() != BatchSizes.Count)
            throw new OptionException($"{source}: batch_size lists a size twice ({string.Join(",", BatchSizes)})");
        if (Hidden.Count == 0 || Hidden.Any(h => h.Count == 0 || h.Any(w => w < 1 || w > MaxHiddenWidth)))
            throw new OptionException($"{source}: hidden must list one or more layer-width lists with widths in 1..{MaxHiddenWidth}, e.g. [\"512,256\"]");
        var hiddenTexts = Hidden.Select(h => string.Join(",", h)).ToList();
        if (hiddenTexts.Distinct(StringComparer.Ordinal).Count() != hiddenTexts.Count)
            throw new OptionException($"{source}: hidden lists a network twice");
        if (Optimizers.Count == 0 || Optimizers.Distinct().Count() != Optimizers.Count)
            throw new OptionException($"{source}: optimizer must list one or more of {string.Join(", ", GpuMlp.Training.Optimizers.Names)}, each once");
        if (!double.IsFinite(MomentumMin) || !double.IsFinite(MomentumMax) || MomentumMin < 0 || MomentumMax >= 1)
            throw new OptionException($"{source}: momentum must lie in [0, 1) (got [{Num(MomentumMin)}, {Num(MomentumMax)}])");
        if (MomentumMin > MomentumMax)
            throw new OptionException($"{source}: momentum range [{Num(MomentumMin)}, {Num(MomentumMax)}] has min > max");
        if (MomentumMax > 0 && !Optimizers.Any(UsesMomentum))
            throw new OptionException(
                $"{source}: momentum applies to {GpuMlp.Training.Optimizers.JoinNames(MomentumUsers, "and")}; the optimizer list has {(MomentumUsers.Count == 2 ? "neither" : "none of them")}");
        if (WeightDecays is not null && (WeightDecays.Count == 0 || WeightDecays.Any(w => !double.IsFinite(w) || w < 0)))
            throw new OptionException($"{source}: weight_decay must list one or more values >= 0");
        if (WeightDecays is not null && WeightDecays.Distinct().Count() != WeightDecays.Count)
            throw new OptionException($"{source}: weight_decay lists a value twice");
        if (Architectures.Count == 0)
            throw new OptionException($"{source}: arch must list one or more of mlp, cnn or layer stacks");
        foreach (string choice in Architectures)
        {
            if (ResolveArchitecture(choice, schema, source) != choice)
                throw new OptionException($"{source}: arch entry '{choice}' is not resolved (expected mlp, cnn or a stack's canonical text)");
        }
        if (Architectures.Distinct(StringComparer.Ordinal).Count() != Architectures.Count)
            throw new OptionException($"{source}: arch lists a network twice ({string.Join("; ", Architectures)})");
        ValidateRecipe(source);
        Distortion.Validate(source);
        return this;
    }

    /// <summary>Fails when a batch size exceeds the training images left after the split, or the
    /// rows one launch of an architecture choice can hold for data of <paramref name="schema"/>.</summary>
    public void CheckBatchSizes(int trainImages, ImageSchema schema, string source = "search space")
    {
        ArgumentNullException.ThrowIfNull(schema);
        var tooLarge = BatchSizes.Where(b => b > trainImages).ToList();
        if (tooLarge.Count > 0)
            throw new OptionException($"{source}: batch size {string.Join(",", tooLarge)} exceeds the {trainImages} training images left after the validation split");
        foreach (string choice in Architectures)
        {
            if (ArchitectureText(choice) is not string text)
                continue;
            int rowLimit = LayerNetwork.MaxRowsFor(NetworkInput.Parse(text, schema));
            var overLimit = BatchSizes.Where(b => b > rowLimit).ToList();
            if (overLimit.Count > 0)
                throw new OptionException($"{source}: batch size {string.Join(",", overLimit)} is too large for {choice} (at most {rowLimit})");
        }
    }

    /// <summary>The <see cref="TrainingOptions.ArchitectureText"/> of a resolved choice: null for
    /// "mlp", the preset's stack for "cnn", else the choice itself.</summary>
    public static string? ArchitectureText(string choice) => choice switch
    {
        ArchitectureChoice.Mlp => null,
        ArchitectureChoice.Cnn => Architecture.CnnText,
        _ => choice,
    };

    /// <summary>One architecture entry resolved: "mlp" and "cnn" (case ignored) as themselves, a
    /// stack as its canonical text (also when it is the CNN preset's stack: then it trains without
    /// the preset's shifts), checked for data of <paramref name="schema"/>. A bad one is a usage
    /// error starting with <paramref name="source"/>.</summary>
    public static string ResolveArchitecture(string text, ImageSchema schema, string source)
    {
        ArgumentNullException.ThrowIfNull(text);
        try
        {
            string? resolved = ArchitectureChoice.Resolve(text, schema);
            return resolved is null ? ArchitectureChoice.Mlp
                : ArchitectureChoice.IsCnnPreset(text) ? ArchitectureChoice.Cnn
                : resolved;
        }
        catch (ArchitectureException error)
        {
            throw new OptionException($"{source}: {error.Message} (or give a preset: mlp, cnn)");
        }
    }

    /// <summary>A flag's list of architectures: "mlp;cnn;conv3x3x8p1,relu,pool2,flatten,dense10".</summary>
    public static IReadOnlyList<string> ParseArchitectureChoices(string text, ImageSchema schema, string source)
    {
        ArgumentNullException.ThrowIfNull(text);
        var list = text.Split(';', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .Select(part => ResolveArchitecture(part, schema, source)).ToArray();
        if (list.Length == 0)
            throw new OptionException($"{source} must list architectures separated by ';', e.g. mlp;cnn");
        // Duplicates ("cnn" and its text) are named with the flag, not the whole space.
        return new SearchSpace { Architectures = list }.Validate(schema, source).Architectures;
    }

    /// <summary>The schedule, label smoothing and EMA lists: non-empty, each value once, in range.</summary>
    private void ValidateRecipe(string source)
    {
        if (Schedules.Count == 0 || Schedules.Distinct().Count() != Schedules.Count || Schedules.Any(s => !Enum.IsDefined(s)))
            throw new OptionException($"{source}: schedule must list one or more of {string.Join(", ", LearningRateSchedules.All.Select(s => s.Name()))}, each once");
        if (LabelSmoothings.Count == 0 || LabelSmoothings.Distinct().Count() != LabelSmoothings.Count || LabelSmoothings.Any(e => !(e is >= 0 and <= 1)))
            throw new OptionException($"{source}: label_smoothing must list one or more values in [0, 1], each once");
        if (EmaDecays.Count == 0 || EmaDecays.Distinct().Count() != EmaDecays.Count || EmaDecays.Any(d => d is double decay && !(decay is >= 0 and < 1)))
            throw new OptionException($"{source}: ema must list one or more decays in [0, 1) or null (no average), each once");
    }

    /// <summary>"constant;onecycle" (--schedules): schedule names separated by ';' or ','.</summary>
    public static IReadOnlyList<LearningRateSchedule> ParseSchedules(string text, string source)
    {
        ArgumentNullException.ThrowIfNull(text);
        var parts = text.Split([';', ','], StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length == 0)
            throw new OptionException($"{source} must list schedules, e.g. constant;onecycle");
        return [.. parts.Select(p => LearningRateSchedules.Parse(p, source))];
    }

    /// <summary>"off,0.999" (--ema-decays): decays, "off" for no average.</summary>
    public static IReadOnlyList<double?> ParseEmaDecays(string text, string source)
    {
        ArgumentNullException.ThrowIfNull(text);
        var parts = text.Split(',', StringSplitOptions.TrimEntries);
        var decays = new List<double?>();
        foreach (string part in parts)
        {
            if (part.Equals("off", StringComparison.OrdinalIgnoreCase))
                decays.Add(null);
            else if (double.TryParse(part, NumberStyles.Float, CultureInfo.InvariantCulture, out double decay) && double.IsFinite(decay))
                decays.Add(decay);
            else
                throw new OptionException($"{source} must list decays or off, e.g. off,0.999 (got '{text}')");
        }
        return decays;
    }

    private static IReadOnlyList<string> MomentumUsers => GpuMlp.Training.Optimizers.NamesUsing(OptimizerFlags.Momentum);

    private static bool UsesMomentum(OptimizerKind kind) => kind.Definition().Uses(OptimizerFlags.Momentum);

    /// <summary>One configuration. Always draws lr, dropout, batch size, hidden, optimizer, momentum,
    /// weight decay in this order (also for fixed dimensions), so a seed gives the same sequence
    /// whatever is fixed, and the same first four as before the optimiser could be searched. The
    /// architecture is drawn last and only from a list of two or more, so a search with the MLP
    /// alone (the default) samples exactly what it did before architectures could be searched.
    /// A stack trial draws dropout and hidden too (the sequence stays aligned) but does not use them.</summary>
    public TrialConfig Sample(Random random)
    {
        ArgumentNullException.ThrowIfNull(random);
        double u = random.NextDouble();
        double logMin = Math.Log(LearningRateMin), logMax = Math.Log(LearningRateMax);
        double lr = Math.Clamp(RoundSignificant(Math.Exp(logMin + (u * (logMax - logMin))), 3), LearningRateMin, LearningRateMax);
        double v = random.NextDouble();
        double dropout = Math.Clamp(Math.Round(DropoutMin + (v * (DropoutMax - DropoutMin)), 2), DropoutMin, DropoutMax);
        int batch = BatchSizes[random.Next(BatchSizes.Count)];
        var hidden = Hidden[random.Next(Hidden.Count)];
        var kind = Optimizers[random.Next(Optimizers.Count)];
        double w = random.NextDouble();
        double momentum = Math.Clamp(Math.Round(MomentumMin + (w * (MomentumMax - MomentumMin)), 2), MomentumMin, MomentumMax);
        int decay = random.Next(WeightDecays?.Count ?? 1);
        var optimizer = new OptimizerSettings(kind) { LearningRate = (float)lr };
        if (UsesMomentum(kind))
            optimizer = optimizer with { Momentum = (float)momentum };
        if (WeightDecays is not null)
            optimizer = optimizer with { WeightDecay = (float)WeightDecays[decay] };
        string architecture = Architectures.Count > 1 ? Architectures[random.Next(Architectures.Count)] : Architectures[0];
        var trial = ArchitectureText(architecture) is string stack
            ? TrialConfig.Stack(batch, (float)lr, stack, optimizer, ArchitectureChoice.DefaultAugmentShift(architecture))
            : TrialConfig.Mlp(batch, (float)lr, (float)dropout, hidden.ToArray(), optimizer);
        trial = SampleRecipe(random, trial);
        // Drawn last and only when searched, so searches without distortion sample as before.
        return Distortion.IsActive ? trial with { Distortion = Distortion.Sample(random) } : trial;
    }

    /// <summary>The schedule, label smoothing and EMA of <paramref name="trial"/>, drawn in this order
    /// after everything else, each only from a list of two or more.</summary>
    private TrialConfig SampleRecipe(Random random, TrialConfig trial)
    {
        var schedule = Schedules.Count > 1 ? Schedules[random.Next(Schedules.Count)] : Schedules[0];
        double smoothing = LabelSmoothings.Count > 1 ? LabelSmoothings[random.Next(LabelSmoothings.Count)] : LabelSmoothings[0];
        double? ema = EmaDecays.Count > 1 ? EmaDecays[random.Next(EmaDecays.Count)] : EmaDecays[0];
        return trial with
        {
            Schedule = schedule == LearningRateSchedule.Constant ? null : schedule.Name(),
            LabelSmoothing = (float)smoothing,
            EmaDecay = ema is double decay ? (float)decay : null,
        };
    }

    /// <summary>x rounded to <paramref name="digits"/> significant digits.</summary>
    public static double RoundSignificant(double x, int digits)
    {
        if (x == 0 || !double.IsFinite(x))
            return x;
        double scale = Math.Pow(10, digits - 1 - (int)Math.Floor(Math.Log10(Math.Abs(x))));
        return Math.Round(x * scale) / scale;
    }

    /// <summary>The file form (also stored in tune.json).</summary>
    public SearchSpaceDocument ToDocument() => new(
        [LearningRateMin, LearningRateMax],
        [DropoutMin, DropoutMax],
        BatchSizes.ToArray(),
        Hidden.Select(h => string.Join(",", h)).ToArray(),
        Optimizers.Select(k => k.Name()).ToArray(),
        [MomentumMin, MomentumMax],
        WeightDecays?.ToArray(),
        Architectures.ToArray(),
        Distortion.ToDocument())
    {
        Schedule = Schedules is [LearningRateSchedule.Constant] ? null : Schedules.Select(s => s.Name()).ToArray(),
        LabelSmoothing = LabelSmoothings is [0] ? null : LabelSmoothings.ToArray(),
        Ema = EmaDecays is [null] ? null : EmaDecays.ToArray(),
    };

    /// <summary>The stored form read back and checked, its architectures for data of <paramref name="schema"/>.</summary>
    public static SearchSpace FromDocument(SearchSpaceDocument document, ImageSchema schema, string source = "search space")
    {
        ArgumentNullException.ThrowIfNull(document);
        if (document.Lr is not { Count: 1 or 2 } || document.Dropout is not { Count: 1 or 2 } || document.BatchSize is null || document.Hidden is null)
            throw new OptionException($"{source}: lr and dropout need [min, max]; batch_size and hidden need lists");
        return new SearchSpace
        {
            LearningRateMin = document.Lr[0],
            LearningRateMax = document.Lr[^1],
            DropoutMin = document.Dropout[0],
            DropoutMax = document.Dropout[^1],
            BatchSizes = document.BatchSize.ToArray(),
            Hidden = document.Hidden.Select(h => ParseWidths(h, source)).ToArray(),
            Optimizers = document.Optimizer is null ? [OptimizerKind.Adam] : ParseOptimizers(document.Optimizer, source),
            MomentumMin = document.Momentum is { Count: 1 or 2 } m ? m[0] : 0,
            MomentumMax = document.Momentum is { Count: 1 or 2 } n ? n[^1] : 0,
            WeightDecays = document.WeightDecay?.ToArray(),
            Architectures = document.Arch is null ? [ArchitectureChoice.Mlp] : document.Arch.Select(a => ResolveArchitecture(a, schema, $"{source}: arch")).ToArray(),
            Schedules = document.Schedule is null ? [LearningRateSchedule.Constant] : document.Schedule.Select(s => LearningRateSchedules.Parse(s, $"{source}: schedule")).ToArray(),
            LabelSmoothings = document.LabelSmoothing?.ToArray() ?? [0],
            EmaDecays = document.Ema?.ToArray() ?? [null],
            Distortion = DistortionSpace.FromDocument(document.Distortion, source),
        }.Validate(schema, source);
    }

    /// <summary>Reads a search-space file (see the class summary) for data of <paramref name="schema"/>.</summary>
    public static SearchSpace Load(string path, ImageSchema schema)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string source = $"--space {path}";
        if (!File.Exists(path))
            throw new OptionException($"{source}: no such file");
        return Parse(File.ReadAllText(path), schema, source);
    }

    /// <summary>Parses the JSON file form for data of <paramref name="schema"/>; unknown keys, wrong
    /// types, bad ranges and architectures that do not fit the data are errors.</summary>
    public static SearchSpace Parse(string json, ImageSchema schema, string source = "search space")
    {
        ArgumentNullException.ThrowIfNull(json);
        ArgumentNullException.ThrowIfNull(schema);
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        }
        catch (JsonException error)
        {
            throw new OptionException($"{source}: not valid JSON ({error.Message})", error);
        }
        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw new OptionException($"{source}: expected a JSON object like {{\"lr\": [1e-4, 3e-3], \"dropout\": [0.0, 0.5], \"batch_size\": [64, 128, 256], \"hidden\": [\"512,256\"]}}");
            var space = new SearchSpace();
            foreach (var property in root.EnumerateObject())
            {
                var value = property.Value;
                switch (property.Name)
                {
                    case "lr":
                        var (lrMin, lrMax) = Range(value, "lr", source);
                        space = space with { LearningRateMin = lrMin, LearningRateMax = lrMax };
                        break;
                    case "dropout":
                        var (dMin, dMax) = Range(value, "dropout", source);
                        space = space with { DropoutMin = dMin, DropoutMax = dMax };
                        break;
                    case "batch_size":
                        space = space with { BatchSizes = Items(value, "batch_size", source).Select(e => Integer(e, "batch_size", source)).ToArray() };
                        break;
                    case "hidden":
                        space = space with { Hidden = Items(value, "hidden", source).Select(e => HiddenEntry(e, source)).ToArray() };
                        break;
                    case "optimizer":
                        space = space with
                        {
                            Optimizers = ParseOptimizers(Items(value, "optimizer", source).Select(e => e.ValueKind == JsonValueKind.String
                                ? e.GetString() ?? ""
                                : throw new OptionException($"{source}: optimizer entries must be names like \"sgd\" (got {e.GetRawText()})")).ToArray(), source),
                        };
                        break;
                    case "momentum":
                        var (mMin, mMax) = Range(value, "momentum", source);
                        space = space with { MomentumMin = mMin, MomentumMax = mMax };
                        break;
                    case "weight_decay":
                        space = space with
                        {
                            // null (as tune.json stores the default): each optimiser's own.
                            WeightDecays = value.ValueKind == JsonValueKind.Null
                                ? null
                                : value.ValueKind == JsonValueKind.Number
                                ? [Number(value, "weight_decay", source)]
                                : Items(value, "weight_decay", source).Select(e => Number(e, "weight_decay", source)).ToArray(),
                        };
                        break;
                    case "arch":
                        space = space with
                        {
                            Architectures = Items(value, "arch", source).Select(e => e.ValueKind == JsonValueKind.String
                                ? ResolveArchitecture(e.GetString() ?? "", schema, $"{source}: arch")
                                : throw new OptionException($"{source}: arch entries must be strings like \"mlp\", \"cnn\" or \"conv3x3x8p1,relu,pool2,flatten,dense10\" (got {e.GetRawText()})")).ToArray(),
                        };
                        break;
                    case "schedule":
                        space = space with
                        {
                            Schedules = Items(value, "schedule", source).Select(e => e.ValueKind == JsonValueKind.String
                                ? LearningRateSchedules.Parse(e.GetString() ?? "", $"{source}: schedule")
                                : throw new OptionException($"{source}: schedule entries must be names like \"onecycle\" (got {e.GetRawText()})")).ToArray(),
                        };
                        break;
                    case "label_smoothing":
                        space = space with
                        {
                            LabelSmoothings = value.ValueKind == JsonValueKind.Number
                                ? [Number(value, "label_smoothing", source)]
                                : Items(value, "label_smoothing", source).Select(e => Number(e, "label_smoothing", source)).ToArray(),
                        };
                        break;
                    case "ema":
                        space = space with
                        {
                            // null entries: no average.
                            EmaDecays = value.ValueKind is JsonValueKind.Number or JsonValueKind.Null
                                ? [value.ValueKind == JsonValueKind.Null ? null : Number(value, "ema", source)]
                                : Items(value, "ema", source).Select(e => e.ValueKind == JsonValueKind.Null ? (double?)null : Number(e, "ema", source)).ToArray(),
                        };
                        break;
                    case "rotate" or "scale" or "shear" or "translate" or "elastic_alpha" or "elastic_sigma":
                        var (low, high) = Range(value, property.Name, source);
                        space = space with { Distortion = space.Distortion.WithRange(property.Name, low, high) };
                        break;
                    default:
                        throw new OptionException($"{source}: unknown key '{property.Name}' (use lr, dropout, batch_size, hidden, optimizer, momentum, weight_decay, arch, schedule, label_smoothing, ema, {string.Join(", ", DistortionSpace.Keys)})");
                }
            }
            return space.Validate(schema, source);
        }
    }

    /// <summary>A flag's range: "1e-4,3e-3" or one number for a fixed value.</summary>
    public static (double Min, double Max) ParseRange(string text, string source)
    {
        ArgumentNullException.ThrowIfNull(text);
        var parts = text.Split(',', StringSplitOptions.TrimEntries);
        if (parts.Length is < 1 or > 2)
            throw new OptionException($"{source} must be MIN,MAX or one value (got '{text}')");
        var values = new double[parts.Length];
        for (int i = 0; i < parts.Length; i++)
        {
            if (!double.TryParse(parts[i], NumberStyles.Float, CultureInfo.InvariantCulture, out values[i]) || !double.IsFinite(values[i]))
                throw new OptionException($"{source} must be MIN,MAX or one value (got '{text}')");
        }
        return (values[0], values[^1]);
    }

    /// <summary>A list of optimiser names: "adam,sgd" (a flag) or the file's entries.</summary>
    public static IReadOnlyList<OptimizerKind> ParseOptimizers(IEnumerable<string> names, string source)
    {
        ArgumentNullException.ThrowIfNull(names);
        var kinds = new List<OptimizerKind>();
        foreach (string name in names)
        {
            try
            {
                kinds.Add(GpuMlp.Training.Optimizers.Parse(name));
            }
            catch (ArgumentException)
            {
                throw new OptionException($"{source}: optimizer must be {GpuMlp.Training.Optimizers.JoinNames(GpuMlp.Training.Optimizers.Names, "or")} (got '{name}')");
            }
        }
        return kinds;
    }

    /// <summary>A flag's list of numbers: "0,1e-4,1e-2".</summary>
    public static IReadOnlyList<double> ParseNumberList(string text, string source)
    {
        ArgumentNullException.ThrowIfNull(text);
        var result = new List<double>();
        foreach (var part in text.Split(',', StringSplitOptions.TrimEntries))
        {
            if (!double.TryParse(part, NumberStyles.Float, CultureInfo.InvariantCulture, out double value) || !double.IsFinite(value))
                throw new OptionException($"{source} must be numbers separated by commas (got '{text}')");
            result.Add(value);
        }
        return result;
    }

    /// <summary>A flag's list of positive integers: "64,128,256".</summary>
    public static IReadOnlyList<int> ParseIntList(string text, string source)
    {
        ArgumentNullException.ThrowIfNull(text);
        var result = new List<int>();
        foreach (var part in text.Split(',', StringSplitOptions.TrimEntries))
        {
            if (!int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out int value) || value < 1)
                throw new OptionException($"{source} must be positive integers separated by commas (got '{text}')");
            result.Add(value);
        }
        return result;
    }

    /// <summary>A flag's list of networks: "512,256;256,128".</summary>
    public static IReadOnlyList<IReadOnlyList<int>> ParseHiddenChoices(string text, string source)
    {
        ArgumentNullException.ThrowIfNull(text);
        return text.Split(';', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .Select(part => ParseWidths(part, source)).ToArray() is { Length: > 0 } list
            ? list
            : throw new OptionException($"{source} must list networks separated by ';', e.g. 512,256;256,128");
    }

    private static IReadOnlyList<int> ParseWidths(string text, string source)
    {
        var widths = new List<int>();
        foreach (var part in text.Split(',', StringSplitOptions.TrimEntries))
        {
            if (!int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out int width) || width < 1 || width > MaxHiddenWidth)
                throw new OptionException($"{source}: hidden widths must be integers in 1..{MaxHiddenWidth} separated by commas (got '{text}')");
            widths.Add(width);
        }
        return widths;
    }

    private static (double Min, double Max) Range(JsonElement value, string key, string source)
    {
        if (value.ValueKind == JsonValueKind.Number)
        {
            double fixedValue = Number(value, key, source);
            return (fixedValue, fixedValue);
        }
        var items = Items(value, key, source);
        if (items.Count != 2)
            throw new OptionException($"{source}: {key} must be [min, max] or one number (got {items.Count} values)");
        return (Number(items[0], key, source), Number(items[1], key, source));
    }

    private static List<JsonElement> Items(JsonElement value, string key, string source)
    {
        if (value.ValueKind != JsonValueKind.Array)
            throw new OptionException($"{source}: {key} must be a JSON array");
        var items = value.EnumerateArray().ToList();
        if (items.Count == 0)
            throw new OptionException($"{source}: {key} must not be empty");
        return items;
    }

    private static double Number(JsonElement value, string key, string source) =>
        value.ValueKind == JsonValueKind.Number && value.TryGetDouble(out double d) && double.IsFinite(d)
            ? d
            : throw new OptionException($"{source}: {key} values must be numbers (got {value.GetRawText()})");

    private static int Integer(JsonElement value, string key, string source) =>
        value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out int i)
            ? i
            : throw new OptionException($"{source}: {key} values must be integers (got {value.GetRawText()})");

    private static IReadOnlyList<int> HiddenEntry(JsonElement value, string source) => value.ValueKind switch
    {
        JsonValueKind.String => ParseWidths(value.GetString() ?? "", source),
        JsonValueKind.Array => value.EnumerateArray().Select(e => Integer(e, "hidden", source)).ToArray(),
        JsonValueKind.Number => [Integer(value, "hidden", source)],
        _ => throw new OptionException($"{source}: hidden entries must be strings like \"512,256\" or arrays like [512, 256] (got {value.GetRawText()})"),
    };

    private static string Num(double value) => value.ToString(CultureInfo.InvariantCulture);
}

/// <summary>The search space as stored: lr and dropout [min, max], batch sizes, hidden "512,256",
/// optimiser names, momentum [min, max] and weight decay values (null in searches saved before the
/// optimiser could be searched: adam, no momentum, the default weight decay), and the architectures
/// ("mlp", "cnn" or a stack's canonical text; null in searches saved before architectures could be
/// searched: the MLP alone), and the distortion ranges searched (key -> [min, max]; absent: none).</summary>
public sealed record SearchSpaceDocument(
    IReadOnlyList<double> Lr,
    IReadOnlyList<double> Dropout,
    IReadOnlyList<int> BatchSize,
    IReadOnlyList<string> Hidden,
    IReadOnlyList<string>? Optimizer = null,
    IReadOnlyList<double>? Momentum = null,
    IReadOnlyList<double>? WeightDecay = null,
    IReadOnlyList<string>? Arch = null,
    [property: System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    IReadOnlyDictionary<string, IReadOnlyList<double>>? Distortion = null)
{
    /// <summary>Schedule names (null: constant alone, as in searches saved before schedules could be searched).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyList<string>? Schedule { get; init; }

    /// <summary>Label smoothing values (null: 0 alone).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyList<double>? LabelSmoothing { get; init; }

    /// <summary>EMA decays, null entries for no average (null: no average alone).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyList<double?>? Ema { get; init; }
}
