using System.Text;
using GpuMlp.Data;

namespace GpuMlp.Tests.Data;

/// <summary>The Kaggle pixel CSV reader: the layout (pixelx at row x / side, column x % side), the
/// optional label column, and one-line errors naming the file and the line.</summary>
public sealed class KaggleCsvFileTests : IDisposable
{
    private readonly TempDir dir = new();

    public void Dispose() => dir.Dispose();

    private string Csv(string text, string name = "data.csv") => dir.Write(name, Encoding.UTF8.GetBytes(text));

    private DataFormatException Error(string text) =>
        Assert.Throws<DataFormatException>(() => KaggleCsvFile.Read(Csv(text)));

    [Fact]
    public void Read_MnistWrittenAsCsv_GivesTheIdxPixelsAndLabels()
    {
        var mnist = RealMnist.Load().Train;
        const int count = 500;
        string path = Csv(KaggleCsv.Text(mnist, withLabels: true, count: count));

        KaggleCsvImages csv = KaggleCsvFile.Read(path);

        Assert.Equal(mnist.Shape, csv.Shape);
        Assert.Equal(count, csv.Count);
        Assert.Equal(mnist.Pixels.AsSpan(0, count * mnist.Shape.Pixels).ToArray(), csv.Pixels);
        Assert.Equal(mnist.Labels.AsSpan(0, count).ToArray(), csv.Labels);
    }

    [Fact]
    public void Read_TestFileWithoutLabelColumn_HasNoLabels()
    {
        var mnist = RealMnist.Load().Test;
        string path = Csv(KaggleCsv.Text(mnist, withLabels: false, count: 20));

        KaggleCsvImages csv = KaggleCsvFile.Read(path);

        Assert.Null(csv.Labels);
        Assert.Equal(20, csv.Count);
        Assert.Equal(mnist.Pixels.AsSpan(0, 20 * mnist.Shape.Pixels).ToArray(), csv.Pixels);
    }

    [Fact]
    public void Read_SquareOfAnySide_PixelXAtRowXOverSideColumnXModSide()
    {
        string path = Csv("label,pixel0,pixel1,pixel2,pixel3,pixel4,pixel5,pixel6,pixel7,pixel8\r\n7,0,1,2,3,4,5,6,7,8\r\n\r\n3,9,9,9,9,9,9,9,9,255\r\n");

        KaggleCsvImages csv = KaggleCsvFile.Read(path);

        Assert.Equal(new ImageShape(1, 3, 3), csv.Shape);
        Assert.Equal([7, 3], csv.Labels);
        Assert.Equal(5, csv.Pixels[(1 * 3) + 2]);
        Assert.Equal(255, csv.Pixels[9 + 8]);
    }

    [Fact]
    public void Read_ManyRows_GrowsPastTheFirstEstimate()
    {
        string path = Csv(KaggleCsv.Synthetic(2, [.. Enumerable.Range(0, 3000).Select(i => (byte)(i % 3))], 3000));

        KaggleCsvImages csv = KaggleCsvFile.Read(path);

        Assert.Equal(3000, csv.Count);
        Assert.Equal((2999 * 31 + 3) % 256, csv.Pixels[(2999 * 4) + 3]);
    }

    [Fact]
    public void Read_RowOfTheWrongLength_NamesFileAndLine()
    {
        string path = Csv("label,pixel0,pixel1,pixel2,pixel3\n1,0,0,0,0\n2,0,0,0\n");
        var error = Assert.Throws<DataFormatException>(() => KaggleCsvFile.Read(path));
        Assert.Equal($"{path} line 3: 4 values, the header has 5 columns", error.Message);
        Assert.Equal($"{path} line 2: 6 values, the header has 5 columns",
            Assert.Throws<DataFormatException>(() => KaggleCsvFile.Read(Csv("label,pixel0,pixel1,pixel2,pixel3\n1,0,0,0,0,9\n"))).Message);
    }

    [Fact]
    public void Read_ValueOutOfRange_NamesLineAndColumn()
    {
        Assert.EndsWith(" line 2, column pixel1: 256 is outside 0..255", Error("label,pixel0,pixel1,pixel2,pixel3\n1,0,256,0,0\n").Message, StringComparison.Ordinal);
        Assert.EndsWith(" line 2, column label: 99999999999 is outside 0..255", Error("label,pixel0,pixel1,pixel2,pixel3\n99999999999,0,0,0,0\n").Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Read_NonNumericValue_NamesLineAndColumn()
    {
        Assert.EndsWith(" line 3, column pixel3: 'x' is not a whole number 0..255", Error("pixel0,pixel1,pixel2,pixel3\n1,0,0,0\n1,0,0,x\n").Message, StringComparison.Ordinal);
        Assert.EndsWith(" line 2, column pixel0: '-1' is not a whole number 0..255", Error("pixel0,pixel1,pixel2,pixel3\n-1,0,0,0\n").Message, StringComparison.Ordinal);
        Assert.EndsWith(" line 2, column pixel2: '' is not a whole number 0..255", Error("pixel0,pixel1,pixel2,pixel3\n1,0,,0\n").Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Read_BadHeader_IsAOneLineError()
    {
        Assert.EndsWith(": empty; expected a header line label,pixel0,pixel1,...", Error("").Message, StringComparison.Ordinal);
        Assert.EndsWith(" line 1: header column 3 is 'pixel2', expected 'pixel1'", Error("label,pixel0,pixel2\n").Message, StringComparison.Ordinal);
        Assert.EndsWith(" line 1: header column 1 is 'ImageId', expected 'pixel0' (the first column is 'label' or 'pixel0')", Error("ImageId,Label\n1,2\n").Message, StringComparison.Ordinal);
        Assert.EndsWith(" line 1: 3 pixel columns are not a square image (side x side)", Error("label,pixel0,pixel1,pixel2\n1,0,0,0\n").Message, StringComparison.Ordinal);
        Assert.EndsWith(": no rows after the header", Error("label,pixel0\n").Message, StringComparison.Ordinal);
        Assert.EndsWith(" line 1: the header has no pixel0,pixel1,... columns", Error("label\n1\n").Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Read_MissingFile_IsFileNotFound()
    {
        var error = Assert.Throws<FileNotFoundException>(() => KaggleCsvFile.Read(Path.Combine(dir.Path, "absent.csv")));
        Assert.Contains("absent.csv", error.Message, StringComparison.Ordinal);
    }
}
