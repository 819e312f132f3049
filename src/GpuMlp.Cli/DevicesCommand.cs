using System.CommandLine;
using GpuMlp.Compute;
using Spectre.Console;

namespace GpuMlp.Cli;

public static class DevicesCommand
{
    public static Command Create()
    {
        var command = new Command("devices", "List every accelerator ILGPU sees, and OpenCL devices it had to skip");
        command.SetAction(parse => CliErrors.Run(parse, () =>
        {
            var table = new Table().AddColumns("kind", "name", "usable", "detail");
            foreach (var device in ComputeDevice.List())
                table.AddRow(Markup.Escape(device.Kind), Markup.Escape(device.Name), device.Usable ? "yes" : "[red]no[/]", Markup.Escape(device.Detail));
            AnsiConsole.Write(table);
            return ExitCodes.Success;
        }));
        return command;
    }
}
