using System.Text;
using GpuMlp.Kernels;
using GpuMlp.Tests.Data;

namespace GpuMlp.Tests.Codegen;

/// <summary>The unrolled micro-tiles of kernels/DenseKernels.cs are generated text: every
/// `// &lt;generated: NAME&gt;` ... `// &lt;/generated&gt;` region is regenerated here from the tile
/// constants (DenseKernels.RegisterTileRows/Columns, DenseKernels.SharedMicroTile) and must match.
/// To change a tile shape, change the constant and paste the text this test prints.</summary>
public sealed class MicroTileSourceTests
{
    private const string Begin = "// <generated: ";
    private const string End = "// </generated>";

    /// <summary>The body of each named region, unindented.</summary>
    private static IReadOnlyList<string> Generate(string name) => name switch
    {
        "register tile" => RegisterTile(DenseKernels.RegisterTileRows, DenseKernels.RegisterTileColumns),
        "shared accumulators" => Accumulators(DenseKernels.SharedMicroTile, DenseKernels.SharedMicroTile),
        "shared products" => SharedProducts(DenseKernels.SharedMicroTile),
        "shared stores" => SharedStores(DenseKernels.SharedMicroTile),
        _ => throw new InvalidOperationException($"DenseKernels.cs has a generated region '{name}' this test cannot generate"),
    };

    private static string Offset(string name, int i) => i == 0 ? name : $"{name} + {i}";

    private static List<string> Accumulators(int rows, int columns) =>
        [.. Enumerable.Range(0, rows).Select(i => "float " + string.Join(", ", Enumerable.Range(0, columns).Select(j => $"c{i}{j} = 0f")) + ";")];

    private static List<string> Products(int rows, int columns, string indent) =>
        [.. Enumerable.Range(0, rows).Select(i => indent + string.Join(" ", Enumerable.Range(0, columns).Select(j => $"c{i}{j} += a{i} * b{j};")))];

    /// <summary>One thread's rows x columns tile of the register-tiled kernel: clamped row and
    /// column offsets, accumulators, the k loop, the stores.</summary>
    private static List<string> RegisterTile(int rows, int columns)
    {
        var lines = new List<string>();
        lines.AddRange(Enumerable.Range(0, rows).Select(i => $"int rowA{i} = IntrinsicMath.Min({Offset("m0", i)}, lastRow) * shape.AStrideM;"));
        lines.AddRange(Enumerable.Range(0, columns).Select(j => $"int colB{j} = IntrinsicMath.Min({Offset("n0", j)}, lastColumn) * shape.BStrideN;"));
        lines.AddRange(Accumulators(rows, columns));
        lines.Add("int aOffset = 0, bOffset = 0;");
        lines.Add("for (int k = 0; k < shape.K; k++)");
        lines.Add("{");
        lines.AddRange(Enumerable.Range(0, rows).Select(i => $"    float a{i} = a[rowA{i} + aOffset];"));
        lines.AddRange(Enumerable.Range(0, columns).Select(j => $"    float b{j} = b[bOffset + colB{j}];"));
        lines.AddRange(Products(rows, columns, "    "));
        lines.Add("    aOffset += shape.AStrideK;");
        lines.Add("    bOffset += shape.BStrideK;");
        lines.Add("}");
        for (int i = 0; i < rows; i++)
        {
            for (int j = 0; j < columns; j++)
                lines.Add($"StoreOutput(shape, epilogue, c, bias, aux, m0 + {i}, n0 + {j}, c{i}{j});");
        }
        return lines;
    }

    /// <summary>One depth step of the shared-memory kernel: a column of A and a row of B from the
    /// staged tiles (strided by the group size), then the outer product.</summary>
    private static List<string> SharedProducts(int tile)
    {
        var lines = new List<string>();
        lines.AddRange(Enumerable.Range(0, tile).Select(i => $"float a{i} = aTile[kk * blockM + ty + {i} * threadsY];"));
        lines.AddRange(Enumerable.Range(0, tile).Select(j => $"float b{j} = bTile[kk * blockN + tx + {j} * threadsX];"));
        lines.AddRange(Products(tile, tile, ""));
        return lines;
    }

    private static List<string> SharedStores(int tile) =>
    [
        .. from i in Enumerable.Range(0, tile)
           from j in Enumerable.Range(0, tile)
           select $"StoreOutput(shape, epilogue, c, bias, aux, m0 + ty + {i} * threadsY, n0 + tx + {j} * threadsX, c{i}{j});",
    ];

    /// <summary>The file with every generated region replaced by freshly generated text, and the
    /// names of the regions.</summary>
    private static (string Text, List<string> Regions) Regenerate(string source)
    {
        var lines = source.Split('\n');
        var output = new StringBuilder();
        var regions = new List<string>();
        for (int i = 0; i < lines.Length; i++)
        {
            output.Append(lines[i]).Append(i < lines.Length - 1 ? "\n" : "");
            string trimmed = lines[i].TrimStart();
            if (!trimmed.StartsWith(Begin, StringComparison.Ordinal))
                continue;
            string name = trimmed[Begin.Length..].TrimEnd().TrimEnd('>');
            string indent = lines[i][..(lines[i].Length - trimmed.Length)];
            int end = Array.FindIndex(lines, i + 1, l => l.Trim() == End);
            Assert.True(end > i, $"generated region '{name}' at line {i + 1} has no end marker");
            foreach (string line in Generate(name))
                output.Append(indent).Append(line).Append('\n');
            regions.Add(name);
            i = end - 1;
        }
        return (output.ToString(), regions);
    }

    [Fact]
    public void DenseLayerSource_GeneratedRegions_MatchTheGeneratorForTheTileConstants()
    {
        string path = Path.Combine(RealMnist.RepoRoot(), "kernels", "DenseKernels.cs");
        string source = File.ReadAllText(path).ReplaceLineEndings("\n");
        var (regenerated, regions) = Regenerate(source);
        Assert.Equal(["register tile", "shared accumulators", "shared products", "shared stores"], regions);
        if (regenerated != source)
        {
            string written = Path.Combine(Path.GetTempPath(), "DenseKernels.regenerated.cs");
            File.WriteAllText(written, regenerated);
            Assert.Fail($"{path}: a generated micro-tile region differs from what the tile constants give; the regenerated file is {written}");
        }
    }
}
