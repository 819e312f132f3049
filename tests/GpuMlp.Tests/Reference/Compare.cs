using System.Globalization;
using System.Text;

namespace GpuMlp.Tests.Reference;

/// <summary>Element-wise comparison of kernel results against float64 references, with failure
/// messages that say where and by how much.</summary>
public static class Compare
{
    private const int ShownMismatches = 5;

    /// <summary>Passes when |actual[i] - expected[i]| &lt;= atol + rtol * |expected[i]| for every i.
    /// NaN or infinity in actual (or expected) is always a mismatch. On failure the message gives the
    /// number of mismatches, the worst one (largest excess over its tolerance) and the first five.
    /// With columns &gt; 0 indices are also shown as [row, column] of a row-major matrix.</summary>
    public static void AllClose(
        ReadOnlySpan<float> actual, ReadOnlySpan<double> expected, double atol, double rtol, string what, int columns = 0)
    {
        var widened = new double[actual.Length];
        for (int i = 0; i < actual.Length; i++)
            widened[i] = actual[i];
        AllClose(widened, expected, atol, rtol, what, columns);
    }

    public static void AllClose(ReadOnlySpan<float> actual, ReadOnlySpan<double> expected, Tol tolerance, string what, int columns = 0) =>
        AllClose(actual, expected, tolerance.Atol, tolerance.Rtol, what, columns);

    /// <summary>The same check for results that are already float64 (the evaluation partial sums).</summary>
    public static void AllClose(
        ReadOnlySpan<double> actual, ReadOnlySpan<double> expected, double atol, double rtol, string what, int columns = 0)
    {
        if (actual.Length != expected.Length)
            Assert.Fail($"{what}: length {actual.Length}, expected {expected.Length}");

        int mismatches = 0;
        int worst = -1;
        double worstExcess = double.NegativeInfinity;
        var first = new StringBuilder();
        for (int i = 0; i < actual.Length; i++)
        {
            double a = actual[i], r = expected[i];
            double tolerance = atol + (rtol * Math.Abs(r));
            double difference = Math.Abs(a - r);
            // Written so that NaN (in either) fails: every comparison with NaN is false.
            if (difference <= tolerance && double.IsFinite(a))
                continue;
            double excess = double.IsFinite(difference) ? difference - tolerance : double.PositiveInfinity;
            if (worst < 0 || excess > worstExcess)
            {
                worst = i;
                worstExcess = excess;
            }
            if (mismatches < ShownMismatches)
                first.Append(CultureInfo.InvariantCulture, $" {Index(i, columns)}: {Format(a)} vs {Format(r)};");
            mismatches++;
        }
        if (mismatches == 0)
            return;

        double wa = actual[worst], wr = expected[worst];
        Assert.Fail(string.Create(CultureInfo.InvariantCulture,
            $"{what}: {mismatches} of {actual.Length} elements differ by more than atol {atol:G3} + rtol {rtol:G3} * |expected|. " +
            $"Worst {Index(worst, columns)}: actual {Format(wa)}, expected {Format(wr)}, |diff| {Math.Abs(wa - wr):G4} " +
            $"(tolerance {atol + (rtol * Math.Abs(wr)):G4}). First mismatches (actual vs expected):{first}"));
    }

    private static string Index(int i, int columns) =>
        columns > 0
            ? string.Create(CultureInfo.InvariantCulture, $"[{i}] = [{i / columns}, {i % columns}]")
            : string.Create(CultureInfo.InvariantCulture, $"[{i}]");

    private static string Format(double value) => value.ToString("G9", CultureInfo.InvariantCulture);
}
