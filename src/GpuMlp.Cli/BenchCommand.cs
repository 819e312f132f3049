using System.CommandLine;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Serialization;
using GpuMlp.Compute;
using GpuMlp.Data;
using GpuMlp.Runs;
using GpuMlp.Training;
using ILGPU;
using Spectre.Console;

namespace GpuMlp.Cli;

/// <summary>`gpumlp bench`: kernel compile time, training and evaluation throughput per device on
/// real MNIST for the MLP or a layer stack (--arch), printed as a table and optionally written as JSON.</summary>
public static class BenchCommand
{
    private const int DefaultGpuSteps = 100;
    private const int DefaultCpuSteps = 200;
    private const int DefaultGpuWarmup = 10;
    private const int DefaultCpuWarmup = 20;

    /// <summary>CPU defaults for stacks with convolutions: a CNN preset step takes 0.2-0.7 s on 2
    /// cores (a hundred MLP steps' time), so 200 steps would take minutes per repeat.</summary>
    private const int DefaultCpuConvolutionSteps = 10;
    private const int DefaultCpuConvolutionWarmup = 2;

    /// <summary>Test images evaluated by default for a stack with convolutions on the CPU (the CNN
    /// preset evaluates about 900 a second on 2 cores, so 10,000 would take over 10 s per repeat;
    /// elsewhere the whole test file).</summary>
    private const int DefaultCpuConvolutionEvalImages = 1000;

    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public static Command Create()
    {
        var devices = new Option<string[]>("--device")
        {
            Description = "cuda, opencl, cpu or auto; repeatable (default: every usable kind `gpumlp devices` lists)",
        };
        var batchSize = new Option<int>("--batch-size") { Description = "Mini-batch size", DefaultValueFactory = _ => 128 };
        var steps = new Option<int?>("--steps")
        {
            Description = $"Timed training steps per repeat (default {DefaultGpuSteps} on a GPU, {DefaultCpuSteps} on the CPU)",
        };
        var warmup = new Option<int?>("--warmup")
        {
            Description = $"Untimed training steps first (default {DefaultGpuWarmup} on a GPU, {DefaultCpuWarmup} on the CPU); also one untimed evaluation",
        };
        var repeats = new Option<int>("--repeats")
        {
            Description = "Timed repeats of training and of evaluation; the median is reported",
            DefaultValueFactory = _ => 3,
        };
        var evalImages = new Option<int?>("--eval-images")
        {
            Description = $"Test images per timed evaluation, the first N (default all; {DefaultCpuConvolutionEvalImages} for a stack with convolutions on the CPU)",
        };
        var seed = new Option<int>("--seed") { Description = "Seed for initialisation, shuffling and dropout", DefaultValueFactory = _ => 1 };
        var json = new Option<string?>("--json") { Description = "Also write the results as JSON to this file" };
        var arch = new Option<string>("--arch")
        {
            Description = "mlp (the report's MLP), cnn (" + GpuMlp.Training.Architecture.CnnText + "), or a layer stack such as conv3x3x16p1,relu,pool2,flatten,dense10",
            DefaultValueFactory = _ => ArchitectureChoice.Mlp,
        };
        var optimizer = new Option<string>("--optimizer")
        {
            Description = "The optimiser of the timed steps at its torch.optim defaults: adam (the report's), adamw, sgd or rmsprop",
            DefaultValueFactory = _ => "adam",
        };

        var command = new Command("bench", "Measure kernel compile time and training/evaluation throughput (samples/s) per device")
        {
            devices, CommonOptions.CpuSimd, batchSize, steps, warmup, repeats, evalImages, seed, json, arch, optimizer,
        };
        foreach (var option in CommonOptions.DataOptions)
            command.Options.Add(option);
        command.SetAction(parse => CliErrors.Run(parse, () =>
        {
            string archText = parse.GetValue(arch) ?? ArchitectureChoice.Mlp;
            var dataFolder = CommonOptions.DataFolder(parse);
            var settings = new BenchSettings(
                parse.GetValue(batchSize), parse.GetValue(steps), parse.GetValue(warmup), parse.GetValue(repeats),
                parse.GetValue(seed), TrainCommand.ParseArchitecture(archText, dataFolder.Schema), parse.GetValue(evalImages), ArchitectureChoice.DefaultAugmentShift(archText),
                ParseOptimizer(parse.GetValue(optimizer) ?? "adam"));
            settings.Validate(dataFolder.Schema);
            var requests = (parse.GetValue(devices) ?? []).Select(CommonOptions.ParseDevice).ToList();
            return Run(settings, requests, CommonOptions.ParseCpuSimd(parse), dataFolder, parse.GetValue(json));
        }));
        return command;
    }

