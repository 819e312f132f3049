// The per-step learning-rate schedules (TrainingOptions.HyperparametersAt, OneCycleSettings.At)
// against a transcription of torch 1.13's lr_scheduler written here from its source (OneCycleLR's
// phase table and _annealing_cos/_annealing_linear; LinearLR, CosineAnnealingLR and LinearLR-to-0
// chained by SequentialLR, in their closed forms), and that transcription against torch itself:
// the literals below are bench/reference/torch_schedules.py's output
// (bench/results/2026-12-07-torch-schedules.txt). Then the optimisers with a per-step beta1/momentum
// against the float64 torch.optim reference, the schedule inside a real training run (each step's
// rate reaches the optimiser; a resumed run is bit-identical), and the refusals.
using GpuMlp.Data;
using GpuMlp.Tests.Data;
using GpuMlp.Tests.Kernels;
using GpuMlp.Tests.Reference;
using GpuMlp.Training;

namespace GpuMlp.Tests.Training;

[Collection(DeviceCollection.Name)]
public sealed class StepScheduleTests(DeviceFixture fixture) : IDisposable
{
    private readonly TempDir dir = new();

    public void Dispose() => dir.Dispose();

    /// <summary>torch computes in float64 as the transcription does; both follow the same formulas,
    /// so they differ by rounding only (a few ulps of float64).</summary>
    private const double TorchRtol = 1e-12;

    /// <summary>The product rounds the float64 rate to float32 once: half an ulp, 2^-24 relative,
    /// plus the float64 rounding differences of two independent transcriptions.</summary>
    private const double FloatRtol = 6.0e-8;

