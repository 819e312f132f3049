using System.CommandLine;
using GpuMlp.Compute;
using Spectre.Console;

namespace GpuMlp.Cli;

public static class DevicesCommand
{
    public static Command Create()
    {
        var command = new Command("devices", "List every accelerator ILGPU sees, and OpenCL devices it had to skip")
        {
            CommonOptions.CpuSimd,
        };
        command.SetAction(parse => CliErrors.Run(parse, () =>
        {
            var simd = CommonOptions.ParseCpuSimd(parse);
            var table = new Table().AddColumns("kind", "name", "usable", "detail");
            foreach (var device in ComputeDevice.List())
            {
                string detail = device.Kind == "cpu" && device.Usable ? $"{device.Detail}; {CpuSimdLine(simd)}" : device.Detail;
                table.AddRow(Markup.Escape(device.Kind), Markup.Escape(device.Name), device.Usable ? "yes" : "[red]no[/]", Markup.Escape(detail));
            }
            AnsiConsole.Write(table);
            return ExitCodes.Success;
        }));
        return command;
    }

    /// <summary>"SIMD kernels: vector512 (auto; vector512, vector256, scalar in hardware)".</summary>
    public static string CpuSimdLine(CpuSimdRequest request)
    {
        string how = request == CpuSimdRequest.Auto ? "auto" : "forced";
        return $"SIMD kernels: {CpuSimdChoice.Describe(CpuSimdChoice.Resolve(request))} ({how}; {CpuSimdChoice.HardwareSummary()})";
    }
}