    private static OptimizerKind ParseOptimizer(string text)
    {
        try
        {
            return Optimizers.Parse(text);
        }
        catch (ArgumentException error)
        {
            throw new OptionException(error.Message);
        }
    }

    /// <summary>The requested devices, or every usable kind ComputeDevice.List() reports, one per
    /// kind, in its order (CUDA, OpenCL, CPU).</summary>
    public static IReadOnlyList<DeviceRequest> DefaultDevices() => ComputeDevice.List()
        .Where(d => d.Usable)
        .Select(d => ComputeDevice.ParseRequest(d.Kind))
        .Distinct()
        .ToList();

    private static int Run(BenchSettings settings, List<DeviceRequest> requests, CpuSimdRequest simd, IImageSource dataFolder, string? jsonPath)
    {
        if (requests.Count == 0)
            requests.AddRange(DefaultDevices());
        requests = requests.Distinct().ToList();
        if (jsonPath is not null)
        {
            string? folder = Path.GetDirectoryName(Path.GetFullPath(jsonPath));
            if (folder is not null && !Directory.Exists(folder))
                throw new OptionException($"--json {jsonPath}: folder {folder} does not exist");
        }
        var data = CommonOptions.LoadData(dataFolder);
        if (settings.BatchSize > data.Train.Count)
            throw new OptionException($"--batch-size must be in 1..{data.Train.Count} (the training set size), got {settings.BatchSize}");
        if (settings.EvalImages > data.Test.Count)
            throw new OptionException($"--eval-images must be in 1..{data.Test.Count} (the test set size), got {settings.EvalImages}");
        var network = settings.Options(1).Network(data.Schema);
        // Plain, not a wrapped info line: the stack's text is one token to copy.
        string shifts = settings.AugmentShift > 0 ? $", training images shifted by -{settings.AugmentShift}..{settings.AugmentShift} pixels as train does" : "";
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"architecture {settings.ArchName}: {network.Text}, {network.ParameterCount:N0} parameters{shifts}"));
        Console.WriteLine($"optimizer {settings.Options(1).Optimizer.Describe()}");

        var results = new List<BenchResult>();
        var measured = new HashSet<string>(StringComparer.Ordinal);
        foreach (var request in requests)
        {
            try
            {
                var result = Measure(request, settings, simd, data, measured);
                if (result is not null)
                    results.Add(result);
            }
            catch (Exception error) when (error is DeviceUnavailableException or ILGPU.Runtime.AcceleratorException or InternalCompilerException)
            {
                string message = error is DeviceUnavailableException ? error.Message : $"{error.GetType().Name}: {error.Message}";
                Console.Error.WriteLine($"gpumlp: error: {request.ToString().ToLowerInvariant()}: {message}");
                results.Add(BenchResult.Failed(request.ToString().ToLowerInvariant(), settings, message));
            }
        }

        PrintTable(results, settings.ArchName);
        var document = new BenchDocument(
            UtcNowText(),
            BenchMachine.Current(),
            Path.GetFullPath(dataFolder.Path),
            results);
        if (jsonPath is not null)
        {
            AtomicFile.WriteAllText(jsonPath, JsonSerializer.Serialize(document, Json) + "\n");
            AnsiConsole.MarkupLineInterpolated($"wrote {jsonPath}");
        }
        return results.Any(r => r.Error is not null) ? ExitCodes.Device : ExitCodes.Success;
    }

    private static BenchResult? Measure(DeviceRequest request, BenchSettings settings, CpuSimdRequest simd, ImageDataset data, HashSet<string> measured)
    {
        using var opened = CommonOptions.OpenDevice(request, simd);
        var device = opened.Device;
        var kernels = opened.Kernels;
        string kind = ComputeDevice.KindName(device.Type);
        if (!measured.Add(kind))
        {
            Output.Info($"{request.ToString().ToLowerInvariant()} resolves to {device.Description}, already measured; skipped");
            return null;
        }

        var (steps, warmup, evalImages) = DefaultSteps(settings, device.IsCpu, data.Test.Count);
        int trainImages = data.Train.Count;
        var timedPlan = EpochPlan.For(steps, settings.BatchSize, trainImages);
        var options = settings.Options(timedPlan.Epochs);

        if (warmup > 0)
        {
            var warmPlan = EpochPlan.For(warmup, settings.BatchSize, trainImages);
            using var warm = new Trainer(opened, data, options with { LimitTrain = warmPlan.StepsPerEpoch * settings.BatchSize });
            double seconds = ComputeDevice.Seconds(() =>
            {
                for (int epoch = 1; epoch <= warmPlan.Epochs; epoch++)
                    warm.TrainEpoch(epoch);
                warm.EvaluateTest(evalImages);
            });
            Output.Info($"warm-up: {warmPlan.Steps} steps and one evaluation in {seconds:F2} s");
        }

        using var trainer = new Trainer(opened, data, options with { LimitTrain = timedPlan.StepsPerEpoch * settings.BatchSize });
        var trainRuns = new List<double>();
        int epochNumber = 0;
        for (int repeat = 0; repeat < settings.Repeats; repeat++)
        {
            double seconds = 0;
            for (int epoch = 0; epoch < timedPlan.Epochs; epoch++)
            {
                // TrainEpoch reads the epoch's loss/accuracy reduction back at its end, so every
                // launch has finished when it returns; its rate excludes validation (there is none).
                var record = trainer.TrainEpoch(++epochNumber);
                seconds += trainer.TrainCount / record.SamplesPerSecond;
            }
            trainRuns.Add(timedPlan.Steps * (double)settings.BatchSize / seconds);
            Output.Info($"train repeat {repeat + 1}/{settings.Repeats}: {timedPlan.Steps} steps in {seconds:F3} s, {trainRuns[^1]:F0} samples/s");
        }

        var evalRuns = new List<double>();
        for (int repeat = 0; repeat < settings.Repeats; repeat++)
        {
            // EvaluateTest reads the confusion matrix back, so it returns after the device finished.
            double seconds = ComputeDevice.Seconds(() => trainer.EvaluateTest(evalImages));
            evalRuns.Add(evalImages / seconds);
            Output.Info($"eval repeat {repeat + 1}/{settings.Repeats}: {evalImages} images in {seconds:F3} s, {evalRuns[^1]:F0} samples/s");
        }

        return new BenchResult(
            Device: device.Description,
            Kind: kind,
            Arch: settings.ArchRecord,
            Optimizer: settings.Optimizer.Name(),
            AugmentShift: settings.AugmentShift,
            GemmVariant: kernels.Variant.ToString(),
            CpuSimd: CpuSimdChoice.Record(kernels),
            CpuWorkers: kernels.CpuWorkers > 0 ? kernels.CpuWorkers : null,
            BatchSize: settings.BatchSize,
            Steps: timedPlan.Steps,
            Epochs: timedPlan.Epochs,
            WarmupSteps: warmup > 0 ? EpochPlan.For(warmup, settings.BatchSize, trainImages).Steps : 0,
            Repeats: settings.Repeats,
            Seed: settings.Seed,
            CompileSeconds: kernels.CompileSeconds,
            TrainSamplesPerSecond: Median(trainRuns),
            TrainSamplesPerSecondRuns: trainRuns,
            EvalSamples: evalImages,
            EvalSamplesPerSecond: Median(evalRuns),
            EvalSamplesPerSecondRuns: evalRuns,
            Date: UtcNowText(),
            Error: null);
    }

    /// <summary>The timed and warm-up steps and the test images per evaluation: the flags when
    /// given, else the defaults of the device kind, and on the CPU smaller ones for a stack with
    /// convolutions (a CNN bench there takes well under a minute instead of several).</summary>
    public static (int Steps, int Warmup, int EvalImages) DefaultSteps(BenchSettings settings, bool isCpu, int testImages)
    {
        ArgumentNullException.ThrowIfNull(settings);
        // Whether the stack convolves depends on its layers alone, not on the data's shape.
        bool convolutionOnCpu = isCpu && settings.ArchitectureText is string text && Training.Architecture.ParseLayers(text).Any(l => l is ConvSpec or MaxPool2Spec);
        int steps = settings.Steps ?? (convolutionOnCpu ? DefaultCpuConvolutionSteps : isCpu ? DefaultCpuSteps : DefaultGpuSteps);
        int warmup = settings.Warmup ?? (convolutionOnCpu ? DefaultCpuConvolutionWarmup : isCpu ? DefaultCpuWarmup : DefaultGpuWarmup);
        int evalImages = settings.EvalImages ?? (convolutionOnCpu ? Math.Min(DefaultCpuConvolutionEvalImages, testImages) : testImages);
        return (steps, warmup, evalImages);
    }

    internal static string UtcNowText() =>
        DateTime.UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    private static double Median(IReadOnlyList<double> values)
    {
        var sorted = values.Order().ToArray();
        int middle = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
    }

    private static void PrintTable(IReadOnlyList<BenchResult> results, string archName)
    {
        var culture = CultureInfo.InvariantCulture;
        var table = new Table().Title($"gpumlp bench (medians, {archName})")
            .AddColumns("device", "batch", "steps", "compile s", "train samples/s", "eval samples/s");
        foreach (var r in results)
        {
            if (r.Error is not null)
            {
                table.AddRow(Markup.Escape(r.Device), r.BatchSize.ToString(culture), "-", "-", "[red]failed[/]", Markup.Escape(r.Error));
                continue;
            }
            table.AddRow(
                Markup.Escape(r.Device),
                r.BatchSize.ToString(culture),
                r.Steps.ToString(culture),
                r.CompileSeconds.GetValueOrDefault().ToString("F2", culture),
                r.TrainSamplesPerSecond.GetValueOrDefault().ToString("N0", culture),
                r.EvalSamplesPerSecond.GetValueOrDefault().ToString("N0", culture));
        }
        AnsiConsole.Write(table);
    }
}

