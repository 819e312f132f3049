using GpuMlp.Metrics;

namespace GpuMlp.Tests.Metrics;

public sealed class ClassificationReportTests
{
    private const double Tol = 1e-12;

    [Fact]
    public void FromConfusion_HandComputedThreeClassExample_MatchesByHand()
    {
        //             pred0 pred1 pred2 | support
        //   true0:      5     1     0   |   6
        //   true1:      2     6     2   |  10
        //   true2:      0     1     3   |   4
        //   predicted:  7     8     5   |  20 total, trace 14
        var report = ClassificationReport.FromConfusion(new long[,]
        {
            { 5, 1, 0 },
            { 2, 6, 2 },
            { 0, 1, 3 },
        });

        Assert.Equal(3, report.Classes);
        Assert.Equal(20, report.Total);
        Assert.Equal(14.0 / 20, report.Accuracy, Tol);

        // P = tp/predicted, R = tp/support, F1 = 2tp/(predicted + support).
        // class 0: P 5/7, R 5/6, F1 10/13
        // class 1: P 6/8, R 6/10, F1 12/18 = 2/3
        // class 2: P 3/5, R 3/4, F1 6/9 = 2/3
        AssertClass(report.PerClass[0], 0, 5.0 / 7, 5.0 / 6, 10.0 / 13, 6);
        AssertClass(report.PerClass[1], 1, 6.0 / 8, 6.0 / 10, 2.0 / 3, 10);
        AssertClass(report.PerClass[2], 2, 3.0 / 5, 3.0 / 4, 2.0 / 3, 4);

        // Macro P = (5/7 + 3/4 + 3/5)/3 = (100 + 105 + 84)/140/3 = 289/420
        // Macro R = (5/6 + 3/5 + 3/4)/3 = (50 + 36 + 45)/60/3  = 131/180
        // Macro F1 = (10/13 + 2/3 + 2/3)/3 = (30 + 52)/39/3    = 82/117
        Assert.Equal(289.0 / 420, report.MacroPrecision, Tol);
        Assert.Equal(131.0 / 180, report.MacroRecall, Tol);
        Assert.Equal(82.0 / 117, report.MacroF1, Tol);

        // Weighted P = (6*5/7 + 10*3/4 + 4*3/5)/20 = (30/7 + 99/10)/20 = 993/70/20 = 993/1400
        // Weighted R = (5 + 6 + 3)/20 = 14/20 (= accuracy)
        // Weighted F1 = (6*10/13 + 10*2/3 + 4*2/3)/20 = (60/13 + 28/3)/20 = 544/39/20 = 136/195
        Assert.Equal(993.0 / 1400, report.WeightedPrecision, Tol);
        Assert.Equal(14.0 / 20, report.WeightedRecall, Tol);
        Assert.Equal(136.0 / 195, report.WeightedF1, Tol);

        // Macro F1 is the mean of per-class F1, not the harmonic mean of macro P and R.
        double harmonic = 2 * report.MacroPrecision * report.MacroRecall / (report.MacroPrecision + report.MacroRecall);
        Assert.NotEqual(harmonic, report.MacroF1, 1e-6);
    }

    [Fact]
    public void FromConfusion_PerfectClassifier_ScoresOneEverywhere()
    {
        var report = ClassificationReport.FromConfusion(new long[,]
        {
            { 4, 0, 0, 0 },
            { 0, 7, 0, 0 },
            { 0, 0, 1, 0 },
            { 0, 0, 0, 9 },
        });

        Assert.Equal(1.0, report.Accuracy);
        Assert.All(report.PerClass, c =>
        {
            Assert.Equal(1.0, c.Precision);
            Assert.Equal(1.0, c.Recall);
            Assert.Equal(1.0, c.F1);
        });
        Assert.Equal(1.0, report.MacroPrecision, Tol);
        Assert.Equal(1.0, report.MacroRecall, Tol);
        Assert.Equal(1.0, report.MacroF1, Tol);
        Assert.Equal(1.0, report.WeightedPrecision, Tol);
        Assert.Equal(1.0, report.WeightedRecall, Tol);
        Assert.Equal(1.0, report.WeightedF1, Tol);
    }

