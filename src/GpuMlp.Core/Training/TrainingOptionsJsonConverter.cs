using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace GpuMlp.Training;

/// <summary>How a checkpoint stores <see cref="TrainingOptions"/>: the record's own JSON plus the
/// top-level "learning_rate" (after "batch_size") that files have always held. The learning rate
/// lives in the optimiser's settings alone; the top-level key is written with that rate so a file
/// reads as it always did, and read back into the optimiser's settings, where it wins over the
/// optimiser's own "learning_rate", as it always has (format 2 files have no optimiser at all:
/// Adam's defaults at the stored rate). Only for a serializer whose options hold this converter.</summary>
internal sealed class TrainingOptionsJsonConverter : JsonConverter<TrainingOptions>
{
    private const string LearningRateName = nameof(OptimizerSettings.LearningRate);
    private const string BatchSizeName = nameof(TrainingOptions.BatchSize);

    private (JsonSerializerOptions Outer, JsonSerializerOptions Inner)? withoutThis;

    public override TrainingOptions Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        var inner = WithoutThis(options);
        if (JsonNode.Parse(ref reader) is not JsonObject json)
            throw new JsonException("the options are not a JSON object");
        string learningRateKey = Key(LearningRateName, options);
        JsonNode? storedRate = null;
        bool hasRate = json.TryGetPropertyValue(learningRateKey, out storedRate);
        if (hasRate)
            json.Remove(learningRateKey);
        var trainingOptions = json.Deserialize<TrainingOptions>(inner) ?? throw new JsonException("the options are null");
        if (!hasRate)
            return trainingOptions;
        float learningRate = storedRate is null ? throw new JsonException("learning_rate is null") : storedRate.Deserialize<float>(inner);
        return trainingOptions with { Optimizer = trainingOptions.Optimizer with { LearningRate = learningRate } };
    }

    public override void Write(Utf8JsonWriter writer, TrainingOptions value, JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(value);
        var inner = WithoutThis(options);
        var json = JsonSerializer.SerializeToNode(value, inner)!.AsObject();
        int after = json.IndexOf(Key(BatchSizeName, options));
        json.Insert(after + 1, Key(LearningRateName, options), JsonSerializer.SerializeToNode(value.Optimizer.LearningRate, inner));
        json.WriteTo(writer, inner);
    }

    private static string Key(string propertyName, JsonSerializerOptions options) =>
        options.PropertyNamingPolicy?.ConvertName(propertyName) ?? propertyName;

    /// <summary>The same options less this converter (the record's own JSON, without recursing here).</summary>
    private JsonSerializerOptions WithoutThis(JsonSerializerOptions options)
    {
        if (withoutThis is var (outer, inner) && ReferenceEquals(outer, options))
            return inner;
        var copy = new JsonSerializerOptions(options);
        copy.Converters.Remove(this);
        copy.MakeReadOnly();
        withoutThis = (options, copy);
        return copy;
    }
}
