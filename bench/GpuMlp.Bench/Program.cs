using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using GpuMlp.Bench;
using Perfolizer.Horology;

// Usage (see bench/README.md):
//   dotnet run -c Release --project bench/GpuMlp.Bench -- --quick [--device cpu] [BenchmarkDotNet args]
//   dotnet run -c Release --project bench/GpuMlp.Bench -- --job short --filter '*'
// Own flags, removed before BenchmarkDotNet parses the rest:
//   --quick          1 launch, 2 warm-up and 3 measured iterations of ~250 ms (at least 1 call each)
//   --iterations N   with --quick: N measured iterations instead of 3 (medians that hold on a busy machine)
//   --device KIND    cuda | opencl | cpu; repeatable; default every usable kind ComputeDevice.List() reports
//   --smoke          run every case a few times without BenchmarkDotNet (a seconds-long sanity check)
//   --image-folder-load FOLDER COUNT REPEATS
//                    images/s of an image-folder load, cold and cached (ImageFolderLoad.cs); nothing else runs
//   --alternate CLASS[:Property=Value,...][@Case,...] ROUNDS
//                    every benchmark of CLASS called in turn for ROUNDS rounds, min/median/max per case
//                    (Alternate.cs; for a machine whose load drifts); nothing else runs
//   --augment-preview MNIST_FOLDER OUT.png
//                    a PNG grid of training digits as the distorting gather gives them (AugmentationPreview.cs); nothing else runs
// Benchmarks always run in-process (no generated project, no SDK needed at run time), and with no
// --filter every benchmark runs.
var rest = new List<string>();
var devices = new List<string>();
bool quick = false, smoke = false;
int iterations = 3;
for (int i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--quick":
            quick = true;
            break;
        case "--iterations" when i + 1 < args.Length && int.TryParse(args[i + 1], out int count) && count > 0:
            iterations = count;
            i++;
            break;
        case "--iterations":
            Console.Error.WriteLine("--iterations needs a positive count");
            return 2;
        case "--smoke":
            smoke = true;
            break;
        case "--image-folder-load" when i + 3 < args.Length && int.TryParse(args[i + 2], out int images) && images > 0
                                        && int.TryParse(args[i + 3], out int repeats) && repeats > 0:
            return ImageFolderLoad.Run(args[i + 1], images, repeats, Console.Out);
        case "--alternate" when i + 2 < args.Length && int.TryParse(args[i + 2], out int rounds) && rounds > 0:
            if (devices.Count > 0)
                Environment.SetEnvironmentVariable(BenchDevices.VariableName, string.Join(',', devices));
            return Alternate.Run(args[i + 1], rounds, Console.Out);
        case "--alternate":
            Console.Error.WriteLine("--alternate needs CLASS ROUNDS (a positive count)");
            return 2;
        case "--augment-preview" when i + 2 < args.Length:
            return AugmentationPreview.Run(args[i + 1], args[i + 2], Console.Out);
        case "--augment-preview":
            Console.Error.WriteLine("--augment-preview needs MNIST_FOLDER OUT.png");
            return 2;
        case "--image-folder-load":
            Console.Error.WriteLine("--image-folder-load needs FOLDER COUNT REPEATS (positive counts)");
            return 2;
        case "--device" when i + 1 < args.Length:
            devices.AddRange(args[++i].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
            break;
        case "--device":
            Console.Error.WriteLine("--device needs a value: cuda, opencl or cpu");
            return 2;
        default:
            rest.Add(args[i]);
            break;
    }
}
if (devices.Count > 0)
    Environment.SetEnvironmentVariable(BenchDevices.VariableName, string.Join(',', devices));
if (!rest.Any(a => a is "--filter" or "-f" or "--list" or "--help" or "-h" or "--version" || a.StartsWith("--filter=", StringComparison.Ordinal)))
    rest.AddRange(["--filter", "*"]);
if (!quick && !rest.Any(a => a is "--inProcess" or "-i"))
    rest.Add("--inProcess");

Console.WriteLine($"devices: {string.Join(", ", BenchDevices.All())}");
if (smoke)
    return Smoke.Run(Console.Out);

var config = ManualConfig.Create(DefaultConfig.Instance)
    .AddColumn(CategoriesColumn.Default, StatisticColumn.Median, RateColumn.GflopsPerSecond, RateColumn.GigabytesPerSecond)
    .WithOption(ConfigOptions.JoinSummary, false);
if (quick)
{
    config.AddJob(Job.Default
        .WithId("Quick")
        .WithToolchain(new InProcessEmitToolchain(TimeSpan.FromMinutes(10), logOutput: true))
        .WithLaunchCount(1)
        .WithWarmupCount(2)
        .WithIterationCount(iterations)
        .WithIterationTime(TimeInterval.FromMilliseconds(250))
        .WithUnrollFactor(1)
        .WithMinInvokeCount(1)
        .WithEvaluateOverhead(false));
}

var summaries = BenchmarkSwitcher.FromAssembly(typeof(GemmBenchmarks).Assembly).Run([.. rest], config);
RatesReport.Print(summaries, Console.Out);
return summaries.Any(s => s.HasCriticalValidationErrors || s.Reports.Any(r => !r.Success)) ? 1 : 0;