    /// <summary>OneCycleLR as torch 1.13 writes it (lr_scheduler.py), step_num = last_epoch = the
    /// number of optimiser steps taken before this one: returns (lr, momentum) or momentum null when
    /// cycle_momentum is off.</summary>
    private static (double Lr, double? Momentum) TorchOneCycle(int stepNum, int totalSteps, double maxLr, double pctStart = 0.3,
        string annealStrategy = "cos", bool cycleMomentum = true, double baseMomentum = 0.85, double maxMomentum = 0.95,
        double divFactor = 25.0, double finalDivFactor = 1e4, bool threePhase = false)
    {
        double initialLr = maxLr / divFactor;
        double minLr = initialLr / finalDivFactor;
        var lrs = new Dictionary<string, double> { ["initial_lr"] = initialLr, ["max_lr"] = maxLr, ["min_lr"] = minLr };
        var momenta = new Dictionary<string, double> { ["max_momentum"] = maxMomentum, ["base_momentum"] = baseMomentum };
        var phases = threePhase
            ? new (double EndStep, string StartLr, string EndLr, string StartMomentum, string EndMomentum)[]
            {
                ((pctStart * totalSteps) - 1, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                ((2 * pctStart * totalSteps) - 2, "max_lr", "initial_lr", "base_momentum", "max_momentum"),
                (totalSteps - 1, "initial_lr", "min_lr", "max_momentum", "max_momentum"),
            }
            : new (double EndStep, string StartLr, string EndLr, string StartMomentum, string EndMomentum)[]
            {
                ((pctStart * totalSteps) - 1, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                (totalSteps - 1, "max_lr", "min_lr", "base_momentum", "max_momentum"),
            };
        Func<double, double, double, double> anneal = annealStrategy == "cos"
            ? (start, end, pct) => end + ((start - end) / 2.0 * (Math.Cos(Math.PI * pct) + 1))
            : (start, end, pct) => ((end - start) * pct) + start;
        double startStep = 0;
        for (int i = 0; i < phases.Length; i++)
        {
            double endStep = phases[i].EndStep;
            if (stepNum <= endStep || i == phases.Length - 1)
            {
                double pct = (stepNum - startStep) / (endStep - startStep);
                double lr = anneal(lrs[phases[i].StartLr], lrs[phases[i].EndLr], pct);
                double? momentum = cycleMomentum ? anneal(momenta[phases[i].StartMomentum], momenta[phases[i].EndMomentum], pct) : null;
                return (lr, momentum);
            }
            startStep = phases[i].EndStep;
        }
        throw new InvalidOperationException("unreachable");
    }

    /// <summary>SequentialLR([LinearLR(start_factor, 1, warmup), decay], milestones=[warmup]) at step
    /// t in closed form: LinearLR's base_lr (s + (1 − s) min(W, t) / W), then at t ≥ W the decay's
    /// closed form at t − W over T − W steps: CosineAnnealingLR (eta_min 0) η/2 (1 + cos(π k / T_max)),
    /// LinearLR(1 → 0) η (1 − min(k, n) / n), or none.</summary>
    private static double TorchWarmupThen(int t, int total, double baseLr, int warmup, double startFactor, string decay)
    {
        if (t < warmup)
            return baseLr * (startFactor + ((1.0 - startFactor) * Math.Min(warmup, t) / warmup));
        int k = t - warmup, span = total - warmup;
        return decay switch
        {
            "cosine" => baseLr * (1 + Math.Cos(Math.PI * k / span)) / 2,
            "linear" => baseLr * (1.0 + ((0.0 - 1.0) * Math.Min(span, k) / span)),
            "constant" => baseLr,
            _ => throw new ArgumentOutOfRangeException(nameof(decay), decay, "no such decay"),
        };
    }

    /// <summary>OneCycleLR cos 20 {}: (lr, beta1) per step</summary>
    private static readonly double[] OneCycleCos20 =
    [
        0.0003999999999999993, 0.95,
        0.0013167184270002508, 0.9404508497187474,
        0.003716718427000252, 0.9154508497187474,
        0.006683281572999748, 0.8845491502812526,
        0.009083281572999747, 0.8595491502812526,
        0.01, 0.85,
        0.009874640062350875, 0.8512536043909088,
        0.009504846320134737, 0.854951556604879,
        0.0089091617757105, 0.8609084258765984,
        0.008117456539497631, 0.8688255099070633,
        0.007169430017913008, 0.878305813044122,
        0.0061126202193628925, 0.8888739533021842,
        0.00500002, 0.8999999999999999,
        0.003887419780637108, 0.9111260466978157,
        0.0028306099820869924, 0.9216941869558779,
        0.00188258346050237, 0.9311744900929366,
        0.0010908782242895004, 0.9390915741234015,
        0.0004951936798652628, 0.945048443395121,
        0.00012539993764912555, 0.9487463956090911,
        4e-08, 0.95,
    ];

    /// <summary>OneCycleLR linear 20 {'anneal_strategy': 'linear'}: (lr, beta1) per step</summary>
    private static readonly double[] OneCycleLinear20 =
    [
        0.0004, 0.95,
        0.0023200000000000004, 0.9299999999999999,
        0.004240000000000001, 0.9099999999999999,
        0.0061600000000000005, 0.89,
        0.00808, 0.87,
        0.01, 0.85,
        0.009285717142857143, 0.8571428571428571,
        0.008571434285714287, 0.8642857142857142,
        0.007857151428571428, 0.8714285714285714,
        0.007142868571428571, 0.8785714285714286,
        0.0064285857142857145, 0.8857142857142857,
        0.005714302857142858, 0.8928571428571428,
        0.00500002, 0.8999999999999999,
        0.004285737142857143, 0.9071428571428571,
        0.0035714542857142855, 0.9142857142857143,
        0.0028571714285714287, 0.9214285714285714,
        0.002142888571428572, 0.9285714285714285,
        0.001428605714285715, 0.9357142857142857,
        0.0007143228571428566, 0.9428571428571428,
        3.999999999976245e-08, 0.95,
    ];

    /// <summary>OneCycleLR cos 20 pct 0.25 div 10 final 100 {'pct_start': 0.25, 'div_factor': 10.0, 'final_div_factor': 100.0}: (lr, beta1) per step</summary>
    private static readonly double[] OneCycleCos20Pct025Div10Final100 =
    [
        0.0009999999999999992, 0.95,
        0.002318019484660536, 0.9353553390593273,
        0.0055, 0.8999999999999999,
        0.008681980515339464, 0.8646446609406726,
        0.01, 0.85,
        0.009890847265665359, 0.8510926199633096,
        0.00956815956092479, 0.8543227271178699,
        0.009046039886902862, 0.8595491502812526,
        0.008347307378762497, 0.8665434696820571,
        0.0075025000000000005, 0.875,
        0.006548539886902863, 0.8845491502812526,
        0.005527119674021929, 0.8947735768366173,
        0.004482880325978072, 0.9052264231633826,
        0.0034614601130971384, 0.9154508497187474,
        0.0025075000000000015, 0.9249999999999999,
        0.001662692621237505, 0.9334565303179428,
        0.0009639601130971381, 0.9404508497187474,
        0.0004418404390752082, 0.94567727288213,
        0.0001191527343346406, 0.9489073800366903,
        1e-05, 0.95,
    ];

    /// <summary>OneCycleLR cos 20 three_phase {'three_phase': True}: (lr, beta1) per step</summary>
    private static readonly double[] OneCycleCos20ThreePhase =
    [
        0.0003999999999999993, 0.95,
        0.0013167184270002508, 0.9404508497187474,
        0.003716718427000252, 0.9154508497187474,
        0.006683281572999748, 0.8845491502812526,
        0.009083281572999747, 0.8595491502812526,
        0.01, 0.85,
        0.009083281572999749, 0.8595491502812526,
        0.0066832815729997485, 0.8845491502812526,
        0.0037167184270002532, 0.9154508497187474,
        0.0013167184270002528, 0.9404508497187474,
        0.0004, 0.95,
        0.000387939730304766, 0.95,
        0.00035321356773493324, 0.95,
        0.00030001, 0.95,
        0.0002347461625698328, 0.95,
        0.0001652938374301673, 0.95,
        0.00010003000000000006, 0.95,
        4.68264322650668e-05, 0.95,
        1.2100269695234055e-05, 0.95,
        4e-08, 0.95,
    ];

    /// <summary>OneCycleLR cos 7 {}: (lr, beta1) per step</summary>
    private static readonly double[] OneCycleCos7 =
    [
        0.0003999999999999993, 0.95,
        0.009805566273349588, 0.8520253513192751,
        0.009190443762697106, 0.858095594755408,
        0.00672683836480545, 0.8827317472789346,
        0.003577387757396571, 0.9142263793315516,
        0.0009929679189326559, 0.9400706810933978,
        4e-08, 0.95,
    ];

    /// <summary>OneCycleLR cos 20 no momentum {'cycle_momentum': False}: (lr, beta1) per step</summary>
    private static readonly double[] OneCycleCos20NoMomentum =
    [
        0.0003999999999999993, 0.7,
        0.0013167184270002508, 0.7,
        0.003716718427000252, 0.7,
        0.006683281572999748, 0.7,
        0.009083281572999747, 0.7,
        0.01, 0.7,
        0.009874640062350875, 0.7,
        0.009504846320134737, 0.7,
        0.0089091617757105, 0.7,
        0.008117456539497631, 0.7,
        0.007169430017913008, 0.7,
        0.0061126202193628925, 0.7,
        0.00500002, 0.7,
        0.003887419780637108, 0.7,
        0.0028306099820869924, 0.7,
        0.00188258346050237, 0.7,
        0.0010908782242895004, 0.7,
        0.0004951936798652628, 0.7,
        0.00012539993764912555, 0.7,
        4e-08, 0.7,
    ];

    /// <summary>SequentialLR(LinearLR(start_factor=0.25, total_iters=5), cosine) over 20 steps, lr 0.1</summary>
    private static readonly double[] WarmupCosine20 =
    [
        0.025,
        0.04000000000000001,
        0.05500000000000001,
        0.07,
        0.085,
        0.1,
        0.09890738003669029,
        0.09567727288213004,
        0.09045084971874738,
        0.08345653031794292,
        0.07500000000000001,
        0.06545084971874739,
        0.05522642316338269,
        0.04477357683661735,
        0.03454915028125265,
        0.02500000000000002,
        0.01654346968205711,
        0.009549150281252635,
        0.004322727117869953,
        0.001092619963309716,
    ];

    /// <summary>SequentialLR(LinearLR(start_factor=0.25, total_iters=5), linear) over 20 steps, lr 0.1</summary>
    private static readonly double[] WarmupLinear20 =
    [
        0.025,
        0.04000000000000001,
        0.05500000000000001,
        0.07,
        0.085,
        0.1,
        0.09333333333333334,
        0.08666666666666667,
        0.08,
        0.07333333333333333,
        0.06666666666666667,
        0.06,
        0.05333333333333333,
        0.04666666666666666,
        0.04,
        0.03333333333333333,
        0.02666666666666667,
        0.02,
        0.013333333333333336,
        0.006666666666666668,
    ];


    /// <summary>The transcription gives torch's own numbers, step by step, in every configuration
    /// recorded (lr and beta1; with cycle_momentum off beta1 stays the optimiser's 0.7).</summary>
    [Fact]
    public void TorchOneCycleTranscription_RecordedTorchRuns_MatchesEveryStep()
    {
        var cases = new (double[] Torch, int Total, Func<int, (double, double?)> Reference)[]
        {
            (OneCycleCos20, 20, t => TorchOneCycle(t, 20, 0.01)),
            (OneCycleLinear20, 20, t => TorchOneCycle(t, 20, 0.01, annealStrategy: "linear")),
            (OneCycleCos20Pct025Div10Final100, 20, t => TorchOneCycle(t, 20, 0.01, pctStart: 0.25, divFactor: 10, finalDivFactor: 100)),
            (OneCycleCos20ThreePhase, 20, t => TorchOneCycle(t, 20, 0.01, threePhase: true)),
            (OneCycleCos7, 7, t => TorchOneCycle(t, 7, 0.01)),
            (OneCycleCos20NoMomentum, 20, t => TorchOneCycle(t, 20, 0.01, cycleMomentum: false)),
        };
        foreach (var (torch, total, reference) in cases)
        {
            Assert.Equal(2 * total, torch.Length);
            var lr = new double[total];
            var beta1 = new double[total];
            for (int t = 0; t < total; t++)
            {
                var (rate, momentum) = reference(t);
                lr[t] = rate;
                beta1[t] = momentum ?? 0.7;
            }
            Compare.AllClose(lr, Column(torch, 0), 0, TorchRtol, $"OneCycle of {total} steps: lr");
            Compare.AllClose(beta1, Column(torch, 1), 0, TorchRtol, $"OneCycle of {total} steps: beta1");
        }
        for (int t = 0; t < 20; t++)
        {
            Assert.True(Math.Abs(TorchWarmupThen(t, 20, 0.1, 5, 0.25, "cosine") - WarmupCosine20[t]) <= TorchRtol * WarmupCosine20[t], $"warm-up then cosine, step {t}");
            Assert.True(Math.Abs(TorchWarmupThen(t, 20, 0.1, 5, 0.25, "linear") - WarmupLinear20[t]) <= TorchRtol * WarmupLinear20[t], $"warm-up then linear, step {t}");
        }
    }

    private static double[] Column(double[] pairs, int column) => [.. pairs.Where((_, i) => i % 2 == column)];

    public static TheoryData<string> OneCycleConfigurations() =>
        ["torch", "linear", "pct-0.25-div-10-final-100", "three-phase", "no-momentum", "momentum-0.8-0.9", "pct-0", "pct-1", "linear-three-phase"];

    private static OneCycleSettings OneCycleConfiguration(string name) => name switch
    {
        "torch" => new(),
        "linear" => new() { Anneal = AnnealStrategy.Linear },
        "pct-0.25-div-10-final-100" => new() { PctStart = 0.25, DivFactor = 10, FinalDivFactor = 100 },
        "three-phase" => new() { ThreePhase = true },
        "no-momentum" => new() { CycleMomentum = false },
        "momentum-0.8-0.9" => new() { BaseMomentum = 0.8, MaxMomentum = 0.9 },
        "pct-0" => new() { PctStart = 0 },
        "pct-1" => new() { PctStart = 1 },
        "linear-three-phase" => new() { Anneal = AnnealStrategy.Linear, ThreePhase = true, PctStart = 0.2 },
        _ => throw new ArgumentOutOfRangeException(nameof(name), name, "no such configuration"),
    };

    /// <summary>The product's OneCycle (the options' float32 --lr as max_lr, 3 epochs of 7 steps and
    /// other lengths) equals the transcription at every step: the rate each step gets, rounded once
    /// to float32, and the momentum.</summary>
    [Theory]
    [MemberData(nameof(OneCycleConfigurations))]
    public void HyperparametersAt_OneCycle_MatchesTheTorchTranscriptionEveryStep(string configuration)
    {
        var oneCycle = OneCycleConfiguration(configuration);
        foreach (var (epochs, stepsPerEpoch) in new[] { (3, 7), (1, 20), (2, 1), (5, 13) })
        {
            int total = epochs * stepsPerEpoch;
            if (oneCycle.Problem(total) is not null)
                continue;
            var options = new TrainingOptions
            {
                Epochs = epochs,
                Schedule = LearningRateSchedule.OneCycle,
                OneCycle = oneCycle,
                Optimizer = new OptimizerSettings(OptimizerKind.Adam) { LearningRate = 0.01f, Beta1 = 0.7f, Beta2 = 0.9f },
            };
            double maxLr = options.Optimizer.LearningRate;
            for (int t = 0; t < total; t++)
            {
                var expected = TorchOneCycle(t, total, maxLr, oneCycle.PctStart, oneCycle.Anneal == AnnealStrategy.Cos ? "cos" : "linear", oneCycle.CycleMomentum,
                    oneCycle.BaseMomentum, oneCycle.MaxMomentum, oneCycle.DivFactor, oneCycle.FinalDivFactor, oneCycle.ThreePhase);
                var (rate, momentum) = oneCycle.At(t, total, maxLr);
                string where = $"{configuration}, step {t} of {total}";
                Assert.True(Math.Abs(rate - expected.Lr) <= TorchRtol * expected.Lr, $"{where}: lr {rate} vs {expected.Lr}");
                var step = options.HyperparametersAt(t, stepsPerEpoch);
                Assert.True(Math.Abs(step.LearningRate - expected.Lr) <= FloatRtol * expected.Lr, $"{where}: float lr {step.LearningRate} vs {expected.Lr}");
                Assert.Equal(expected.Momentum is null, step.Momentum is null);
                if (expected.Momentum is double m)
                    Assert.True(Math.Abs(step.Momentum!.Value - m) <= FloatRtol * m, $"{where}: momentum {step.Momentum} vs {m}");
            }
        }
    }

    /// <summary>Warm-up then decay (constant, linear, cosine-steps) equals SequentialLR's closed form
    /// at every step, for several warm-up lengths and start factors, and without a warm-up.</summary>
    [Theory]
    [InlineData("constant")]
    [InlineData("linear")]
    [InlineData("cosine-steps")]
    public void HyperparametersAt_WarmupThenDecay_MatchesTheTorchTranscriptionEveryStep(string schedule)
    {
        var kind = LearningRateSchedules.Parse(schedule);
        string decay = schedule == "cosine-steps" ? "cosine" : schedule;
        foreach (var (warmup, startFactor) in new[] { (0, (double?)null), (5, 0.25), (1, null), (12, 0.01), (20, 1.0) })
        {
            if (kind == LearningRateSchedule.Constant && warmup == 0)
                continue;
            var options = new TrainingOptions
            {
                Epochs = 3,
                Schedule = kind,
                WarmupSteps = warmup,
                WarmupStartFactor = startFactor,
                Optimizer = new OptimizerSettings(OptimizerKind.Sgd) { LearningRate = 0.1f },
            };
            Assert.True(options.SchedulesPerStep);
            double baseLr = options.Optimizer.LearningRate;
            for (int t = 0; t < 21; t++)
            {
                double expected = TorchWarmupThen(t, 21, baseLr, warmup, startFactor ?? (1.0 / 3), decay);
                var step = options.HyperparametersAt(t, 7);
                Assert.True(Math.Abs(step.LearningRate - expected) <= (FloatRtol * expected) + 1e-30, $"{schedule}, warm-up {warmup}, step {t}: {step.LearningRate} vs {expected}");
                Assert.Null(step.Momentum);
            }
        }
    }

    /// <summary>The per-epoch schedules are not per step, and keep their rates.</summary>
    [Fact]
    public void SchedulesPerStep_EpochSchedulesWithoutWarmup_IsFalse()
    {
        foreach (var schedule in new[] { LearningRateSchedule.Constant, LearningRateSchedule.Step, LearningRateSchedule.Cosine })
            Assert.False(new TrainingOptions { Schedule = schedule }.SchedulesPerStep);
        Assert.True(new TrainingOptions { WarmupSteps = 3 }.SchedulesPerStep);
        Assert.Equal(["constant", "step", "cosine", "onecycle", "linear", "cosine-steps"], LearningRateSchedules.All.Select(s => s.Name()));
    }

    public static TheoryData<string> CycledOptimizers() => ["adam", "adamw", "sgd-momentum", "sgd-nesterov", "rmsprop-momentum"];

    private static OptimizerSettings CycledOptimizer(string name) => name switch
    {
        "adam" => new(OptimizerKind.Adam) { LearningRate = 1e-2f, Beta1 = 0.7f, Beta2 = 0.9f },
        "adamw" => new(OptimizerKind.AdamW) { LearningRate = 1e-2f, WeightDecay = 0.3f },
        "sgd-momentum" => new(OptimizerKind.Sgd) { LearningRate = 0.05f, Momentum = 0.9f, Dampening = 0.2f, WeightDecay = 0.1f },
        "sgd-nesterov" => new(OptimizerKind.Sgd) { LearningRate = 0.05f, Momentum = 0.9f, Nesterov = true },
        "rmsprop-momentum" => new(OptimizerKind.Rmsprop) { Momentum = 0.5f, Centered = true },
        _ => throw new ArgumentOutOfRangeException(nameof(name), name, "no such optimizer"),
    };

    /// <summary>A beta1/momentum set per step (as OneCycle's cycle_momentum does) reaches the update
    /// and Adam's bias correction: six steps against the float64 torch.optim reference given the same
    /// per-step values; with none given the step is the settings' own (bit-identical to the plain call).</summary>
    [Theory]
    [MemberData(nameof(CycledOptimizers))]
    public void OptimizerStep_MomentumSetPerStep_MatchesTorchReference(string name)
    {
        var set = fixture.Main;
        var settings = CycledOptimizer(name);
        const int count = 257;
        var random = new Random(5);
        float[] initial = TestData.Uniform(random, count);
        var reference = new TorchOptimizerReference(settings, NaiveReference.ToDouble(initial));
        using var optimizer = new DeviceOptimizer(set.Kernels, settings, count);
        using var p = set.Accelerator.Input(initial);
        float[] momenta = [0.95f, 0.9f, 0.85f, 0.87f, 0.93f, 0.95f];
        for (int t = 1; t <= momenta.Length; t++)
        {
            float[] gradients = TestData.Gradients(random, count);
            float learningRate = settings.LearningRate * (1f - (0.1f * (t - 1)));
            using var g = set.Accelerator.Input(gradients);
            optimizer.Step(p.View, g.View, learningRate, momenta[t - 1]);
            reference.Step(NaiveReference.ToDouble(gradients), learningRate, momenta[t - 1]);
            Compare.AllClose(p.Download("parameters"), reference.Parameters, Tolerance.OptimizerParameters(set.Backend), $"{name} after step {t}: parameters");
            foreach (string state in optimizer.StateNames)
            {
                double[] expected = reference.State[state];
                Compare.AllClose(optimizer.GetState(state), expected, Tolerance.OptimizerState(set.Backend, expected.Max(Math.Abs)), $"{name} after step {t}: {state}");
            }
        }
    }

    private static readonly TrainingOptions Tiny = new()
    {
        Epochs = 2,
        BatchSize = 50,
        LimitTrain = 400,
        ValidationSplit = 0.25,
        Hidden = [12],
        Seed = 4,
        Schedule = LearningRateSchedule.OneCycle,
        Optimizer = new OptimizerSettings(OptimizerKind.Adam) { LearningRate = 0.01f, Beta1 = 0.7f, Beta2 = 0.9f },
    };

    /// <summary>In a real run every step's rate reaches the optimiser: the trainer's last rate is the
    /// schedule's for the last step (OneCycle ends at min_lr), the SGD run without --momentum keeps
    /// the momentum buffer OneCycle's cycle needs (as torch's OneCycleLR sets momentum on its group),
    /// and a run stopped mid-epoch and resumed from its checkpoint ends with the uninterrupted run's
    /// weights bit for bit.</summary>
    [Theory]
    [InlineData("onecycle-adam")]
    [InlineData("onecycle-sgd")]
    [InlineData("warmup-cosine-steps")]
    [InlineData("ema-label-smoothing")]
    public void TrainingRun_PerStepScheduleInterruptedAndResumed_IsBitIdenticalToAnUninterruptedRun(string name)
    {
        var options = name switch
        {
            "onecycle-adam" => Tiny,
            "onecycle-sgd" => Tiny with { Optimizer = new OptimizerSettings(OptimizerKind.Sgd) { LearningRate = 0.05f }, OneCycle = new() { ThreePhase = true } },
            "ema-label-smoothing" => Tiny with { EmaDecay = 0.9f, LabelSmoothing = 0.1f },
            _ => Tiny with { Schedule = LearningRateSchedule.CosineSteps, WarmupSteps = 4, OneCycle = null },
        };
        options.Validate(RealMnist.Load().Schema, RealMnist.Load().Train.Count);
        var cancel = TestContext.Current.CancellationToken;
        using var data = new DeviceImageDataset(fixture.Device.Accelerator, RealMnist.Load());
        string straight = Path.Combine(dir.Path, name + "-straight"), stopped = Path.Combine(dir.Path, name + "-stopped");
        using (var run = TrainingRun.Start(straight, options, fixture.KernelDevice, data))
        {
            run.Train(cancel: cancel);
            int steps = run.Trainer.StepsPerEpoch;
            Assert.Equal(options.Epochs * steps, run.Trainer.Optimizer.Steps);
            Assert.Equal(options.HyperparametersAt((options.Epochs * steps) - 1, steps).LearningRate, run.Trainer.LearningRate);
            Assert.Equal(options.EffectiveOptimizer.StateNames, run.Trainer.Optimizer.StateNames);
        }
        using (var run = TrainingRun.Start(stopped, options, fixture.KernelDevice, data))
        {
            using var stop = new CancellationTokenSource();
            Assert.Throws<TrainingInterruptedException>(() => run.Train(progress: p =>
            {
                if (p.Epoch == 2 && p.SamplesDone == 2 * options.BatchSize)
                    stop.Cancel();
            }, cancel: stop.Token));
        }
        var interrupted = Checkpoint.Load(Path.Combine(stopped, Checkpoint.FileName));
        Assert.True(interrupted.State.Options.SameTrajectory(options), "the checkpoint keeps the schedule");
        using (var resumed = TrainingRun.Resume(stopped, interrupted, fixture.KernelDevice, data))
            resumed.Train(cancel: cancel);
        var a = Checkpoint.Load(Path.Combine(straight, Checkpoint.FileName));
        var b = Checkpoint.Load(Path.Combine(stopped, Checkpoint.FileName));
        Assert.True(a.Parameters.AsSpan().SequenceEqual(b.Parameters), $"{name}: resumed weights differ from the uninterrupted run");
        Assert.Equal(a.AverageParameters, b.AverageParameters);
        Assert.Equal(options.EmaDecay is not null, a.AverageParameters is not null);
        Assert.Equal(a.State.History.Select(e => (e.TrainLoss, e.ValLoss)), b.State.History.Select(e => (e.TrainLoss, e.ValLoss)));
        Assert.False(a.Continues(options with { Epochs = 3 }), "a per-step schedule's rates depend on the epoch count");
    }

    /// <summary>SGD without momentum under OneCycle trains with the cycled momentum: the effective
    /// settings carry max_momentum, so the momentum buffer is kept (torch's OneCycleLR writes
    /// max_momentum into the group); Adam's beta1 is replaced the same way; off leaves them alone.</summary>
    [Fact]
    public void EffectiveOptimizer_OneCycleWithCycleMomentum_StartsAtMaxMomentum()
    {
        var sgd = new TrainingOptions { Schedule = LearningRateSchedule.OneCycle, Optimizer = new OptimizerSettings(OptimizerKind.Sgd) };
        Assert.Equal(0.95f, sgd.EffectiveOptimizer.Momentum);
        Assert.Equal([Optimizers.MomentumBuffer], sgd.EffectiveOptimizer.StateNames);
        Assert.Equal(0.95f, Tiny.EffectiveOptimizer.Beta1);
        Assert.Equal(0.9f, Tiny.EffectiveOptimizer.Beta2);
        Assert.Same(Tiny.Optimizer, (Tiny with { OneCycle = new() { CycleMomentum = false } }).EffectiveOptimizer);
        Assert.Same(Tiny.Optimizer, (Tiny with { Schedule = LearningRateSchedule.Linear }).EffectiveOptimizer);
    }

    public static TheoryData<string, string> Refusals() => new()
    {
        { "onecycle-settings-without-onecycle", "the OneCycle options apply to --lr-schedule onecycle, not cosine" },
        { "pct-negative", "--onecycle-pct must be in [0, 1]" },
        { "div-0", "--div-factor must be a positive number" },
        { "final-div-nan", "--final-div-factor must be a positive number" },
        { "momentum-range-reversed", "--base-momentum and --max-momentum must satisfy 0 <= base <= max < 1" },
        { "warmup-negative", "--warmup-steps must be at least 0" },
        { "warmup-with-step", "--warmup-steps applies to the constant, linear and cosine-steps schedules, not step" },
        { "warmup-with-onecycle", "--warmup-steps applies to the constant, linear and cosine-steps schedules, not onecycle" },
        { "start-factor-without-warmup", "--warmup-start-factor needs --warmup-steps" },
        { "start-factor-0", "--warmup-start-factor must be in (0, 1]" },
        { "warmup-longer-than-run", "--warmup-steps 18 leaves no step to decay over: this run has 18 steps" },
        { "pct-one-step-warmup", "--onecycle-pct 0.5 of 2 steps leaves a warm-up of one step" },
        { "label-smoothing-negative", "--label-smoothing must be in [0, 1]" },
        { "ema-1", "--ema must be a decay in [0, 1)" },
    };

    /// <summary>Every setting out of range is a one-line usage error naming its flag, where options
    /// are validated (with the data's size for the checks that need the step count: 300 training
    /// images in batches of 50 over 3 epochs are 18 steps).</summary>
    [Theory]
    [MemberData(nameof(Refusals))]
    public void Validate_SettingOutOfRange_IsAOneLineUsageError(string name, string message)
    {
        var options = new TrainingOptions { Epochs = 3, BatchSize = 50, LimitTrain = 300, ValidationSplit = 0, Hidden = [8] };
        var oneCycle = options with { Schedule = LearningRateSchedule.OneCycle };
        var bad = name switch
        {
            "onecycle-settings-without-onecycle" => options with { Schedule = LearningRateSchedule.Cosine, OneCycle = new() },
            "pct-negative" => oneCycle with { OneCycle = new() { PctStart = -0.1 } },
            "div-0" => oneCycle with { OneCycle = new() { DivFactor = 0 } },
            "final-div-nan" => oneCycle with { OneCycle = new() { FinalDivFactor = double.NaN } },
            "momentum-range-reversed" => oneCycle with { OneCycle = new() { BaseMomentum = 0.95, MaxMomentum = 0.85 } },
            "warmup-negative" => options with { WarmupSteps = -1 },
            "warmup-with-step" => options with { Schedule = LearningRateSchedule.Step, WarmupSteps = 2 },
            "warmup-with-onecycle" => oneCycle with { WarmupSteps = 2 },
            "start-factor-without-warmup" => options with { WarmupStartFactor = 0.5 },
            "start-factor-0" => options with { WarmupSteps = 2, WarmupStartFactor = 0 },
            "warmup-longer-than-run" => options with { Schedule = LearningRateSchedule.Linear, WarmupSteps = 18 },
            "pct-one-step-warmup" => oneCycle with { Epochs = 1, BatchSize = 150, OneCycle = new() { PctStart = 0.5 } },
            "label-smoothing-negative" => options with { LabelSmoothing = -0.1f },
            "ema-1" => options with { EmaDecay = 1f },
            _ => throw new ArgumentOutOfRangeException(nameof(name), name, "no such case"),
        };
        var error = Assert.Throws<OptionException>(() => bad.Validate(MnistDataset.Schema, 300));
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', error.Message);
    }
}