    [Fact]
    public void FromConfusion_ClassNeverPredicted_HasZeroPrecisionNotNaN()
    {
        // Class 2 has support 3 but nothing is ever predicted as 2.
        var report = ClassificationReport.FromConfusion(new long[,]
        {
            { 3, 0, 0 },
            { 1, 2, 0 },
            { 2, 1, 0 },
        });

        ClassMetrics c2 = report.PerClass[2];
        Assert.Equal(0.0, c2.Precision);
        Assert.Equal(0.0, c2.Recall);
        Assert.Equal(0.0, c2.F1);
        Assert.Equal(3, c2.Support);
        AssertAllFinite(report);

        // Class 0: P 3/6, R 1, F1 2/3; class 1: P 2/3, R 2/3, F1 2/3; class 2 contributes 0.
        Assert.Equal((0.5 + 2.0 / 3 + 0) / 3, report.MacroPrecision, Tol);
        Assert.Equal((2.0 / 3 + 2.0 / 3 + 0) / 3, report.MacroF1, Tol);
    }

    [Fact]
    public void FromConfusion_ClassWithZeroSupport_HasZeroRecallAndNoWeight()
    {
        // Class 1 never occurs but is predicted once (a false positive).
        var report = ClassificationReport.FromConfusion(new long[,]
        {
            { 4, 1, 0 },
            { 0, 0, 0 },
            { 0, 0, 5 },
        });

        ClassMetrics c1 = report.PerClass[1];
        Assert.Equal(0, c1.Support);
        Assert.Equal(0.0, c1.Precision);
        Assert.Equal(0.0, c1.Recall);
        Assert.Equal(0.0, c1.F1);
        AssertAllFinite(report);

        // Macro averages still count the empty class (dragging them down) ...
        Assert.Equal((1.0 + 0 + 1.0) / 3, report.MacroPrecision, Tol);
        // ... but weighted averages give it zero weight: class 0 R = 4/5, class 2 R = 1.
        Assert.Equal((5 * 0.8 + 5 * 1.0) / 10, report.WeightedRecall, Tol);
        Assert.Equal(0.9, report.Accuracy, Tol);
    }

    [Fact]
    public void FromConfusion_EmptyMatrix_ReportsZerosNotNaN()
    {
        var report = ClassificationReport.FromConfusion(new long[2, 2]);
        Assert.Equal(0, report.Total);
        Assert.Equal(0.0, report.Accuracy);
        Assert.Equal(0.0, report.WeightedF1);
        AssertAllFinite(report);
    }

    [Fact]
    public void FromConfusion_RandomMatrices_AccuracyEqualsWeightedRecall()
    {
        for (int seed = 0; seed < 1000; seed++)
        {
            var rng = new Random(seed);
            int n = rng.Next(1, 13);
            var confusion = new long[n, n];
            long trace = 0, total = 0;
            for (int t = 0; t < n; t++)
            {
                for (int p = 0; p < n; p++)
                {
                    // Roughly a third zeros so empty rows/columns (zero support / never predicted) occur.
                    long c = rng.Next(3) == 0 ? 0 : rng.Next(0, 1000);
                    confusion[t, p] = c;
                    total += c;
                    if (t == p)
                    {
                        trace += c;
                    }
                }
            }

            var report = ClassificationReport.FromConfusion(confusion);
            double expectedAccuracy = total == 0 ? 0 : (double)trace / total;

            Assert.Equal(total, report.Total);
            Assert.Equal(expectedAccuracy, report.Accuracy, Tol);
            // Σ support_k · (tp_k / support_k) / total = trace / total.
            Assert.Equal(report.Accuracy, report.WeightedRecall, 1e-9);
            Assert.Equal(report.PerClass.Average(c => c.F1), report.MacroF1, Tol);
            Assert.Equal(total, report.PerClass.Sum(c => c.Support));
            AssertAllFinite(report);
        }
    }

    [Fact]
    public void FromPredictions_SameData_MatchesFromConfusion()
    {
        byte[] truth = [0, 0, 1, 1, 1, 2, 2, 2, 2];
        byte[] predicted = [0, 1, 1, 1, 2, 2, 2, 0, 2];

        var report = ClassificationReport.FromPredictions(truth, predicted, 3);
        long[,] expected =
        {
            { 1, 1, 0 },
            { 0, 2, 1 },
            { 1, 0, 3 },
        };

        Assert.Equal(expected, report.Confusion);
        Assert.Equal(6.0 / 9, report.Accuracy, Tol);
        Assert.Equal(ClassificationReport.FromConfusion(expected).MacroF1, report.MacroF1, Tol);
    }

