// The GPU bundle's runner (scripts/bundle-run-on-gpu.sh, shipped as .bundle/run-on-gpu.sh) run on
// a fake bundle: a bash script stands in for the dotnet host and answers the runner's calls in
// milliseconds, so these tests check the runner's own promises without a GPU or a built bundle:
// exactly summary.md and results.tar.gz in $OUT, each step's status, limits, the budget, a kill at
// any moment, the checksum step on gzipped MNIST files, the summary's CNN and PyTorch sections (a
// fake python3 stands in for the reference scripts) and the recipe step (the real
// time-to-accuracy.sh, copied into the fake bundle, driving the fake CLI and fake PyTorch runs).
// Needs bash, coreutils, tar, gzip, python3.
using System.Diagnostics;
using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using GpuMlp.Tests.Data;

namespace GpuMlp.Tests.Bundle;

[System.Runtime.Versioning.SupportedOSPlatform("linux")] // a bash runner for a Linux GPU machine
public sealed class DeviceRunnerTests : IDisposable
{
    private static readonly string[] StepOrder =
        ["checksums", "unpack", "smi", "devices", "tests", "train", "bench", "pytorch", "cnn", "pytorch-cnn", "bench-cnn", "recipe", "gemm32", "bdn-gemm"];

    private const int Budget = 565;

    // The fake dotnet host: answers what the runner asks of the CLI, the test exe and the
    // BenchmarkDotNet suite. FAKE_TRAIN_SLEEP makes `train` slow (for limits and kills). A CNN run
    // (--arch cnn) writes history.csv first, then waits FAKE_CNN_SLEEP before metrics.json, as a
    // run cut off mid-way leaves it. A run with --target-accuracy (the recipe step) reaches it after
    // epoch 2: 3 s of training, 5 s since its start. Each run records its arguments in args.txt.
    private const string FakeDotnet = """
        #!/usr/bin/env bash
        case "$*" in
          --list-runtimes) echo "Microsoft.NETCore.App 10.0.0 [fake]" ;;
          *GpuMlp.Tests.dll*)
            xml=""; prev=""
            for a in "$@"; do [ "$prev" = "-result-xml" ] && xml="$a"; prev="$a"; done
            echo "    GpuMlp.Tests.Fake.One [STARTING]"
            echo "    GpuMlp.Tests.Fake.One [FINISHED] Time: 0.01s"
            echo "=== TEST EXECUTION SUMMARY ==="
            echo "   GpuMlp.Tests  Total: 1, Errors: 0, Failed: 0, Skipped: 0, Not Run: 0, Time: 0.01s"
            echo '<assemblies><assembly total="1" passed="1" failed="0" skipped="0" not-run="0" errors="0" time="0.01"><collection><test name="GpuMlp.Tests.Fake.One" result="Pass"/></collection></assembly></assemblies>' >"$xml" ;;
          *gpumlp.dll\ devices*) echo "cpu CPUAccelerator yes (fake)" ;;
          *gpumlp.dll\ train\ --arch\ cnn*)
            out=""; prev=""
            for a in "$@"; do [ "$prev" = "--out" ] && out="$a"; prev="$a"; done
            mkdir -p "$out" && echo "$*" >"$out/args.txt"
            printf 'epoch,train_loss,train_accuracy,val_loss,val_accuracy,seconds,samples_per_second\n1,0.4,0.88,0.2,0.95,2,300\n2,0.2,0.94,0.1,0.97,1,500\n' >"$out/history.csv"
            sleep "${FAKE_CNN_SLEEP:-0}"
            echo '{"device":"fake-cnn","epochs":[{"epoch":1,"seconds":2.0,"samples_per_second":300.0,"train_loss":0.4,"val_accuracy":0.95},{"epoch":2,"seconds":1.0,"samples_per_second":500.0,"train_loss":0.2,"val_accuracy":0.97},{"epoch":3,"seconds":1.0,"samples_per_second":600.0,"train_loss":0.1,"val_accuracy":0.98}],"test":{"accuracy":0.9876,"macro_f1":0.9871,"loss":0.04},"timing":{"compile_seconds":0.2,"train_seconds":4.0}}' >"$out/metrics.json" ;;
          *gpumlp.dll\ train\ *--target-accuracy*)
            out=""; prev=""
            for a in "$@"; do [ "$prev" = "--out" ] && out="$a"; prev="$a"; done
            mkdir -p "$out" && echo "$*" >"$out/args.txt"
            echo '{"device":"fake-recipe","epochs":[{"epoch":1,"seconds":1.5,"samples_per_second":900.0,"train_loss":0.3,"val_accuracy":0.97},{"epoch":2,"seconds":1.5,"samples_per_second":900.0,"train_loss":0.1,"val_accuracy":0.991}],"test":{"accuracy":0.985,"macro_f1":0.985,"loss":0.05},"timing":{"compile_seconds":0.2,"train_seconds":3.0},"target":{"val_accuracy":0.99,"reached_epoch":2,"train_seconds":3.0,"since_start_seconds":5.0}}' >"$out/metrics.json" ;;
          *gpumlp.dll\ train*)
            out=""; prev=""
            for a in "$@"; do [ "$prev" = "--out" ] && out="$a"; prev="$a"; done
            sleep "${FAKE_TRAIN_SLEEP:-0}"
            mkdir -p "$out" && echo "$*" >"$out/args.txt"
            echo '{"device":"fake","epochs":[{"epoch":1,"seconds":1.0,"samples_per_second":1000.0,"train_loss":0.5,"val_accuracy":0.9}],"test":{"accuracy":0.9,"macro_f1":0.9,"loss":0.3},"timing":{"compile_seconds":0.1,"train_seconds":1.0}}' >"$out/metrics.json" ;;
          *gpumlp.dll\ bench\ --arch\ cnn*)
            json=""; prev=""
            for a in "$@"; do [ "$prev" = "--json" ] && json="$a"; prev="$a"; done
            echo "$*" >"$json.args"
            echo '{"results":[{"device":"fake","arch":"conv5x5x32p2,relu,pool2,conv5x5x64p2,relu,pool2,flatten,dense512,relu,dropout0.5,dense10","augment_shift":2,"gemm_variant":"Fake","batch_size":128,"steps":100,"repeats":3,"compile_seconds":0.3,"train_samples_per_second":750.0,"eval_samples":10000,"eval_samples_per_second":3000.0,"error":null}]}' >"$json" ;;
          *gpumlp.dll\ bench*)
            json=""; prev=""
            for a in "$@"; do [ "$prev" = "--json" ] && json="$a"; prev="$a"; done
            echo '{"results":[{"device":"fake","gemm_variant":"Fake","batch_size":128,"steps":2,"repeats":1,"compile_seconds":0.1,"train_samples_per_second":2000.0,"eval_samples_per_second":4000.0,"error":null}]}' >"$json" ;;
          *GpuMlp.Bench.dll*)
            dir=""; prev=""
            for a in "$@"; do [ "$prev" = "--artifacts" ] && dir="$a"; prev="$a"; done
            mkdir -p "$dir/results" && echo "| case | rate |" >"$dir/results/gpumlp-rates.md" ;;
          *) echo "fake dotnet: unexpected arguments: $*" >&2; exit 3 ;;
        esac
        """;

