using System.Drawing;
using OpenQA.Selenium;
using OpenQA.Selenium.Chrome;
using OpenQA.Selenium.Interactions;
using OpenQA.Selenium.Support.UI;

namespace GpuMlp.Tests.Serve;

/// <summary>The draw-a-digit page in a real browser: Debian's chromium driven by its chromedriver
/// (both by path, nothing downloaded; .ci/run installs them), drawing strokes with the mouse as a
/// person does and reading the answer from the page. A screenshot is saved with the test results.
/// Without chromium the test fails: it never skips.</summary>
[Collection(ServeCollection.Name)]
public sealed class ServeBrowserTests(ServeFixture fixture)
{
    public const string Chromium = "/usr/bin/chromium";
    public const string ChromeDriver = "/usr/bin/chromedriver";

    [Fact]
    public async Task Page_DigitsDrawnWithTheMouse_AreRecognisedAndShownAsTheModelSawThem()
    {
        Assert.True(File.Exists(Chromium) && File.Exists(ChromeDriver),
            $"the browser test needs Debian's chromium and chromium-driver ({Chromium}, {ChromeDriver}): apt-get install chromium chromium-driver (.ci/run does)");
        await using var server = await fixture.StartAsync(withCompass: false);
        var service = ChromeDriverService.CreateDefaultService(Path.GetDirectoryName(ChromeDriver)!, Path.GetFileName(ChromeDriver));
        service.HideCommandPromptWindow = true;
        service.SuppressInitialDiagnosticInformation = true;
        var options = new ChromeOptions { BinaryLocation = Chromium };
        options.AddArguments("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=780,660");
        using var driver = new ChromeDriver(service, options, TimeSpan.FromSeconds(60));
        driver.Navigate().GoToUrl(server.Address);
        var wait = new WebDriverWait(driver, TimeSpan.FromSeconds(30));
        var pad = driver.FindElement(By.Id("pad"));
        var answer = driver.FindElement(By.Id("answer"));
        var body = driver.FindElement(By.TagName("body"));
        // The answer to the whole drawing: no request in flight and no stroke being drawn.
        string Settled() { wait.Until(_ => body.GetAttribute("data-busy") == "0" && answer.GetAttribute("data-state") == "answered"); return answer.Text; }
        string folder = Path.Combine(AppContext.BaseDirectory, "TestResults");
        Directory.CreateDirectory(folder);
        void Screenshot(string name)
        {
            var screenshot = ((ITakesScreenshot)driver).GetScreenshot();
            screenshot.SaveAsFile(Path.Combine(folder, name));
            TestContext.Current.AddAttachment(name, screenshot.AsByteArray, "image/png");
        }

        // A "1": one stroke down the middle, slightly slanted, as a hand draws it.
        Draw(driver, pad, [.. Enumerable.Range(0, 13).Select(i => new Point(6 - i, -90 + (15 * i)))]);
        string drawnOne = Settled();
        Screenshot("serve-page-1.png");
        Assert.Equal("1", drawnOne);
        Assert.Equal(3, driver.FindElements(By.CssSelector("#top li")).Count);
        Assert.StartsWith("data:image/png;base64,", driver.FindElement(By.Id("input-image")).GetAttribute("src"), StringComparison.Ordinal);

        // A stray stroke, undone: the answer is the "1" again.
        Draw(driver, pad, [new Point(-100, 100), new Point(-60, 60), new Point(-20, 100)]);
        Settled();
        driver.FindElement(By.Id("undo")).Click();
        Assert.Equal("1", Settled());

        // Clear, then a "0": one closed loop.
        driver.FindElement(By.Id("clear")).Click();
        wait.Until(_ => answer.GetAttribute("data-state") == "empty");
        Draw(driver, pad, [.. Enumerable.Range(0, 33).Select(i =>
        {
            double angle = 2 * Math.PI * i / 32;
            return new Point((int)Math.Round(55 * Math.Sin(angle)), (int)Math.Round(-85 * Math.Cos(angle)));
        })]);
        string drawnZero = Settled();
        Assert.Equal("", driver.FindElement(By.Id("status")).Text);
        Screenshot("serve-page.png");
        Assert.Equal("0", drawnZero);
    }

    /// <summary>Presses the mouse at the first point (offsets from the canvas centre), moves through
    /// the rest and releases, as a person drawing one stroke.</summary>
    private static void Draw(IWebDriver driver, IWebElement pad, Point[] stroke)
    {
        var actions = new Actions(driver, TimeSpan.FromMilliseconds(10));
        actions.MoveToElement(pad, stroke[0].X, stroke[0].Y).ClickAndHold();
        for (int i = 1; i < stroke.Length; i++)
            actions.MoveByOffset(stroke[i].X - stroke[i - 1].X, stroke[i].Y - stroke[i - 1].Y);
        actions.Release().Perform();
    }
}