/// <summary>Validated command-line settings of one bench run. ArchitectureText is
/// <see cref="TrainingOptions.ArchitectureText"/>'s: null for the report's MLP, else a stack's
/// canonical text; AugmentShift is what `train` would use for the same --arch (the CNN preset's
/// shifts for "cnn", else 0), so the step measured is the step train runs. Optimizer is the update
/// rule of the timed steps, at torch.optim's defaults for its kind (learning rate included).</summary>
public sealed record BenchSettings(int BatchSize, int? Steps, int? Warmup, int Repeats, int Seed, string? ArchitectureText = null, int? EvalImages = null, int AugmentShift = 0,
    OptimizerKind Optimizer = OptimizerKind.Adam)
{
    /// <summary>"mlp", "cnn" or the stack's text, as printed.</summary>
    public string ArchName => ArchitectureChoice.Name(ArchitectureText, AugmentShift);

    /// <summary>What the JSON's "arch" holds: "mlp" or the stack's canonical text.</summary>
    public string ArchRecord => ArchitectureText ?? ArchitectureChoice.Mlp;

    /// <summary>The options every trainer of the bench shares (the report's MLP settings, or the stack).</summary>
    public TrainingOptions Options(int epochs) =>
        new()
        {
            BatchSize = BatchSize,
            Seed = Seed,
            ValidationSplit = 0,
            Epochs = epochs,
            ArchitectureText = ArchitectureText,
            AugmentShift = AugmentShift,
            Optimizer = new OptimizerSettings(Optimizer),
        };

    /// <param name="schema">The data's schema, which the network must fit.</param>
    public void Validate(ImageSchema schema)
    {
        if (BatchSize < 1)
            throw new OptionException($"--batch-size must be at least 1 (got {BatchSize})");
        if (Steps is < 1)
            throw new OptionException($"--steps must be at least 1 (got {Steps})");
        if (Warmup is < 0)
            throw new OptionException($"--warmup must be 0 or more (got {Warmup})");
        if (Repeats < 1)
            throw new OptionException($"--repeats must be at least 1 (got {Repeats})");
        if (EvalImages is < 1)
            throw new OptionException($"--eval-images must be at least 1 (got {EvalImages})");
        var network = Options(1).Network(schema);
        int rowLimit = LayerNetwork.MaxRowsFor(network);
        if (BatchSize > rowLimit)
            throw new OptionException($"--batch-size {BatchSize} is too large for this architecture (at most {rowLimit})");
    }
}

