using System.Reflection;
using System.Text.RegularExpressions;

namespace GpuMlp.Tests;

/// <summary>Every test is named Subject_Condition_Outcome: three PascalCase parts, e.g.
/// Checkpoint_TruncatedFile_IsAFormatError.</summary>
public sealed partial class TestNamingTests
{
    [GeneratedRegex("^[A-Z][A-Za-z0-9]*_[A-Z][A-Za-z0-9]*_[A-Z][A-Za-z0-9]*$")]
    private static partial Regex SubjectConditionOutcome();

    [Fact]
    public void TestMethods_EveryOne_IsNamedSubjectConditionOutcome()
    {
        var tests = typeof(TestNamingTests).Assembly.GetTypes()
            .SelectMany(type => type.GetMethods(BindingFlags.Public | BindingFlags.Instance | BindingFlags.DeclaredOnly))
            .Where(method => method.GetCustomAttributes<FactAttribute>().Any())
            .Select(method => $"{method.DeclaringType!.Name}.{method.Name}")
            .ToList();
        // Theories count too (TheoryAttribute is a FactAttribute).
        Assert.Contains("KernelCodegenTests.Kernel_PtxBackend_Compiles", tests);
        var misnamed = tests.Where(test => !SubjectConditionOutcome().IsMatch(test[(test.IndexOf('.', StringComparison.Ordinal) + 1)..]))
            .Order(StringComparer.Ordinal)
            .ToList();
        Assert.True(misnamed.Count == 0, $"not named Subject_Condition_Outcome: {string.Join(", ", misnamed)}");
    }
}