    // The train step's row in summary.md (a Markdown table, or steps.tsv as columns without Python).
    private static readonly System.Text.RegularExpressions.Regex TrainRunning = new(@"train\s*\|?\s*running");

    private readonly TempDir root = new();

    private string BundleDir => Path.Combine(root.Path, ".bundle");
    private string OutDir => Path.Combine(root.Path, "out");
    private string WorkDir => Path.Combine(root.Path, "work");

    public DeviceRunnerTests()
    {
        Directory.CreateDirectory(OutDir);
        string bundle = BundleDir;
        Directory.CreateDirectory(bundle);
        File.Copy(SourceFile("scripts/bundle-run-on-gpu.sh", ".bundle/run-on-gpu.sh"), Path.Combine(bundle, "run-on-gpu.sh"));
        File.Copy(SourceFile("scripts/bundle-summary.py", ".bundle/summarize.py"), Path.Combine(bundle, "summarize.py"));
        // The recipe step's scripts, as device-check.sh places them (pytorch_recipe.py is faked by python3).
        Directory.CreateDirectory(Path.Combine(bundle, "reference", "recipes"));
        foreach (string name in new[] { "time-to-accuracy.sh", "machine.sh", "tta_table.py", "recipes/fast.flags" })
            File.Copy(SourceFile("bench/reference/" + name, ".bundle/reference/" + name), Path.Combine(bundle, "reference", name));

        // "Unpacked" already: the runner's unpack step only places the MNIST files.
        foreach (string dir in new[] { "dotnet", "cli", "tests", "bench", "mnist" })
            Directory.CreateDirectory(Path.Combine(bundle, dir));
        string dotnet = Path.Combine(bundle, "dotnet", "dotnet");
        File.WriteAllText(dotnet, FakeDotnet.ReplaceLineEndings("\n") + "\n");
        File.SetUnixFileMode(dotnet, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        foreach (string file in new[] { "cli/gpumlp.dll", "tests/GpuMlp.Tests.dll", "bench/GpuMlp.Bench.dll", "payload.tar.xz" })
            File.WriteAllText(Path.Combine(bundle, file), "fake");

        // Four gzipped "MNIST" files and the sha256 of their raw content, as the bundle carries them.
        var published = new StringBuilder();
        foreach (string name in new[] { "train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte" })
        {
            byte[] raw = Encoding.ASCII.GetBytes($"raw content of {name}");
            using (FileStream file = File.Create(Path.Combine(bundle, "mnist", name + ".gz")))
            using (var gzip = new GZipStream(file, CompressionLevel.Optimal))
                gzip.Write(raw);
            published.Append(Convert.ToHexStringLower(SHA256.HashData(raw))).Append("  ").Append(name).Append('\n');
        }
        File.WriteAllText(Path.Combine(bundle, "mnist", "PUBLISHED-SHA256SUMS"), published.ToString());
        WriteSha256Sums();
    }

    public void Dispose() => root.Dispose();

    [Fact]
    public void Plan_DefaultLimits_AreInPriorityOrderAndFitTheBudget()
    {
        var result = RunRunner(new Dictionary<string, string>(), "--plan");

        Assert.True(result.ExitCode == 0, result.Output);
        string[] rows = result.Output.Split('\n').Where(l => StepOrder.Any(s => l.StartsWith(s + " ", StringComparison.Ordinal))).ToArray();
        Assert.Equal(StepOrder, rows.Select(r => r.Split(' ')[0]));
        int sum = rows.Sum(r => int.Parse(r.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1].TrimEnd('s'), System.Globalization.CultureInfo.InvariantCulture));
        Assert.True(sum + 5 <= Budget, $"step limits add up to {sum} s, over the {Budget} s budget less its 5 s reserve");
        Assert.Contains($"limits {sum}s + reserve 5s = {sum + 5}s of a {Budget}s budget", result.Output, StringComparison.Ordinal);
        // The CNN steps come after the MLP's PyTorch reference and before the extras.
        Assert.Contains(rows, r => r.StartsWith("cnn ", StringComparison.Ordinal) && r.Contains(" 75s ", StringComparison.Ordinal));
        Assert.Contains(rows, r => r.StartsWith("pytorch-cnn ", StringComparison.Ordinal) && r.Contains(" 45s ", StringComparison.Ordinal));
        Assert.Contains(rows, r => r.StartsWith("bench-cnn ", StringComparison.Ordinal) && r.Contains(" 25s ", StringComparison.Ordinal));
        // Time to accuracy after the CNN steps, before the extras.
        Assert.Contains(rows, r => r.StartsWith("recipe ", StringComparison.Ordinal) && r.Contains(" 90s ", StringComparison.Ordinal));
    }

