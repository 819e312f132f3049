using CsCheck;
using GpuMlp.Models;

namespace GpuMlp.Tests.Fuzz;

/// <summary>Mutated model.safetensors files: SafeTensorsFile.Parse and ModelFile.Parse either
/// succeed with a consistent, finite model or throw ModelFormatException with a one-line message
/// naming the file. Anything else fails.</summary>
public sealed class SafeTensorsFuzzTests
{
    public const int Cases = 10_000;
    private const string Name = "fuzz.safetensors";

    /// <summary>Byte mutations, the 8-byte header length, and structure-aware header JSON edits
    /// (missing/extra/renamed tensors, wrong dtype, shapes and offsets, metadata).</summary>
    private static readonly Gen<Mutation> Kinds = Gen.Frequency(
        (3, Mutate.Generic),
        (1, Mutate.Field("header length", 0, 8)),
        (4, Mutate.Json(new JsonFrame(LengthOffset: 0, LengthWidth: 8, JsonOffset: 8))));

    private static void Check(byte[] bytes)
    {
        SafeTensorsContent? content = null;
        if (Outcome.Of<ModelFormatException>(Name, () => content = SafeTensorsFile.Parse(bytes, Name)) is null)
        {
            long values = 0;
            foreach (SafeTensor t in content!.Tensors)
            {
                long count = t.Shape.Aggregate(1L, (a, d) => a * d);
                Outcome.Require(count == t.Data.Length, $"tensor {t.Name} has shape [{string.Join(",", t.Shape)}] but {t.Data.Length} values");
                Outcome.Require(t.Data.All(float.IsFinite), $"tensor {t.Name} has a non-finite value");
                Outcome.Require(t.Name.Length > 0 && t.Name != SafeTensorsFile.MetadataKey, $"a tensor is named \"{t.Name}\"");
                values += t.Data.Length;
            }
            ulong headerLength = BitConverter.ToUInt64(bytes, 0);
            Outcome.Require(8 + (long)headerLength + (4 * values) == bytes.Length, "the tensors do not cover the data buffer exactly");
        }

        LoadedModel? model = null;
        var error = Outcome.Of<ModelFormatException>(Name, () => model = ModelFile.Parse(bytes, Name));
        Outcome.Require(error is not null || content is not null, "ModelFile accepts what SafeTensorsFile rejects");
        if (model is { } m)
        {
            IReadOnlyList<int> shape = m.Network.MlpWidths!;
            Outcome.Require(m.Parameters.Length == m.Network.ParameterCount, $"{m.Parameters.Length} parameters for a {m.Network.MlpName} network");
            Outcome.Require(m.Parameters.All(float.IsFinite), "a parameter is not finite");
            Outcome.Require(shape[0] >= 1 && shape[^1] >= 2 && shape.Skip(1).SkipLast(1).All(h => h >= 1), $"network {m.Network.MlpName}");
            Outcome.Require(!m.Metadata.TryGetValue(ModelFile.WidthsKey, out string? widths) || widths == ModelFile.FormatWidths(shape),
                $"metadata widths {widths} for a {m.Network.MlpName} network");
        }
    }

    [Fact]
    public void ModelParse_MutatedFiles_ParseOrFailWithAFormatError()
    {
        Mutate.Some(Kinds).Sample(mutations => Check(Mutation.ApplyAll(FuzzSeeds.Model, mutations)), iter: Cases, print: Mutate.Print);
    }

    [Fact]
    public void ModelParse_UnmutatedSeed_Parses()
    {
        var (network, parameters, _) = ModelFile.Parse(FuzzSeeds.Model, Name);
        Assert.Equal("4-3-2", network.MlpName);
        Assert.Equal(FuzzSeeds.ModelShape.InitialParameters(7), parameters);
    }

    [Fact]
    public void SafeTensorsParse_EmptyTensorName_IsAFormatError()
    {
        byte[] file = SafeTensorsFileTestsCrafted("{\"\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", new byte[4]);
        var error = Assert.Throws<ModelFormatException>(() => SafeTensorsFile.Parse(file, Name));
        Assert.StartsWith(Name + ": ", error.Message, StringComparison.Ordinal);
    }

    private static byte[] SafeTensorsFileTestsCrafted(string header, byte[] buffer) => GpuMlp.Tests.Models.Crafted.File(header, buffer);
}
