using System.Text;
using GpuMlp.Runs;

namespace GpuMlp.Cli;

/// <summary>The file `predict` writes with --out (a Kaggle submission, a dataset's predictions): the
/// checks made before any work, each a one-line usage error, and the atomic write after it. Each
/// caller runs the checks in its own order around its own check of the input it must not overwrite.</summary>
internal static class OutputFile
{
    /// <summary>--out names a folder: say which file name to give instead.</summary>
    public static void RefuseFolder(string path, string exampleName)
    {
        if (Directory.Exists(path))
            throw new OptionException($"--out {path} is a folder; give a file name, e.g. {Path.Combine(path, exampleName)}");
    }

    /// <summary>--out exists and --overwrite was not given.</summary>
    public static void RefuseExisting(string path, bool overwrite)
    {
        if (File.Exists(path) && !overwrite)
            throw new OptionException($"--out {path} already exists; choose another name or add --overwrite");
    }

    /// <summary>--out's folder does not exist (nothing creates it).</summary>
    public static void RefuseMissingFolder(string path)
    {
        string? folder = Path.GetDirectoryName(Path.GetFullPath(path));
        if (folder is not null && !Directory.Exists(folder))
            throw new OptionException($"--out {path}: the folder {folder} does not exist; create it first");
    }

    /// <summary>Writes <paramref name="text"/> (UTF-8, no byte order mark) atomically: a failed write
    /// leaves nothing, and an existing file is replaced only with <paramref name="overwrite"/>; a file
    /// that appeared while predicting is left as it is (a one-line usage error).</summary>
    public static void Write(string path, string text, bool overwrite)
    {
        byte[] bytes = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false).GetBytes(text);
        try
        {
            if (overwrite)
                AtomicFile.WriteAllBytes(path, bytes);
            else
                AtomicFile.WriteNew(path, stream => stream.Write(bytes));
        }
        catch (IOException) when (!overwrite && File.Exists(path))
        {
            throw new OptionException($"--out {path} appeared while predicting; it was left as it is");
        }
    }

    /// <summary>One CSV field as RFC 4180 says: quoted when it holds a comma, quote or line break,
    /// its quotes doubled.</summary>
    public static string CsvField(string value) =>
        value.AsSpan().IndexOfAny(",\"\r\n") < 0 ? value : "\"" + value.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
}