    [Fact]
    public void Plan_SomeStepsSelected_ListsOnlyThoseAndTheirLimits()
    {
        var result = RunRunner(new() { ["GPU_STEPS"] = "cnn,pytorch-cnn,bench-cnn", ["LIMIT_CNN"] = "90" }, "--plan");

        Assert.True(result.ExitCode == 0, result.Output);
        Assert.Contains("limits 160s + reserve 5s = 165s of a 565s budget", result.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("\ntrain ", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public void Runner_AllStepsRun_OutHoldsExactlySummaryAndTarball()
    {
        var result = RunRunner(new()
        {
            ["GPU_STEPS"] = "checksums,unpack,devices,tests,train,bench,pytorch,cnn,pytorch-cnn,bench-cnn,gemm32,bdn-gemm",
            ["PATH"] = FakePythonWithoutTorch() + ":" + Environment.GetEnvironmentVariable("PATH"),
        });

        Assert.True(result.ExitCode == 0, result.Output);
        Assert.Equal(["results.tar.gz", "summary.md"], OutFiles());
        Assert.StartsWith("# GpuMlp device check", File.ReadAllText(Path.Combine(OutDir, "summary.md")), StringComparison.Ordinal);
        Dictionary<string, string> files = ReadTarball();
        foreach (string name in new[] { "runner.log", "steps.tsv", "summary.md", "checksums.log", "unpack.log", "tests.log",
                     "tests.xml", "run-cpu/metrics.json", "run-cnn-cpu/metrics.json", "bench.json", "bench-cnn.json", "gemm32.xml",
                     "bdn/results/gpumlp-rates.md" })
            Assert.True(files.ContainsKey(name), $"results.tar.gz lacks {name}; it has {string.Join(", ", files.Keys)}");
        Dictionary<string, string> status = Statuses(files["steps.tsv"]);
        Assert.Equal("not selected", status["smi"]);
        Assert.Equal("skipped", status["pytorch"]);
        Assert.Equal("skipped", status["pytorch-cnn"]);
        foreach (string step in new[] { "checksums", "unpack", "devices", "tests", "train", "bench", "cnn", "bench-cnn", "gemm32", "bdn-gemm" })
            Assert.True(status[step] == "ok", $"{step}: {status[step]}\n{result.Output}");
        Assert.Contains("PyTorch is not installed", files["steps.tsv"], StringComparison.Ordinal);
        // The CNN preset, 20 epochs by default, in its own run folder; the default run stays as it was.
        Assert.Contains("train --arch cnn --device cpu --epochs 20 ", files["run-cnn-cpu/args.txt"], StringComparison.Ordinal);
        Assert.DoesNotContain("--arch", files["run-cpu/args.txt"], StringComparison.Ordinal);
        // The tests found the MNIST .gz files where RealMnist looks: <repo root>/data/mnist.
        Assert.True(File.Exists(Path.Combine(root.Path, "data", "mnist", "train-images-idx3-ubyte.gz")));
    }

    [Fact]
    public void Runner_StepPastItsLimit_IsTimedOutAndTheNextStepRuns()
    {
        var result = RunRunner(new()
        {
            ["GPU_STEPS"] = "train,bench",
            ["LIMIT_TRAIN"] = "4",
            // Longer than RunRunner's 120 s guard: had the limit not cut the step, the runner would
            // still be waiting on it and the guard would fail the test (no stopwatch bound needed).
            ["FAKE_TRAIN_SLEEP"] = "600",
        });

        Assert.True(result.ExitCode == 0, result.Output);
        Dictionary<string, string> files = ReadTarball();
        Dictionary<string, string> status = Statuses(files["steps.tsv"]);
        Assert.Equal("timed out", status["train"]);
        Assert.Equal("ok", status["bench"]);
        // The fake train writes args.txt after its sleep: it was stopped before getting there.
        Assert.False(files.ContainsKey("run-cpu/args.txt"), string.Join(", ", files.Keys));
    }

    [Fact]
    public void Runner_StepThatDoesNotFitTheBudget_IsSkippedAndMarked()
    {
        var result = RunRunner(new()
        {
            ["GPU_STEPS"] = "checksums,tests,bench",
            ["GPU_BUDGET_S"] = "30",
            ["LIMIT_TESTS"] = "60",
            ["LIMIT_BENCH"] = "10",
        });

        Assert.True(result.ExitCode == 0, result.Output);
        string steps = ReadTarball()["steps.tsv"];
        Dictionary<string, string> status = Statuses(steps);
        Assert.Equal("ok", status["checksums"]);
        Assert.Equal("skipped", status["tests"]);
        Assert.Contains("needs 60s", steps, StringComparison.Ordinal);
        Assert.Equal("ok", status["bench"]);
    }

    [Fact]
    public void Runner_CnnSteps_PassTheirArgumentsAndSummarizeBothSides()
    {
        var result = RunRunner(new()
        {
            ["GPU_STEPS"] = "train,pytorch,cnn,pytorch-cnn,bench-cnn",
            ["GPU_EPOCHS"] = "2",
            ["GPU_CNN_EPOCHS"] = "3",
            ["GPU_LIMIT_TRAIN"] = "500",
            ["CNN_ARGS"] = "--seed 7",
            ["PYTORCH_CNN_ARGS"] = "--augment-shift 1",
            ["BENCH_CNN_ARGS"] = "--steps 20",
            ["PATH"] = FakePythonWithTorch() + ":" + Environment.GetEnvironmentVariable("PATH"),
        });

        Assert.True(result.ExitCode == 0, result.Output);
        Dictionary<string, string> files = ReadTarball();
        Dictionary<string, string> status = Statuses(files["steps.tsv"]);
        foreach (string step in new[] { "train", "pytorch", "cnn", "pytorch-cnn", "bench-cnn" })
            Assert.True(status[step] == "ok", $"{step}: {status[step]}\n{result.Output}");
        Assert.Contains("train --arch cnn --device cpu --epochs 3 ", files["run-cnn-cpu/args.txt"], StringComparison.Ordinal);
        Assert.Contains("--limit-train 500 --seed 7", files["run-cnn-cpu/args.txt"], StringComparison.Ordinal);
        Assert.Contains("--epochs 2 ", files["run-cpu/args.txt"], StringComparison.Ordinal);
        Assert.Contains("reference/pytorch_cnn.py --device cpu --epochs 3 --batch-size 128", files["pytorch-cnn.json.args"], StringComparison.Ordinal);
        Assert.Contains("--limit-train 500 --augment-shift 1", files["pytorch-cnn.json.args"], StringComparison.Ordinal);
        Assert.Contains("reference/pytorch_mlp.py --device cpu --epochs 2 ", files["pytorch.json.args"], StringComparison.Ordinal);
        Assert.Contains("gpumlp.dll bench --arch cnn --device cpu ", files["bench-cnn.json.args"], StringComparison.Ordinal);
        Assert.EndsWith("--steps 20", files["bench-cnn.json.args"].TrimEnd(), StringComparison.Ordinal);

        string summary = File.ReadAllText(Path.Combine(OutDir, "summary.md"));
        Assert.Contains("2 epochs (MLP), 3 epochs (CNN), --limit-train 500", summary, StringComparison.Ordinal);
        string cnn = Section(summary, "## CNN run: `gpumlp train --arch cnn --device cpu`");
        Assert.Contains("fake-cnn: **test accuracy 98.76%**, macro F1 98.71%", cnn, StringComparison.Ordinal);
        Assert.Contains("kernel compile 0.20 s, training 4.0 s; step `cnn`: ok", cnn, StringComparison.Ordinal);
        Assert.Contains("median **500**", cnn, StringComparison.Ordinal);
        Assert.Contains("| 3 | 1.000 | 600 | 0.1000 | 98.00% |", cnn, StringComparison.Ordinal);
        string torchCnn = Section(summary, "## PyTorch eager CNN reference");
        Assert.Contains("±1-pixel shifts; status **done**", torchCnn, StringComparison.Ordinal);
        Assert.Contains("3 of 3 epochs; samples/s per epoch: median **1,000**", torchCnn, StringComparison.Ordinal);
        Assert.Contains("test accuracy 99.10%", torchCnn, StringComparison.Ordinal);
        Assert.Contains("| fake | Fake | 128 | 100 × 3 | 0.30 | 750 | 10,000 | 3,000 |",
            Section(summary, "## `gpumlp bench --arch cnn --device cpu`"), StringComparison.Ordinal);
        string ratio = Section(summary, "## gpumlp / PyTorch throughput");
        Assert.Contains("| default run, median epoch training samples/s | 1,000 | 4,000 | **0.25** |", ratio, StringComparison.Ordinal);
        Assert.Contains("| CNN run (`--arch cnn`), median epoch training samples/s | 500 | 1,000 | **0.50** |", ratio, StringComparison.Ordinal);
        // Warm-step rates (gpumlp bench) are never divided by full-epoch rates.
        Assert.DoesNotContain("bench", ratio, StringComparison.Ordinal);
    }

    [Fact]
    public void Runner_CnnStepPastItsLimit_SummaryGivesTheFinishedEpochsFromHistory()
    {
        var result = RunRunner(new()
        {
            ["GPU_STEPS"] = "cnn,pytorch-cnn",
            ["LIMIT_CNN"] = "4",
            ["FAKE_CNN_SLEEP"] = "60",
            ["PATH"] = FakePythonWithoutTorch() + ":" + Environment.GetEnvironmentVariable("PATH"),
        });

        Assert.True(result.ExitCode == 0, result.Output);
        Dictionary<string, string> status = Statuses(ReadTarball()["steps.tsv"]);
        Assert.Equal("timed out", status["cnn"]);
        Assert.Equal("skipped", status["pytorch-cnn"]);
        string summary = File.ReadAllText(Path.Combine(OutDir, "summary.md"));
        string cnn = Section(summary, "## CNN run:");
        Assert.Contains("No metrics.json (the run did not finish): 2 epochs from history.csv; step `cnn`: timed out", cnn, StringComparison.Ordinal);
        Assert.Contains("| 2 | 1.000 | 500 | 0.2000 | 97.00% |", cnn, StringComparison.Ordinal);
        Assert.Contains("No results (step `pytorch-cnn`: skipped", Section(summary, "## PyTorch eager CNN reference"), StringComparison.Ordinal);
        Assert.Contains("Not available", Section(summary, "## gpumlp / PyTorch throughput"), StringComparison.Ordinal);
    }

    [Fact]
    public void Runner_RecipeStep_RunsTheBundledCliAndBothPyTorchVariantsAndSummarizesTheRatios()
    {
        var result = RunRunner(new()
        {
            ["GPU_STEPS"] = "recipe",
            ["GPU_LIMIT_TRAIN"] = "500",
            ["RECIPE_SEEDS"] = "1 2",
            ["RECIPE_TARGET"] = "0.9",
            ["RECIPE_COMPILE"] = "1",
            ["TORCH_THREADS"] = "1",
            ["PATH"] = FakePythonWithTorch() + ":" + Environment.GetEnvironmentVariable("PATH"),
        });

        Assert.True(result.ExitCode == 0, result.Output);
        Dictionary<string, string> files = ReadTarball();
        Assert.True(Statuses(files["steps.tsv"])["recipe"] == "ok", files.GetValueOrDefault("recipe.log") + "\n" + result.Output);
        // The bundled CLI, the bundled MNIST files, the target, and the flags of fast.flags as the step
        // found it, then GPU_LIMIT_TRAIN; the PyTorch twin gets the same words, with --compile once.
        string flags = RecipeFlags() + " --limit-train 500";
        string gpumlp = files["recipe/gpumlp-seed-1/args.txt"];
        Assert.Contains($"{Path.Combine(BundleDir, "cli", "gpumlp.dll")} train --device cpu --data {Path.Combine(BundleDir, "mnist")} --seed 1 --target-accuracy 0.9 ",
            gpumlp, StringComparison.Ordinal);
        Assert.EndsWith(flags, gpumlp.TrimEnd(), StringComparison.Ordinal);
        string eager = files["recipe/torch-seed-1-t1-eager.json.args"];
        Assert.Contains("reference/pytorch_recipe.py --device cpu ", eager, StringComparison.Ordinal);
        Assert.EndsWith("--threads 1 " + flags, eager.TrimEnd(), StringComparison.Ordinal);
        Assert.EndsWith("--threads 1 --compile " + flags, files["recipe/torch-seed-1-t1-compile.json.args"].TrimEnd(), StringComparison.Ordinal);
        Assert.True(files.ContainsKey("recipe/summary.md"), string.Join(", ", files.Keys));

        string section = Section(File.ReadAllText(Path.Combine(OutDir, "summary.md")), "## Time to accuracy");
        Assert.Contains($"Recipe (both sides): `{flags}`", section, StringComparison.Ordinal);
        Assert.Contains("Target **90.00%** validation accuracy", section, StringComparison.Ordinal);
        Assert.Contains("device `cpu`; seeds 1, 2; torch.compile on; step `recipe`: ok", section, StringComparison.Ordinal);
        Assert.Contains("| 1 | gpumlp | fake-recipe | reached | 2 | 3.00 | 5.00 | 98.50% | | |", section, StringComparison.Ordinal);
        Assert.Contains("| 1 | PyTorch | torch 0.0-fake, 1 threads, eager | reached | 2 | 2.00 | 4.00 | 98.00% | **1.50** | **1.25** |",
            section, StringComparison.Ordinal);
        Assert.Contains("| 1 | PyTorch | torch 0.0-fake, 1 threads, torch.compile | reached | 1 | 6.00 | 20.00 | 97.50% | **0.50** | **0.25** |",
            section, StringComparison.Ordinal);
        Assert.Contains("| 2 | gpumlp | fake-recipe | reached | 2 | 3.00 | 5.00 | 98.50% | | |", section, StringComparison.Ordinal);
        Assert.Contains("- median ratio against PyTorch (torch 0.0-fake, 1 threads, eager) over 2 seeds: 1.50 (train), 1.25 (since start)",
            section, StringComparison.Ordinal);
        Assert.Contains("- median ratio against PyTorch (torch 0.0-fake, 1 threads, torch.compile) over 2 seeds: 0.50 (train), 0.25 (since start)",
            section, StringComparison.Ordinal);
    }

    [Fact]
    public void Runner_RecipeStepPastItsLimit_SummaryKeepsTheRunsThatFinished()
    {
        var result = RunRunner(new()
        {
            ["GPU_STEPS"] = "recipe",
            ["RECIPE_COMPILE"] = "1",
            ["TORCH_THREADS"] = "1",
            ["LIMIT_RECIPE"] = "10",
            // Longer than RunRunner's 120 s guard: only the step's limit can end it.
            ["FAKE_COMPILE_SLEEP"] = "600",
            ["PATH"] = FakePythonWithTorch() + ":" + Environment.GetEnvironmentVariable("PATH"),
        });

        Assert.True(result.ExitCode == 0, result.Output);
        Dictionary<string, string> files = ReadTarball();
        Assert.Equal("timed out", Statuses(files["steps.tsv"])["recipe"]);
        Assert.False(files.ContainsKey("recipe/summary.md"), "time-to-accuracy.sh finished although its last run never ended");
        string section = Section(File.ReadAllText(Path.Combine(OutDir, "summary.md")), "## Time to accuracy");
        Assert.Contains("| 1 | gpumlp | fake-recipe | reached | 2 | 3.00 | 5.00 | 98.50% | | |", section, StringComparison.Ordinal);
        Assert.Contains("| 1 | PyTorch | torch 0.0-fake, 1 threads, eager | reached | 2 | 2.00 | 4.00 | 98.00% | **1.50** | **1.25** |",
            section, StringComparison.Ordinal);
        Assert.Contains("| 1 | PyTorch | torch 0.0-fake, 1 threads, torch.compile | unfinished: 0 epochs written (cut off or still running) |",
            section, StringComparison.Ordinal);
    }

    [Fact]
    public void Checksums_GzippedFileWhoseContentDiffers_FailsTheStep()
    {
        // A gzipped file re-compressed from other content: its own sha256 is re-recorded in
        // SHA256SUMS, so only the check of the decompressed content can catch it.
        string gz = Path.Combine(BundleDir, "mnist", "t10k-labels-idx1-ubyte.gz");
        using (FileStream file = File.Create(gz))
        using (var gzip = new GZipStream(file, CompressionLevel.Optimal))
            gzip.Write("different content"u8);
        WriteSha256Sums();

        var result = RunRunner(new() { ["GPU_STEPS"] = "checksums" });

        Assert.True(result.ExitCode == 0, result.Output);
        Dictionary<string, string> files = ReadTarball();
        Assert.Equal("failed", Statuses(files["steps.tsv"])["checksums"]);
        Assert.Contains("mnist/t10k-labels-idx1-ubyte.gz: content FAILED", files["checksums.log"], StringComparison.Ordinal);
        Assert.Contains("mnist/train-images-idx3-ubyte.gz: content OK", files["checksums.log"], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Runner_KilledMidStep_LeavesSummaryAndTarballOfTheFinishedSteps()
    {
        var info = RunnerStartInfo(new()
        {
            ["GPU_STEPS"] = "checksums,unpack,train",
            ["LIMIT_TRAIN"] = "120",
            ["FAKE_TRAIN_SLEEP"] = "100",
        });
        using var runner = Process.Start(info)!;
        var stdout = runner.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        var stderr = runner.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        string summary = Path.Combine(OutDir, "summary.md");
        var clock = Stopwatch.StartNew();
        while (!TrainRunning.IsMatch(File.Exists(summary) ? await File.ReadAllTextAsync(summary, TestContext.Current.CancellationToken) : "")
               && clock.Elapsed < TimeSpan.FromSeconds(30))
            await Task.Delay(100, TestContext.Current.CancellationToken);

        runner.Kill(entireProcessTree: true); // SIGKILL: no trap runs
        await runner.WaitForExitAsync(TestContext.Current.CancellationToken);
        string output = await stdout + await stderr;

        Assert.True(OutFiles() is ["results.tar.gz", "summary.md"], $"$OUT holds {string.Join(", ", OutFiles())}\n{output}");
        Assert.Matches(TrainRunning, File.ReadAllText(summary));
        Dictionary<string, string> files = ReadTarball();
        Dictionary<string, string> status = Statuses(files["steps.tsv"]);
        Assert.Equal("ok", status["checksums"]);
        Assert.Equal("ok", status["unpack"]);
        Assert.True(files.ContainsKey("unpack.log"), string.Join(", ", files.Keys));
    }

    // --- helpers ------------------------------------------------------------------------------

    private sealed record RunResult(int ExitCode, string Output);

    /// <summary>The runner from the source tree, or, in a bundle whose tests run beside it, the copy there.</summary>
    private static string SourceFile(string inRepository, string inBundle)
    {
        string root = RealMnist.RepoRoot();
        string source = Path.Combine(root, inRepository);
        return File.Exists(source) ? source : Path.Combine(root, inBundle);
    }

    private ProcessStartInfo RunnerStartInfo(Dictionary<string, string> environment, params string[] arguments)
    {
        var info = new ProcessStartInfo("bash")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = root.Path,
        };
        info.ArgumentList.Add(Path.Combine(BundleDir, "run-on-gpu.sh"));
        foreach (string argument in arguments)
            info.ArgumentList.Add(argument);
        // Knobs of an outer device check (this suite runs inside one) must not steer this runner.
        foreach (string key in info.Environment.Keys.ToArray())
        {
            if (key.StartsWith("GPU_", StringComparison.Ordinal) || key.StartsWith("LIMIT_", StringComparison.Ordinal)
                || key.StartsWith("RECIPE_", StringComparison.Ordinal) || key.EndsWith("_ARGS", StringComparison.Ordinal)
                || key is "OUT" or "PYTORCH_DEVICE" or "TAIL_LINES")
                info.Environment.Remove(key);
        }
        info.Environment["OUT"] = OutDir;
        info.Environment["GPU_WORK"] = WorkDir;
        info.Environment["GPU_DEVICE"] = "cpu";
        foreach (var (key, value) in environment)
            info.Environment[key] = value;
        return info;
    }

    private RunResult RunRunner(Dictionary<string, string> environment, params string[] arguments)
    {
        using var runner = Process.Start(RunnerStartInfo(environment, arguments))!;
        var stdout = runner.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        var stderr = runner.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        if (!runner.WaitForExit(TimeSpan.FromSeconds(120)))
        {
            runner.Kill(entireProcessTree: true);
            throw new TimeoutException("the runner ran longer than 120 s on a fake bundle");
        }
        return new RunResult(runner.ExitCode, stdout.Result + stderr.Result);
    }

    /// <summary>A folder whose python3 reports no torch and passes everything else to the real python3.</summary>
    private string FakePythonWithoutTorch()
    {
        string bin = Directory.CreateDirectory(Path.Combine(root.Path, "no-torch-bin")).FullName;
        string python = Path.Combine(bin, "python3");
        string real = Environment.GetEnvironmentVariable("PATH")!.Split(':')
            .Select(dir => Path.Combine(dir, "python3")).FirstOrDefault(File.Exists) ?? "/nonexistent/python3";
        File.WriteAllText(python, $"#!/bin/sh\ncase \"$*\" in *'find_spec(\"torch\")'*) exit 1 ;; esac\nexec '{real}' \"$@\"\n");
        File.SetUnixFileMode(python, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return bin;
    }

    /// <summary>The recipe's flags as time-to-accuracy.sh reads them: fast.flags' lines but comments, one space apart.</summary>
    private static string RecipeFlags() =>
        string.Join(' ', File.ReadAllLines(SourceFile("bench/reference/recipes/fast.flags", ".bundle/reference/recipes/fast.flags"))
            .Where(line => !line.StartsWith('#'))
            .SelectMany(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries)));

    /// <summary>
    /// A folder whose python3 has "torch": pytorch_mlp.py and pytorch_cnn.py write a finished JSON
    /// (median epoch 4,000 and 1,000 samples/s) to --out and their arguments to OUT.args;
    /// pytorch_recipe.py reaches its target after 2 s of training, 4 s since its start, eager, and
    /// after 6 s and 20 s with --compile (FAKE_COMPILE_SLEEP: that run writes a running JSON first,
    /// then waits); anything else (summarize.py, time-to-accuracy.sh's tables) goes to the real python3.
    /// </summary>
    private string FakePythonWithTorch()
    {
        string bin = Directory.CreateDirectory(Path.Combine(root.Path, "torch-bin")).FullName;
        string python = Path.Combine(bin, "python3");
        string real = Environment.GetEnvironmentVariable("PATH")!.Split(':')
            .Select(dir => Path.Combine(dir, "python3")).FirstOrDefault(File.Exists) ?? "/nonexistent/python3";
        const string mlpJson = """
            {"device":"cpu","device_name":"fake-cpu","torch_version":"0.0-fake","cuda_version":null,"cuda_matmul_allow_tf32":false,"status":"done","epochs":2,"eager":{"complete":true,"epochs":[{"epoch":1,"seconds":1.0,"samples_per_second":3000.0},{"epoch":2,"seconds":1.0,"samples_per_second":5000.0}],"test_accuracy":0.97,"eval_samples_per_second":9000.0}}
            """;
        const string cnnJson = """
            {"device":"cpu","device_name":"fake-cpu","torch_version":"0.0-fake","cuda_version":null,"cuda_matmul_allow_tf32":false,"augment_shift":1,"status":"done","epochs":3,"eager":{"complete":true,"epochs":[{"epoch":1,"seconds":2.0,"samples_per_second":800.0},{"epoch":2,"seconds":1.0,"samples_per_second":1000.0},{"epoch":3,"seconds":1.0,"samples_per_second":1100.0}],"test_accuracy":0.991,"eval_samples_per_second":5000.0}}
            """;
        const string recipeJson = """
            {"tool":"pytorch","torch_version":"0.0-fake","torch_threads":1,"compile":false,"status":"done","epochs":[{"epoch":1},{"epoch":2}],"target":{"val_accuracy":0.9,"reached_epoch":2,"train_seconds":2.0,"since_start_seconds":4.0},"test_accuracy":0.98}
            """;
        const string compiledJson = """
            {"tool":"pytorch","torch_version":"0.0-fake","torch_threads":1,"compile":true,"status":"done","epochs":[{"epoch":1}],"target":{"val_accuracy":0.9,"reached_epoch":1,"train_seconds":6.0,"since_start_seconds":20.0},"test_accuracy":0.975}
            """;
        const string compilingJson = """
            {"tool":"pytorch","torch_version":"0.0-fake","torch_threads":1,"compile":true,"status":"running"}
            """;
        // $$"""...""": braces are literal, {{...}} interpolates.
        string script = $$"""
            #!/bin/sh
            case "$*" in *'find_spec("torch")'*) exit 0 ;; esac
            case "$*" in *pytorch_recipe.py*)
              out=''; prev=''
              for a in "$@"; do [ "$prev" = '--out' ] && out="$a"; prev="$a"; done
              echo "$*" >"$out.args"
              case "$*" in
                *' --compile '*)
                  if [ -n "${FAKE_COMPILE_SLEEP:-}" ]; then echo '{{compilingJson}}' >"$out"; sleep "$FAKE_COMPILE_SLEEP"; fi
                  echo '{{compiledJson}}' >"$out" ;;
                *) echo '{{recipeJson}}' >"$out" ;;
              esac
              exit 0 ;;
            esac
            case "$*" in *pytorch_mlp.py*|*pytorch_cnn.py*)
              out=''; prev=''
              for a in "$@"; do [ "$prev" = '--out' ] && out="$a"; prev="$a"; done
              echo "$*" >"$out.args"
              case "$*" in *pytorch_cnn.py*) echo '{{cnnJson}}' >"$out" ;; *) echo '{{mlpJson}}' >"$out" ;; esac
              exit 0 ;;
            esac
            exec '{{real}}' "$@"

            """;
        File.WriteAllText(python, script);
        File.SetUnixFileMode(python, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return bin;
    }

    /// <summary>summary.md from the line starting with <paramref name="heading"/> to the next "## " heading.</summary>
    private static string Section(string summary, string heading)
    {
        int start = summary.IndexOf("\n" + heading, StringComparison.Ordinal);
        Assert.True(start >= 0, $"summary.md has no section {heading}:\n{summary}");
        int end = summary.IndexOf("\n## ", start + 1, StringComparison.Ordinal);
        return end < 0 ? summary[start..] : summary[start..end];
    }

    private void WriteSha256Sums()
    {
        var sums = new StringBuilder();
        foreach (string file in new[] { "payload.tar.xz", "mnist/PUBLISHED-SHA256SUMS", "run-on-gpu.sh", "summarize.py" }
                     .Concat(Directory.GetFiles(Path.Combine(BundleDir, "mnist"), "*.gz").Select(f => "mnist/" + Path.GetFileName(f))))
            sums.Append(Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(Path.Combine(BundleDir, file))))).Append("  ").Append(file).Append('\n');
        File.WriteAllText(Path.Combine(BundleDir, "SHA256SUMS"), sums.ToString());
    }

    private string[] OutFiles() =>
        Directory.GetFileSystemEntries(OutDir).Select(Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal).ToArray();

    /// <summary>results.tar.gz's text files by path ("./" dropped).</summary>
    private Dictionary<string, string> ReadTarball()
    {
        var files = new Dictionary<string, string>(StringComparer.Ordinal);
        using FileStream file = File.OpenRead(Path.Combine(OutDir, "results.tar.gz"));
        using var gzip = new GZipStream(file, CompressionMode.Decompress);
        using var tar = new TarReader(gzip);
        while (tar.GetNextEntry() is { } entry)
        {
            if (entry.EntryType is not (TarEntryType.RegularFile or TarEntryType.V7RegularFile) || entry.DataStream is null)
                continue;
            using var reader = new StreamReader(entry.DataStream);
            files[entry.Name.StartsWith("./", StringComparison.Ordinal) ? entry.Name[2..] : entry.Name] = reader.ReadToEnd();
        }
        return files;
    }

    /// <summary>step → status from steps.tsv (header: step, status, seconds, limit, what, detail).</summary>
    private static Dictionary<string, string> Statuses(string stepsTsv) =>
        stepsTsv.Split('\n').Skip(1).Where(l => l.Length > 0).Select(l => l.Split('\t'))
            .ToDictionary(f => f[0], f => f[1], StringComparer.Ordinal);
}
