using GpuMlp.Cli;
using GpuMlp.Cli.Serve;

namespace GpuMlp.Tests.Serve;

/// <summary>How --model values name the models served, and --host's addresses.</summary>
public sealed class ServedModelTests
{
    [Theory]
    [InlineData("runs/mnist", "mnist", "runs/mnist")]
    [InlineData("runs/mnist/", "mnist", "runs/mnist/")]
    [InlineData("out/best.safetensors", "best", "out/best.safetensors")]
    [InlineData("digits=runs/20261207-120000", "digits", "runs/20261207-120000")]
    [InlineData("letters=a=b/model.safetensors", "letters", "a=b/model.safetensors")]
    public void SplitNamed_RunOrNameEqualsRun_NamesTheModel(string value, string name, string path)
    {
        Assert.Equal((name, path), ServedModel.SplitNamed(value));
    }

    [Theory]
    [InlineData("runs/my model")]
    [InlineData("/")]
    public void SplitNamed_FileNameNotAValidName_AsksForNameEqualsRun(string value)
    {
        var error = Assert.Throws<OptionException>(() => ServedModel.SplitNamed(value));
        Assert.Contains("--model NAME=", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("127.0.0.1", "127.0.0.1")]
    [InlineData("localhost", "127.0.0.1")]
    [InlineData("::1", "::1")]
    [InlineData("[::1]", "::1")]
    [InlineData("0.0.0.0", "0.0.0.0")]
    public void ParseHost_AddressOrLocalhost_IsThatAddress(string text, string address)
    {
        Assert.Equal(address, ServeSettings.ParseHost(text).ToString());
    }

    [Fact]
    public void Settings_Default_ListenOnLoopbackWithLimitsWellUnderKestrels()
    {
        var settings = new ServeSettings();
        Assert.True(System.Net.IPAddress.IsLoopback(settings.Host));
        Assert.True(settings.MaxBodyBytes < 30_000_000 / 4);
        Assert.Null(settings.ApiKey);
        settings.Validate();
    }
}
