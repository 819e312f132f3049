using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace GpuMlp.Cli.Serve;

/// <summary>
/// A KServe v2 (Open Inference Protocol) inference request, checked against the model:
/// <c>{"id"?, "inputs": [{"name": "input", "shape": [N, C*H*W] or [N, C, H, W], "datatype": "FP32",
/// "data": [...]}], "outputs"?: [{"name": "probabilities"}]}</c>. The data are N*C*H*W numbers, flat
/// or nested, in row-major (NCHW) order. Every mismatch is a 400 naming what was expected.
/// </summary>
public sealed record KServeRequest(string? Id, IReadOnlyList<float[]> Rows)
{
    /// <summary>Nesting deeper than this is refused by the JSON reader (a 4-d tensor needs 6).</summary>
    private const int MaxDepth = 16;

    public static async Task<KServeRequest> ReadAsync(Stream body, ServedModel model)
    {
        ArgumentNullException.ThrowIfNull(body);
        ArgumentNullException.ThrowIfNull(model);
        JsonDocument document;
        try
        {
            document = await JsonDocument.ParseAsync(body, new JsonDocumentOptions { MaxDepth = MaxDepth }).ConfigureAwait(false);
        }
        catch (JsonException error)
        {
            throw Bad($"malformed JSON: {error.Message}");
        }
        using (document)
            return Parse(document.RootElement, model);
    }

    public static KServeRequest Parse(JsonElement root, ServedModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (root.ValueKind != JsonValueKind.Object)
            throw Bad("the request must be a JSON object with \"inputs\"");
        string? id = null;
        if (root.TryGetProperty("id", out var idElement))
        {
            id = idElement.ValueKind == JsonValueKind.String ? idElement.GetString() : throw Bad("\"id\" must be a string");
        }
        if (!root.TryGetProperty("inputs", out var inputs) || inputs.ValueKind != JsonValueKind.Array)
            throw Bad("the request has no \"inputs\" array");
        if (inputs.GetArrayLength() != 1)
            throw Bad($"the model takes one input, \"{ModelServer.InputName}\"; the request has {inputs.GetArrayLength()}");
        if (root.TryGetProperty("outputs", out var outputs))
        {
            if (outputs.ValueKind != JsonValueKind.Array)
                throw Bad("\"outputs\" must be an array");
            foreach (var output in outputs.EnumerateArray())
            {
                string? name = output.ValueKind == JsonValueKind.Object && output.TryGetProperty("name", out var n) && n.ValueKind == JsonValueKind.String ? n.GetString() : null;
                if (name != ModelServer.OutputName)
                    throw Bad($"unknown output {(name is null ? "(no name)" : $"\"{name}\"")}; the model's output is \"{ModelServer.OutputName}\"");
            }
        }
        var input = inputs[0];
        if (input.ValueKind != JsonValueKind.Object)
            throw Bad("each input must be an object with name, shape, datatype and data");
        string? inputName = input.TryGetProperty("name", out var nameElement) && nameElement.ValueKind == JsonValueKind.String ? nameElement.GetString() : null;
        if (inputName != ModelServer.InputName)
            throw Bad($"unknown input {(inputName is null ? "(no name)" : $"\"{inputName}\"")}; the model's input is \"{ModelServer.InputName}\"");
        string? datatype = input.TryGetProperty("datatype", out var typeElement) && typeElement.ValueKind == JsonValueKind.String ? typeElement.GetString() : null;
        if (datatype != "FP32")
            throw Bad($"datatype must be \"FP32\" (got {(datatype is null ? "none" : $"\"{datatype}\"")})");
        int rows = RowCount(input, model);
        if (!input.TryGetProperty("data", out var data) || data.ValueKind != JsonValueKind.Array)
            throw Bad("the input has no \"data\" array");
        long expected = (long)rows * model.InputValues;
        var values = new float[expected];
        long count = 0;
        Flatten(data, values, ref count);
        if (count != expected)
            throw Bad($"the data hold {count} values; shape {Shape(input)} needs {expected}");
        var result = new float[rows][];
        for (int r = 0; r < rows; r++)
            result[r] = values.AsSpan(r * model.InputValues, model.InputValues).ToArray();
        return new KServeRequest(id, result);
    }

    /// <summary>N from a shape of [N, C*H*W] or [N, C, H, W]; 400 for any other.</summary>
    private static int RowCount(JsonElement input, ServedModel model)
    {
        var imageShape = model.Model.Schema.Shape;
        string accepted = $"[N, {imageShape.Pixels}] or [N, {imageShape.Channels}, {imageShape.Height}, {imageShape.Width}]";
        if (!input.TryGetProperty("shape", out var shape) || shape.ValueKind != JsonValueKind.Array)
            throw Bad($"the input has no \"shape\"; the model takes {accepted}");
        var dims = new List<long>();
        foreach (var dim in shape.EnumerateArray())
        {
            if (dim.ValueKind != JsonValueKind.Number || !dim.TryGetInt64(out long value))
                throw Bad($"shape {shape.GetRawText()} must hold whole numbers; the model takes {accepted}");
            dims.Add(value);
        }
        bool flat = dims.Count == 2 && dims[1] == imageShape.Pixels;
        bool planes = dims.Count == 4 && dims[1] == imageShape.Channels && dims[2] == imageShape.Height && dims[3] == imageShape.Width;
        if (!(flat || planes) || dims[0] < 1 || dims[0] > int.MaxValue / imageShape.Pixels)
            throw Bad($"shape {shape.GetRawText()} does not fit the model, which takes {accepted} with N at least 1");
        return (int)dims[0];
    }

    private static string Shape(JsonElement input) => input.GetProperty("shape").GetRawText();

    /// <summary>Copies the numbers of a flat or nested array in order; stops counting past the end.</summary>
    private static void Flatten(JsonElement array, float[] values, ref long count)
    {
        foreach (var item in array.EnumerateArray())
        {
            if (item.ValueKind == JsonValueKind.Array)
            {
                Flatten(item, values, ref count);
                continue;
            }
            if (item.ValueKind != JsonValueKind.Number || !item.TryGetSingle(out float value) || !float.IsFinite(value))
                throw Bad($"the data must be finite FP32 numbers (got {Clip(item.GetRawText())})");
            if (count < values.Length)
                values[count] = value;
            count++;
        }
    }

    private static string Clip(string text) => text.Length <= 40 ? text : text[..40] + "…";

    private static RequestRefusedException Bad(string message) => new(StatusCodes.Status400BadRequest, message);
}
