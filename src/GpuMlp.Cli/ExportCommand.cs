using System.CommandLine;
using GpuMlp.Export;
using GpuMlp.Imaging;
using GpuMlp.Models;

namespace GpuMlp.Cli;

/// <summary>`gpumlp export`: a trained model in a format other runtimes load (ONNX). Like every
/// gpumlp output, the file is written atomically and never replaces an existing file.</summary>
public static class ExportCommand
{
    public const string OnnxFormat = "onnx";

    public static Command Create()
    {
        var format = new Option<string>("--format")
        {
            Description = "Output format: onnx (ONNX opset 13; input float32 [batch, C*H*W] for an MLP or [batch, C, H, W] for a stack with convolutions, outputs logits and probabilities)",
            DefaultValueFactory = _ => OnnxFormat,
        };
        var output = new Option<string>("--out")
        {
            Description = "The file to write, e.g. model.onnx; its folder must exist and the file must not",
            Required = true,
        };
        var command = new Command("export", "Write a trained model as an ONNX file for ONNX Runtime and other runtimes")
        {
            CommonOptions.Model, format, output,
        };
        command.SetAction(parse => CliErrors.Run(parse, () =>
        {
            string formatName = parse.GetValue(format) ?? "";
            if (!string.Equals(formatName.Trim(), OnnxFormat, StringComparison.OrdinalIgnoreCase))
                throw new OptionException($"--format must be onnx (got '{formatName}')");
            string outPath = parse.GetValue(output) ?? "";
            CheckNewFile(outPath);
            var model = TrainedModel.Load(parse.GetValue(CommonOptions.Model)!);
            var network = model.IsMlp
                ? NetworkDescription.FromMlp(model.Network, model.Parameters, model.Dropout, model.Schema.Shape)
                : NetworkDescription.FromArchitecture(model.Network, model.Parameters, model.State, model.Schema.Shape);
            try
            {
                OnnxExporter.Write(outPath, network, OnnxMetadata(model, network), replace: false);
            }
            catch (IOException) when (File.Exists(outPath))
            {
                // Created by someone else between the check above and the write.
                throw new OptionException($"--out {outPath} appeared while exporting; it was left as it is");
            }
            Console.WriteLine($"wrote {outPath}: ONNX opset {OnnxExporter.OpsetVersion}, input '{OnnxExporter.InputName}' float32 [batch, {string.Join(", ", network.SampleShape)}], " +
                $"outputs '{OnnxExporter.LogitsName}' and '{OnnxExporter.ProbabilitiesName}' float32 [batch, {model.Network.Classes}] ({model.Name})");
            return ExitCodes.Success;
        }));
        return command;
    }

    /// <summary>The output rules every gpumlp output follows: never overwrite what is there, and say
    /// so before doing any work.</summary>
    private static void CheckNewFile(string path)
    {
        if (string.IsNullOrWhiteSpace(path))
            throw new OptionException("--out needs a file name, e.g. --out model.onnx");
        if (Directory.Exists(path))
            throw new OptionException($"--out {path} is a folder; give a file name, e.g. {Path.Combine(path, "model.onnx")}");
        if (File.Exists(path))
            throw new OptionException($"--out {path} already exists; choose another name (export never replaces a file)");
        string? folder = Path.GetDirectoryName(Path.GetFullPath(path));
        if (folder is not null && !Directory.Exists(folder))
            throw new OptionException($"--out {path}: the folder {folder} does not exist; create it first");
    }

    /// <summary>The model's own gpumlp.* metadata (widths, seed, epochs, test accuracy), its schema
    /// (input shape, class names) and preprocessing, and what the input and outputs are.</summary>
    private static Dictionary<string, string> OnnxMetadata(TrainedModel model, NetworkDescription network)
    {
        var result = model.Metadata
            .Where(p => p.Key.StartsWith("gpumlp.", StringComparison.Ordinal))
            .ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal);
        if (model.IsMlp)
            result[ModelFile.WidthsKey] = ModelFile.FormatWidths(model.Network.MlpWidths!);
        else
            result[ModelFile.ArchitectureKey] = model.Network.Text;
        ModelSchema.Record(result, model.Schema);
        result[ModelSchema.PreprocessKey] = Preprocessing.Name(model.Preprocessing);
        result[ModelSchema.InputKey] = network.InputDescription;
        int classes = model.Network.Classes;
        result["gpumlp.outputs"] = $"{OnnxExporter.LogitsName}: raw scores [batch, {classes}]; {OnnxExporter.ProbabilitiesName}: softmax of the logits [batch, {classes}]";
        return result;
    }
}
