// The weights' exponential moving average (--ema): WeightAverageKernels.ExponentialAverageKernel
// against a float64 transcription of timm's ModelEmaV2 update (ema = decay * ema + (1 - decay) * w),
// the CPU SIMD kernel bit for bit against the portable one (standalone and in a fused program), and
// the average inside a real training run: started from the initial weights, updated after every
// optimiser step, used for validation and as the model, the training step still one launch.
using GpuMlp.Compute;
using GpuMlp.Tests.Data;
using GpuMlp.Tests.Reference;
using GpuMlp.Training;

namespace GpuMlp.Tests.Kernels;

[Collection(DeviceCollection.Name)]
public sealed class WeightAverageTests(DeviceFixture fixture)
{
    /// <summary>timm ModelEmaV2._update with decay d: ema_v * d + (1 - d) * model_v, in float64.</summary>
    private static void TimmEmaUpdate(double[] average, ReadOnlySpan<float> weights, double decay)
    {
        for (int i = 0; i < average.Length; i++)
            average[i] = (average[i] * decay) + ((1 - decay) * weights[i]);
    }

    /// <summary>Five updates of 1001 values (not a multiple of any vector), each with new weights,
    /// against the float64 transcription. Each update rounds two products and a sum (3 u relative to
    /// the larger term, values ~1) and carries the previous error times decay, so 5 updates stay
    /// within 2e-6 absolute and relative; the views sit between NaN guards.</summary>
    [Theory]
    [InlineData(0.9f)]
    [InlineData(0.999f)]
    [InlineData(0f)]
    public void ExponentialAverage_FiveUpdates_MatchesTimmTranscription(float decay)
    {
        var set = fixture.Main;
        const int count = 1001;
        var random = new Random(3);
        float[] start = TestData.Uniform(random, count);
        double[] expected = NaiveReference.ToDouble(start);
        using var average = set.Accelerator.Input(start);
        for (int t = 0; t < 5; t++)
        {
            float[] weights = TestData.Uniform(random, count);
            using var w = set.Accelerator.Input(weights);
            set.Kernels.ExponentialAverage(average.View, w.View, count, decay);
            TimmEmaUpdate(expected, weights, decay);
            Compare.AllClose(average.Download("average"), expected, 2e-6, 2e-6, $"{set.Name} average after update {t + 1} (decay {decay})");
            Assert.Equal(weights, w.Download("weights"));
        }
    }

    public static TheoryData<CpuSimdRequest> Paths() => [CpuSimdRequest.Vector512, CpuSimdRequest.Vector256, CpuSimdRequest.Scalar];

    /// <summary>The SIMD kernel multiplies, multiplies and adds in the portable kernel's order, none
    /// fused: four updates (odd ones standalone, even ones recorded in a fused scope) give the
    /// portable kernel's bits.</summary>
    [Theory]
    [MemberData(nameof(Paths))]
    public void ExponentialAverage_AnyPathStandaloneAndFused_GivesThePortableKernelsBits(CpuSimdRequest path)
    {
        const int count = 1001;
        var random = new Random(19);
        float[] start = TestData.Uniform(random, count);
        float[][] weights = [.. Enumerable.Range(0, 4).Select(_ => TestData.Uniform(random, count))];
        float[] Run(KernelSet set)
        {
            using var average = set.Accelerator.Input(start);
            for (int t = 0; t < weights.Length; t++)
            {
                using var w = set.Accelerator.Input(weights[t]);
                using (t % 2 == 1 ? set.Kernels.FuseLaunches() : default(DeviceKernels.FusedLaunches?))
                    set.Kernels.ExponentialAverage(average.View, w.View, count, 0.97f);
            }
            return average.Download("average");
        }
        float[] simd = Run(fixture.Cpu(path));
        float[] portable = Run(fixture.Cpu(CpuSimdRequest.Off));
        Assert.Equal(portable.Select(BitConverter.SingleToInt32Bits), simd.Select(BitConverter.SingleToInt32Bits));
        Assert.NotEqual(start, simd);
    }

    private static readonly TrainingOptions Tiny = new()
    {
        Epochs = 1,
        BatchSize = 50,
        LimitTrain = 400,
        ValidationSplit = 0.25,
        Hidden = [12],
        Seed = 8,
        EmaDecay = 0.8f,
        ProgressUpdatesPerEpoch = 1,
    };

    /// <summary>In a real run the average starts at the initial weights and takes every step's
    /// weights (the float64 transcription fed the weights read after each step); validation
    /// evaluates the average (the same figures as a network holding the average) and leaves the
    /// live weights in place; ModelParameters is the average. Without --ema the model is the network.</summary>
    [Fact]
    public void Trainer_WithEma_AveragesEveryStepAndValidatesTheAverage()
    {
        var set = fixture.Main;
        var data = RealMnist.Load();
        using var trainer = new Trainer(set.KernelDevice, data, Tiny);
        Assert.True(trainer.AveragesWeights);
        double[] expected = NaiveReference.ToDouble(trainer.Network.GetParameters());
        Assert.Equal(trainer.Network.GetParameters(), trainer.ModelParameters());
        int calls = 0;
        // One progress call after each step, then one for the finished epoch.
        trainer.TrainEpoch(1, progress: _ =>
        {
            if (calls++ < trainer.StepsPerEpoch)
                TimmEmaUpdate(expected, trainer.Network.GetParameters(), Tiny.EmaDecay!.Value);
        }, cancel: TestContext.Current.CancellationToken);
        Assert.Equal(trainer.StepsPerEpoch + 1, calls);
        Assert.Equal(trainer.StepsPerEpoch, trainer.Optimizer.Steps);
        float[] live = trainer.Network.GetParameters();
        float[] model = trainer.ModelParameters();
        Compare.AllClose(model, expected, 1e-5, 1e-5, "the trainer's average vs the transcription fed each step's weights");
        Assert.NotEqual(live, model);

        var validation = trainer.EvaluateValidation();
        Assert.Equal(live, trainer.Network.GetParameters());
        trainer.Network.SetParameters(model);
        using var plain = new Trainer(set.KernelDevice, data, Tiny with { EmaDecay = null });
        plain.Network.SetParameters(model);
        var direct = plain.EvaluateValidation();
        Assert.Equal(direct.Loss, validation.Loss);
        Assert.Equal(direct.Accuracy, validation.Accuracy);
        Assert.False(plain.AveragesWeights);
        Assert.Equal(plain.Network.GetParameters(), plain.ModelParameters());
    }

    /// <summary>With --ema and --label-smoothing the real training step is still one launch on the
    /// CPU SIMD set (the average's update joins the fused program).</summary>
    [Fact]
    public void TrainerStep_WithEmaAndLabelSmoothing_IsOneLaunch()
    {
        KernelSet set = fixture.Cpu(CpuSimdRequest.Vector256);
        using var trainer = new Trainer(set.KernelDevice, RealMnist.Load(), Tiny with { ValidationSplit = 0, LimitTrain = 280, LabelSmoothing = 0.1f });
        var launchesPerStep = new List<long>();
        long last = set.Kernels.CpuLaunches;
        trainer.TrainEpoch(1, progress: p =>
        {
            if (p.SamplesDone == p.SamplesPerEpoch && launchesPerStep.Count == trainer.StepsPerEpoch)
                return;
            launchesPerStep.Add(set.Kernels.CpuLaunches - last);
            last = set.Kernels.CpuLaunches;
        }, cancel: TestContext.Current.CancellationToken);
        Assert.Equal(Enumerable.Repeat(1L, trainer.StepsPerEpoch), launchesPerStep);
    }
}
