using System.Security.Cryptography;
using System.Text;

namespace GpuMlp.Runs;

/// <summary>
/// Whole-file writes that are all-or-nothing: data goes to a temp file in the same directory, is
/// flushed to disk, then renamed over the target. A crash or exception mid-write leaves the previous
/// file (if any) untouched instead of a truncated one.
/// </summary>
public static class AtomicFile
{
    private static readonly UTF8Encoding Utf8NoBom = new(encoderShouldEmitUTF8Identifier: false);

    /// <summary>Atomically replaces <paramref name="path"/> with UTF-8 (no BOM) text.</summary>
    public static void WriteAllText(string path, string contents)
    {
        ArgumentNullException.ThrowIfNull(contents);
        WriteAllBytes(path, Utf8NoBom.GetBytes(contents));
    }

    /// <summary>Atomically replaces <paramref name="path"/> with <paramref name="bytes"/>.</summary>
    public static void WriteAllBytes(string path, ReadOnlySpan<byte> bytes)
    {
        // A span cannot be captured by the Write callback, so this repeats its small protocol inline.
        string tmp = TempPathFor(path);
        try
        {
            using (FileStream stream = CreateTemp(tmp))
            {
                stream.Write(bytes);
                stream.Flush(flushToDisk: true);
            }

            File.Move(tmp, path, overwrite: true);
        }
        catch
        {
            TryDelete(tmp);
            throw;
        }
    }

    /// <summary>
    /// Atomically replaces <paramref name="path"/> with whatever <paramref name="write"/> writes to the
    /// stream it is given. If the callback throws, the target is left as it was and the exception propagates.
    /// </summary>
    public static void Write(string path, Action<Stream> write)
    {
        ArgumentNullException.ThrowIfNull(write);
        string tmp = TempPathFor(path);
        try
        {
            using (FileStream stream = CreateTemp(tmp))
            {
                write(stream);
                stream.Flush(flushToDisk: true);
            }

            File.Move(tmp, path, overwrite: true);
        }
        catch
        {
            TryDelete(tmp);
            throw;
        }
    }

    /// <summary>
    /// As <see cref="Write"/>, but never replaces a file: when <paramref name="path"/> exists, or
    /// appears while the data is written, nothing is written and an <see cref="IOException"/> says
    /// so. The final step links the finished temporary file to the path only if the path is free
    /// (no check-then-rename race).
    /// </summary>
    public static void WriteNew(string path, Action<Stream> write)
    {
        ArgumentNullException.ThrowIfNull(write);
        if (File.Exists(path) || Directory.Exists(path))
            throw new IOException($"{path} already exists; nothing was written");
        string tmp = TempPathFor(path);
        try
        {
            using (FileStream stream = CreateTemp(tmp))
            {
                write(stream);
                stream.Flush(flushToDisk: true);
            }

            try
            {
                File.Move(tmp, path, overwrite: false);
            }
            catch (IOException) when (File.Exists(path) || Directory.Exists(path))
            {
                throw new IOException($"{path} already exists; nothing was written");
            }
        }
        catch
        {
            TryDelete(tmp);
            throw;
        }
    }

    // Same directory as the target so the final rename never crosses a file system (rename is only
    // atomic within one); random suffix so concurrent writers of the same path do not collide.
    private static string TempPathFor(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        return path + ".tmp-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));
    }

    // CreateNew: never reuse or clobber an existing file that happens to share the temp name.
    private static FileStream CreateTemp(string tmp) =>
        new(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 4096);

    private static void TryDelete(string tmp)
    {
        try
        {
            File.Delete(tmp);
        }
        catch (IOException)
        {
            // Best effort: the original exception is the one worth reporting.
        }
        catch (UnauthorizedAccessException)
        {
            // Same as above.
        }
    }
}