    [Fact]
    public void Confusion_Read_IsACopyAndRowsAreJagged()
    {
        long[,] source = { { 1, 2 }, { 3, 4 } };
        var report = ClassificationReport.FromConfusion(source);

        source[0, 0] = 100;
        long[,] copy = report.Confusion;
        copy[1, 1] = 100;
        Assert.Equal(1, report.Confusion[0, 0]);
        Assert.Equal(4, report.Confusion[1, 1]);

        long[][] rows = report.ConfusionRows();
        Assert.Equal([1L, 2L], rows[0]);
        Assert.Equal([3L, 4L], rows[1]);
    }

    [Fact]
    public void FromConfusion_InvalidInputs_ThrowArgumentException()
    {
        Assert.Throws<ArgumentException>(() => ClassificationReport.FromConfusion(new long[2, 3]));
        Assert.Throws<ArgumentException>(() => ClassificationReport.FromConfusion(new long[0, 0]));
        Assert.Throws<ArgumentException>(() => ClassificationReport.FromConfusion(new long[,] { { 1, -1 }, { 0, 2 } }));
        Assert.Throws<ArgumentNullException>(() => ClassificationReport.FromConfusion(null!));

        Assert.Throws<ArgumentException>(() => ClassificationReport.FromPredictions([0, 1], [0], 2));
        Assert.ThrowsAny<ArgumentException>(() => ClassificationReport.FromPredictions([0], [0], 0));
        Assert.ThrowsAny<ArgumentException>(() => ClassificationReport.FromPredictions([0], [0], 257));
        Assert.Throws<ArgumentException>(() => ClassificationReport.FromPredictions([0, 2], [0, 1], 2));
        Assert.Throws<ArgumentException>(() => ClassificationReport.FromPredictions([0, 1], [0, 2], 2));
    }

    private static void AssertClass(ClassMetrics actual, int label, double precision, double recall, double f1, long support)
    {
        Assert.Equal(label, actual.Label);
        Assert.Equal(precision, actual.Precision, Tol);
        Assert.Equal(recall, actual.Recall, Tol);
        Assert.Equal(f1, actual.F1, Tol);
        Assert.Equal(support, actual.Support);
    }

    private static void AssertAllFinite(ClassificationReport r)
    {
        double[] all =
        [
            r.Accuracy, r.MacroPrecision, r.MacroRecall, r.MacroF1,
            r.WeightedPrecision, r.WeightedRecall, r.WeightedF1,
            .. r.PerClass.SelectMany(c => new[] { c.Precision, c.Recall, c.F1 }),
        ];
        Assert.All(all, v => Assert.True(double.IsFinite(v) && v >= 0 && v <= 1, $"metric out of [0,1]: {v}"));
    }

    [Fact]
    public void ConfusionLines_DigitNames_HeaderOfNamesThenOneRowPerTrueClass()
    {
        var report = ClassificationReport.FromConfusion(new long[,] { { 980, 0, 3 }, { 1, 1135, 0 }, { 7, 2, 1020 } });
        Assert.Equal(
            [
                "      0     1     2",
                "0   980     0     3",
                "1     1  1135     0",
                "2     7     2  1020",
            ],
            report.ConfusionLines(["0", "1", "2"]));
    }

    [Fact]
    public void ConfusionLines_LongNames_AreCutWithAnEllipsis()
    {
        var report = ClassificationReport.FromConfusion(new long[,] { { 5, 1 }, { 0, 12 } });
        var lines = report.ConfusionLines(["cat", "hippopotamus"], maxNameWidth: 8);
        Assert.Equal(
            [
                "               cat  hippopo…",
                "cat" + new string(' ', 14) + "5         1",
                "hippopo…         0        12",
            ],
            lines);
        Assert.All(lines, line => Assert.True(line.Length <= 8 + (2 * (2 + 8)), line));
        Assert.Throws<ArgumentException>(() => report.ConfusionLines(["cat"]));
    }
}
