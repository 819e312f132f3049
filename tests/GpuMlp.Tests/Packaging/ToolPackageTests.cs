using System.IO.Compression;
using System.Reflection;
using System.Xml.Linq;
using GpuMlp.Tests.Data;

namespace GpuMlp.Tests.Packaging;

/// <summary>
/// `dotnet pack` makes the gpumlp .NET tool and the GpuMlp.Core and GpuMlp.Kernels library
/// packages, and `dotnet tool install` puts a gpumlp that works in a tool folder.
///
/// Why this can run beside every other test (and beside a developer's own build):
/// <list type="bullet">
/// <item>the packs build the repository's sources with <c>--artifacts-path</c> in this test's own
/// temporary folder, so all of that build's bin/, obj/ (restore output, protoc's generated code) and
/// publish/ folders are there, never in the projects' bin/ and obj/ that the running test assembly
/// came from;</item>
/// <item><c>--disable-build-servers</c>: no MSBuild node or compiler server outlives the test;</item>
/// <item>the tool is installed with <c>--tool-path</c> into the temporary folder, from a NuGet
/// configuration whose only source is the folder the packs wrote, with the exact version: nothing
/// is looked up online, no other package named gpumlp can be picked, and the install goes to the tool
/// folder's own store, not to the user's NuGet cache.</item>
/// </list>
/// It is the one slow test of the suite (a full Release build of three projects).
/// </summary>
public sealed class ToolPackageTests
{
    private static readonly TimeSpan PackTimeout = TimeSpan.FromMinutes(10);
    private static readonly TimeSpan RunTimeout = TimeSpan.FromMinutes(3);

    [Fact]
    public void Pack_TheCliAndTheLibraries_GivesAToolThatInstallsPrintsItsVersionAndTrains()
    {
        string repo = RealMnist.RepoRoot();
        string version = typeof(GpuMlp.Cli.ExitCodes).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()!.InformationalVersion;
        string root = Directory.CreateTempSubdirectory("gpumlp-tool-").FullName;
        try
        {
            string artifacts = Path.Combine(root, "artifacts"), packages = Path.Combine(root, "packages"), tools = Path.Combine(root, "tools");
            string host = DotnetCli.Host();

            // The tool first: it builds all three projects; the libraries' packs then reuse that build.
            foreach (string project in (string[])["src/GpuMlp.Cli/GpuMlp.Cli.csproj", "src/GpuMlp.Core/GpuMlp.Core.csproj", "kernels/GpuMlp.Kernels.csproj"])
            {
                var pack = DotnetCli.Run(host,
                    ["pack", Path.Combine(repo, project), "-c", "Release", "--artifacts-path", artifacts, "-o", packages, "--disable-build-servers", "-nologo"],
                    repo, PackTimeout);
                Assert.True(pack.ExitCode == 0, $"dotnet pack {project}: {DotnetCli.Describe(pack)}");
            }

            // The tool package declares the command; the library depends on the kernels package and
            // on Google.Protobuf, but not on the build-time protoc package.
            var tool = Nuspec(Path.Combine(packages, $"gpumlp.{version}.nupkg"), out var toolEntries);
            Assert.Contains(tool.Descendants().Where(e => e.Name.LocalName == "packageType"), e => (string?)e.Attribute("name") == "DotnetTool");
            Assert.Contains(toolEntries, e => e.EndsWith("/gpumlp.dll", StringComparison.Ordinal));
            var core = Nuspec(Path.Combine(packages, $"GpuMlp.Core.{version}.nupkg"), out var coreEntries);
            Assert.Contains("lib/net10.0/GpuMlp.Core.dll", coreEntries);
            var dependencies = core.Descendants().Where(e => e.Name.LocalName == "dependency")
                .ToDictionary(e => (string)e.Attribute("id")!, e => (string)e.Attribute("version")!);
            Assert.Equal(version, dependencies["GpuMlp.Kernels"]);
            Assert.True(dependencies.ContainsKey("Google.Protobuf"), "GpuMlp.Core does not depend on Google.Protobuf");
            Assert.False(dependencies.ContainsKey("Grpc.Tools"), "GpuMlp.Core depends on the build-time Grpc.Tools");
            Nuspec(Path.Combine(packages, $"GpuMlp.Kernels.{version}.nupkg"), out var kernelEntries);
            Assert.Contains("lib/net10.0/GpuMlp.Kernels.dll", kernelEntries);

            string config = Path.Combine(root, "nuget.config");
            File.WriteAllText(config, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<configuration><packageSources><clear /></packageSources></configuration>\n");
            var install = DotnetCli.Run(host,
                ["tool", "install", "--tool-path", tools, "--configfile", config, "--add-source", packages, "gpumlp", "--version", version],
                root, RunTimeout);
            Assert.True(install.ExitCode == 0, $"dotnet tool install: {DotnetCli.Describe(install)}");

            string gpumlp = Path.Combine(tools, OperatingSystem.IsWindows() ? "gpumlp.exe" : "gpumlp");
            var printed = DotnetCli.Run(gpumlp, ["--version"], root, RunTimeout);
            Assert.True(printed.ExitCode == 0, $"gpumlp --version: {DotnetCli.Describe(printed)}");
            Assert.Equal(version, printed.StandardOutput.Trim());

            string run = Path.Combine(root, "run");
            var train = DotnetCli.Run(gpumlp,
                ["train", "--epochs", "1", "--limit-train", "500", "--hidden", "16", "--device", TestDevice.RequestedName, "--data", RealMnist.RealMnistDir(), "--out", run],
                root, RunTimeout);
            Assert.True(train.ExitCode == 0, $"installed gpumlp train: {DotnetCli.Describe(train)}");
            Assert.True(File.Exists(Path.Combine(run, "model.safetensors")), "the installed tool wrote no model");
            Assert.True(File.Exists(Path.Combine(run, "curves.png")), "the installed tool drew no curves (SkiaSharp's native library?)");

            var export = DotnetCli.Run(gpumlp, ["export", "--model", run, "--out", Path.Combine(root, "model.onnx")], root, RunTimeout);
            Assert.True(export.ExitCode == 0, $"installed gpumlp export: {DotnetCli.Describe(export)}");
        }
        finally
        {
            try
            {
                Directory.Delete(root, recursive: true);
            }
            catch (IOException)
            {
                // Best effort: a leftover temporary folder must not hide the result.
            }
        }
    }

    /// <summary>The package's .nuspec, and the names of every file in the package.</summary>
    private static XDocument Nuspec(string nupkg, out string[] entries)
    {
        Assert.True(File.Exists(nupkg), $"{Path.GetFileName(nupkg)} was not written");
        using var zip = ZipFile.OpenRead(nupkg);
        entries = [.. zip.Entries.Select(e => e.FullName)];
        var nuspec = zip.Entries.Single(e => e.FullName.EndsWith(".nuspec", StringComparison.Ordinal) && !e.FullName.Contains('/', StringComparison.Ordinal));
        using var stream = nuspec.Open();
        return XDocument.Load(stream);
    }
}
