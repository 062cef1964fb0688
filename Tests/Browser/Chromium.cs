using Microsoft.Playwright;

namespace JobScheduler.Tests.Browser;

/// <summary>
/// Debian's Chromium driven by Playwright. Playwright's driver ships inside its NuGet package
/// and is copied beside the test assembly (<c>.playwright/</c>); the browser is the system's,
/// so nothing is downloaded. ./test.sh installs it where it is missing.
/// </summary>
public sealed class Chromium : IAsyncDisposable
{
    public const string ExecutablePath = "/usr/bin/chromium";

    /// <summary>How long a browser assertion waits; the daemon polls every 2 s and a loaded
    /// 2-core machine is slow.</summary>
    public const float ExpectTimeoutMs = 20_000;

    // Without the background-networking flags, Chromium keeps trying to reach its update and
    // sync services, which a closed network refuses many times a second.
    private static readonly string[] Arguments =
    [
        "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic",
    ];

    // Counts the htmx swaps per page handler (Table, Stats, Body), so a test can wait until a
    // poll has replaced the content instead of sleeping.
    private const string SwapCounterScript = """
        window.__swaps = {};
        document.addEventListener("htmx:afterSettle", function (event) {
            var path = (event.detail.pathInfo && event.detail.pathInfo.requestPath) || "";
            var match = /handler=(\w+)/.exec(path);
            var key = match ? match[1] : path;
            window.__swaps[key] = (window.__swaps[key] || 0) + 1;
        });
        """;

    private readonly IPlaywright _playwright;

    private Chromium(IPlaywright playwright, IBrowser browser)
    {
        _playwright = playwright;
        Browser = browser;
    }

    public IBrowser Browser { get; }

    /// <summary>The folder of the screenshots a test run saves, under the test output folder.
    /// </summary>
    public static string ScreenshotFolder =>
        Path.Combine(AppContext.BaseDirectory, "screenshots");

    public static async Task<Chromium> LaunchAsync()
    {
        if (!File.Exists(ExecutablePath))
        {
            Assert.Fail($"Chromium is missing at {ExecutablePath}. Install the Debian package " +
                        "'chromium' (./test.sh does so when it runs as root).");
        }

        Assertions.SetDefaultExpectTimeout(ExpectTimeoutMs);
        var playwright = await Playwright.CreateAsync();
        var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = ExecutablePath,
            Headless = true,
            Args = Arguments,
        });
        return new Chromium(playwright, browser);
    }

    /// <summary>Opens a page in a context of its own, so cookies and storage are not shared
    /// between tests.</summary>
    public async Task<IPage> OpenAsync(Uri baseAddress, bool javaScript = true,
        ColorScheme colorScheme = ColorScheme.Dark, int width = 1280, int height = 900)
    {
        var context = await Browser.NewContextAsync(new BrowserNewContextOptions
        {
            BaseURL = baseAddress.ToString(),
            JavaScriptEnabled = javaScript,
            ColorScheme = colorScheme,
            ViewportSize = new ViewportSize { Width = width, Height = height },
        });
        context.SetDefaultTimeout(ExpectTimeoutMs);
        await context.AddInitScriptAsync(SwapCounterScript);
        return await context.NewPageAsync();
    }

    /// <summary>Waits until htmx has swapped in one more response from the page handler
    /// <paramref name="handler"/>, such as the next poll of the table.</summary>
    public static async Task WaitForSwapAsync(IPage page, string handler)
    {
        var count = $"(window.__swaps[\"{handler}\"] || 0)";
        var before = await page.EvaluateAsync<int>($"() => {count}");
        await page.WaitForFunctionAsync($"() => {count} > {before}");
    }

    /// <summary>Saves a full-page screenshot under <see cref="ScreenshotFolder"/>.</summary>
    public static async Task<string> ScreenshotAsync(IPage page, string name)
    {
        Directory.CreateDirectory(ScreenshotFolder);
        var path = Path.Combine(ScreenshotFolder, name + ".png");
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = path, FullPage = true });
        return path;
    }

    public async ValueTask DisposeAsync()
    {
        await Browser.CloseAsync();
        _playwright.Dispose();
    }
}
