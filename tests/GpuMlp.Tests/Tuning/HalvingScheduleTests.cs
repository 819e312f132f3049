using GpuMlp.Tuning;

namespace GpuMlp.Tests.Tuning;

public sealed class HalvingScheduleTests
{
    [Fact]
    public void Schedule_EightTrialsEtaThreeUpToTwentyEpochs_HasTheDocumentedRungs()
    {
        var schedule = new HalvingSchedule(trials: 8, eta: 3, minEpochs: 1, maxEpochs: 20);
        Assert.Equal([(1, 8), (3, 2), (9, 1), (20, 1)], schedule.Rungs.Select(r => (r.Epochs, r.Trials)));
        Assert.Equal([0, 1, 2, 3], schedule.Rungs.Select(r => r.Index));
        Assert.Equal((8 * 1) + (2 * 2) + (1 * 6) + (1 * 11), schedule.PlannedEpochs);
    }

    [Fact]
    public void Schedule_EtaTwo_HalvesTrialsAndDoublesEpochs()
    {
        var schedule = new HalvingSchedule(trials: 16, eta: 2, minEpochs: 2, maxEpochs: 16);
        Assert.Equal([(2, 16), (4, 8), (8, 4), (16, 2)], schedule.Rungs.Select(r => (r.Epochs, r.Trials)));
        Assert.Equal((16 * 2) + (8 * 2) + (4 * 4) + (2 * 8), schedule.PlannedEpochs);
    }

    [Fact]
    public void Schedule_LastRung_IsCappedAtMaxEpochs()
    {
        var schedule = new HalvingSchedule(trials: 27, eta: 3, minEpochs: 1, maxEpochs: 10);
        Assert.Equal([(1, 27), (3, 9), (9, 3), (10, 1)], schedule.Rungs.Select(r => (r.Epochs, r.Trials)));
    }

    [Theory]
    [InlineData(5, 5)]
    [InlineData(8, 5)]
    public void Schedule_MinEpochsAtLeastMax_IsPlainRandomSearch(int minEpochs, int maxEpochs)
    {
        if (minEpochs > maxEpochs)
        {
            Assert.Throws<OptionException>(() => new HalvingSchedule(6, 3, minEpochs, maxEpochs));
            return;
        }
        var schedule = new HalvingSchedule(6, 3, minEpochs, maxEpochs);
        Assert.Equal([(5, 6)], schedule.Rungs.Select(r => (r.Epochs, r.Trials)));
        Assert.Equal(30, schedule.PlannedEpochs);
    }

    [Theory]
    [InlineData(9, 3, 3)]
    [InlineData(8, 3, 2)]
    [InlineData(2, 3, 1)]
    [InlineData(1, 2, 1)]
    [InlineData(0, 2, 0)]
    [InlineData(7, 2, 3)]
    public void Promoted_AnyRung_IsTheTopOneOverEtaAndAtLeastOne(int entered, int eta, int promoted) =>
        Assert.Equal(promoted, new HalvingSchedule(10, eta, 1, 9).Promoted(entered));

    [Fact]
    public void Schedule_OneTrial_StillRunsEveryRung()
    {
        var schedule = new HalvingSchedule(1, 3, 1, 9);
        Assert.Equal([(1, 1), (3, 1), (9, 1)], schedule.Rungs.Select(r => (r.Epochs, r.Trials)));
        Assert.Equal(9, schedule.PlannedEpochs);
    }

    [Theory]
    [InlineData(0, 3, 1, 20, "--trials")]
    [InlineData(8, 1, 1, 20, "--eta")]
    [InlineData(8, 11, 1, 20, "--eta")]
    [InlineData(8, 3, 0, 20, "--min-epochs")]
    [InlineData(8, 3, 4, 3, "--max-epochs")]
    public void Schedule_BadSettings_AreRejectedNamingTheFlag(int trials, int eta, int minEpochs, int maxEpochs, string flag)
    {
        var error = Assert.Throws<OptionException>(() => new HalvingSchedule(trials, eta, minEpochs, maxEpochs));
        Assert.StartsWith(flag, error.Message, StringComparison.Ordinal);
    }
}
