using System.Collections;
using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using BenchmarkDotNet.Attributes;

namespace GpuMlp.Bench;

/// <summary>`--smoke`: every benchmark case once through GlobalSetup, three calls of each
/// benchmark method and GlobalCleanup, without BenchmarkDotNet. A fast check that every case
/// runs on every device (seconds, not minutes); the times are single calls, not measurements.</summary>
public static class Smoke
{
    public static readonly Type[] Types = [typeof(GemmBenchmarks), typeof(CpuSimdGemmBenchmarks), typeof(CpuDeviceShapeBenchmarks), typeof(LayerBenchmarks), typeof(AdamBenchmarks), typeof(StepBenchmarks), typeof(ConvBenchmarks)];

    public static int Run(TextWriter output)
    {
        int failures = 0;
        foreach (var type in Types)
        {
            var parameters = type.GetProperties()
                .Select(p => (Property: p, Values: Values(type, p)))
                .Where(p => p.Values is not null)
                .ToList();
            var methods = type.GetMethods().Where(m => m.GetCustomAttribute<BenchmarkAttribute>() is not null).ToList();
            var setup = type.GetMethods().Single(m => m.GetCustomAttribute<GlobalSetupAttribute>() is not null);
            var cleanup = type.GetMethods().Single(m => m.GetCustomAttribute<GlobalCleanupAttribute>() is not null);
            foreach (var combination in Cartesian(parameters.Select(p => p.Values!).ToList()))
            {
                object instance = Activator.CreateInstance(type)!;
                for (int i = 0; i < parameters.Count; i++)
                    parameters[i].Property.SetValue(instance, combination[i]);
                string label = $"{type.Name}[{string.Join(", ", parameters.Select((p, i) => $"{p.Property.Name}={combination[i]}"))}]";
                try
                {
                    setup.Invoke(instance, null);
                    foreach (var method in methods)
                    {
                        double last = 0;
                        for (int call = 0; call < 3; call++)
                        {
                            var watch = Stopwatch.StartNew();
                            method.Invoke(instance, null);
                            last = watch.Elapsed.TotalMilliseconds;
                        }
                        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"ok   {label}.{method.Name}: {last:F3} ms"));
                    }
                }
                catch (TargetInvocationException error) when (error.InnerException is not null)
                {
                    failures++;
                    output.WriteLine($"FAIL {label}: {error.InnerException}");
                }
                finally
                {
                    cleanup.Invoke(instance, null);
                }
            }
        }
        output.WriteLine(failures == 0 ? "smoke: every case ran" : $"smoke: {failures} case(s) failed");
        return failures == 0 ? 0 : 1;
    }

    private static List<object?>? Values(Type type, PropertyInfo property)
    {
        if (property.GetCustomAttribute<ParamsAttribute>() is { } values)
            return [.. values.Values];
        if (property.GetCustomAttribute<ParamsSourceAttribute>() is { } source)
            return [.. ((IEnumerable)type.GetMethod(source.Name)!.Invoke(null, null)!).Cast<object?>()];
        if (property.GetCustomAttribute<ParamsAllValuesAttribute>() is not null)
            return [.. Enum.GetValues(property.PropertyType).Cast<object?>()];
        return null;
    }

    private static IEnumerable<object?[]> Cartesian(List<List<object?>> sets)
    {
        IEnumerable<object?[]> result = [[]];
        foreach (var set in sets)
            result = result.SelectMany(prefix => set.Select(value => (object?[])[.. prefix, value]));
        return result;
    }
}
