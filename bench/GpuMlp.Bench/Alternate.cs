using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using BenchmarkDotNet.Attributes;

namespace GpuMlp.Bench;

/// <summary>--alternate CLASS[:Property=Value,...][@Case,...] ROUNDS: every [Benchmark] method of one
/// benchmark class (or the cases named after @), its parameters at their defaults or as assigned, called in turn,
/// round after round, each call timed alone (it synchronises the device itself). On a machine whose
/// load drifts, alternating spreads the drift over every case alike, where BenchmarkDotNet runs one
/// case after the other; the minimum over rounds is the case's time on a quiet moment, the median
/// its typical time. Writes a markdown table: case, min, median, max (ms).</summary>
internal static class Alternate
{
    public static int Run(string classAndParameters, int rounds, TextWriter output)
    {
        string[] selection = classAndParameters.Split('@', 2);
        string[] parts = selection[0].Split(':', 2);
        string className = parts[0];
        Type? type = typeof(Alternate).Assembly.GetTypes().FirstOrDefault(t => t.Name == className);
        if (type is null)
        {
            Console.Error.WriteLine($"--alternate: no benchmark class {className}");
            return 2;
        }
        MethodInfo[] cases = type.GetMethods(BindingFlags.Public | BindingFlags.Instance)
            .Where(m => m.GetCustomAttribute<BenchmarkAttribute>() is not null && m.GetParameters().Length == 0)
            .OrderBy(m => m.MetadataToken).ToArray();
        if (selection.Length > 1)
        {
            string[] wanted = selection[1].Split(',');
            string? unknown = wanted.FirstOrDefault(name => cases.All(m => m.Name != name));
            if (unknown is not null)
            {
                Console.Error.WriteLine($"--alternate: {className} has no benchmark {unknown}");
                return 2;
            }
            cases = [.. cases.Where(m => wanted.Contains(m.Name))];
        }
        object instance = Activator.CreateInstance(type)!;
        foreach (string assignment in parts.Length > 1 ? parts[1].Split(',') : [])
        {
            string[] pair = assignment.Split('=', 2);
            PropertyInfo? property = pair.Length == 2 ? type.GetProperty(pair[0]) : null;
            if (property is null)
            {
                Console.Error.WriteLine($"--alternate: {className} has no property {assignment}");
                return 2;
            }
            property.SetValue(instance, Convert.ChangeType(pair[1], property.PropertyType, CultureInfo.InvariantCulture));
        }
        MethodInfo? setup = type.GetMethods().FirstOrDefault(m => m.GetCustomAttribute<GlobalSetupAttribute>() is not null);
        MethodInfo? cleanup = type.GetMethods().FirstOrDefault(m => m.GetCustomAttribute<GlobalCleanupAttribute>() is not null);
        setup?.Invoke(instance, null);
        try
        {
            var times = cases.ToDictionary(m => m.Name, _ => new List<double>());
            foreach (var method in cases)
                method.Invoke(instance, null); // warm-up: first calls compile
            for (int round = 0; round < rounds; round++)
            {
                foreach (var method in cases)
                {
                    long start = Stopwatch.GetTimestamp();
                    method.Invoke(instance, null);
                    times[method.Name].Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
                }
            }
            output.WriteLine($"{classAndParameters}, {rounds} rounds, cases called in turn; 1-minute load after: {LoadAverage()}");
            output.WriteLine();
            output.WriteLine("| case | min ms | median ms | max ms |");
            output.WriteLine("| --- | ---: | ---: | ---: |");
            foreach (var method in cases)
            {
                var sorted = times[method.Name].Order().ToArray();
                output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"| {method.Name} | {sorted[0]:F2} | {sorted[sorted.Length / 2]:F2} | {sorted[^1]:F2} |"));
            }
            return 0;
        }
        finally
        {
            cleanup?.Invoke(instance, null);
        }
    }

    private static string LoadAverage() =>
        File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Split(' ')[0] : "n/a";
}