/// <summary>How `steps` steps of `batch` rows are laid out as epochs of a training set limited to
/// StepsPerEpoch * batch images (at most `trainImages`), so one epoch is exactly the timed steps
/// whenever they fit in the training file.</summary>
public readonly record struct EpochPlan(int Epochs, int StepsPerEpoch)
{
    public int Steps => Epochs * StepsPerEpoch;

    public static EpochPlan For(int steps, int batch, int trainImages)
    {
        int maxStepsPerEpoch = Math.Max(1, trainImages / batch);
        int epochs = (steps + maxStepsPerEpoch - 1) / maxStepsPerEpoch;
        int perEpoch = (steps + epochs - 1) / epochs;
        return new EpochPlan(epochs, perEpoch);
    }
}

/// <summary>One device's measurements (or its failure) as written to --json. Arch: "mlp" or the
/// measured stack's canonical text; AugmentShift (written when not 0): the training images' shift.</summary>
public sealed record BenchResult(
    string Device,
    string Kind,
    string Arch,
    string Optimizer,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] int AugmentShift,
    string? GemmVariant,
    string? CpuSimd,
    int? CpuWorkers,
    int BatchSize,
    int Steps,
    int Epochs,
    int WarmupSteps,
    int Repeats,
    int Seed,
    double? CompileSeconds,
    double? TrainSamplesPerSecond,
    IReadOnlyList<double> TrainSamplesPerSecondRuns,
    int EvalSamples,
    double? EvalSamplesPerSecond,
    IReadOnlyList<double> EvalSamplesPerSecondRuns,
    string Date,
    string? Error)
{
    public static BenchResult Failed(string kind, BenchSettings settings, string error) => new(
        kind, kind, settings.ArchRecord, settings.Optimizer.Name(), settings.AugmentShift, null, null, null, settings.BatchSize, 0, 0, 0, settings.Repeats, settings.Seed, null, null, [], 0,
        null, [], BenchCommand.UtcNowText(), error);
}

/// <summary>Where the numbers were measured.</summary>
public sealed record BenchMachine(int ProcessorCount, string Os, string Architecture, string Framework, string MachineName)
{
    public static BenchMachine Current() => new(
        Environment.ProcessorCount,
        RuntimeInformation.OSDescription,
        RuntimeInformation.OSArchitecture.ToString(),
        RuntimeInformation.FrameworkDescription,
        Environment.MachineName);
}

/// <summary>The --json document.</summary>
public sealed record BenchDocument(string Date, BenchMachine Machine, string Data, IReadOnlyList<BenchResult> Results);
